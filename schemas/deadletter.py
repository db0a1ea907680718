"""The dead letter: what a processor could not accept, with the reason, kept verbatim.

Nothing is dropped silently. A message that cannot be decoded, fails validation,
or asks for something the workflow cannot do is written to
``gridflow.deadletter`` with the original bytes, where they came from, and why.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.envelope import Envelope, Model


class RejectionReason(StrEnum):
    NOT_UTF8 = "not_utf8"  # the bytes are not UTF-8 text
    NOT_JSON = "not_json"  # text, but not JSON
    INVALID = "invalid"  # JSON that breaks the schema (see errors)
    UNKNOWN_REFERENCE = "unknown_reference"  # a category or grid the catalogue lacks
    UNKNOWN_TYPE = "unknown_type"  # an envelope whose type this topic does not carry
    UNROUTABLE = "unroutable"  # no unit is responsible for it
    CONFLICT = "conflict"  # a command the case's state does not allow
    PROCESSING_ERROR = "processing_error"  # the processor failed on it, even alone


class Rejected(Exception):
    """Raised by a processor's logic for a message it will not act on.

    The runtime turns it into a :class:`MessageRejected` carrying the original
    bytes; the logic itself never sees bytes or topics.
    """

    def __init__(
        self, reason: RejectionReason, message: str, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.errors = errors or []


class FieldError(Model):
    loc: str = Field(description="Dotted path of the offending field, '' for the whole.")
    msg: str
    type: str


class Original(Model):
    """The rejected message exactly as it arrived."""

    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    text: str | None = Field(default=None, description="The value, when it is UTF-8 text.")
    base64: str | None = Field(default=None, description="The value, when it is not.")


class RejectedPayload(Model):
    processor: str
    reason: RejectionReason
    message: str = Field(description="One sentence a person can act on.")
    errors: list[FieldError] = Field(default_factory=list)
    original: Original


class MessageRejected(Envelope):
    type: Literal["message.rejected"] = "message.rejected"
    payload: RejectedPayload

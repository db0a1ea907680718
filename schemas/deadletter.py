"""The dead letter: what a processor could not accept, with the reason, kept verbatim.

Nothing is dropped silently. A message that cannot be decoded, fails validation,
asks for something the workflow cannot do, or whose outputs cannot be published is
written to ``gridflow.deadletter`` with the original record, where it came from,
and why.

The original is verbatim: its value, its key and its headers each as text when
they are UTF-8 without NUL, else as base64, and a record with no value at all (a
tombstone) is told from one with an empty value. A letter too large to publish
whole carries a prefix of the value and a :class:`Cut` saying how large the value
was, its SHA-256 digest and where the full bytes are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from schemas.edges import CaseId
from schemas.envelope import Envelope, Model

if TYPE_CHECKING:
    from schemas.topics import Emit


class RejectionReason(StrEnum):
    NOT_UTF8 = "not_utf8"  # the bytes are not UTF-8 text
    NOT_JSON = "not_json"  # text, but not JSON
    TOO_LARGE = "too_large"  # more bytes than the reader accepts: refused before parsing
    INVALID = "invalid"  # JSON that breaks the schema (see errors)
    UNKNOWN_REFERENCE = "unknown_reference"  # a category or grid the catalogue lacks
    UNKNOWN_TYPE = "unknown_type"  # an envelope whose type this topic does not carry
    UNROUTABLE = "unroutable"  # no unit is responsible for it
    CONFLICT = "conflict"  # a command the case's state does not allow
    PERMISSION = "permission"  # a command its sender has no right to send (schemas.access)
    PROCESSING_ERROR = "processing_error"  # the processor failed on it, even alone
    UNPUBLISHABLE = "unpublishable"  # its outputs cannot be serialised, keyed or sent


class Rejected(Exception):
    """Raised by a processor's logic for a message it will not act on.

    The runtime turns it into a :class:`MessageRejected` carrying the original
    bytes; the logic itself never sees bytes or topics.
    """

    def __init__(
        self,
        reason: RejectionReason,
        message: str,
        errors: list[FieldError] | None = None,
        replies: Sequence[Emit] = (),
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.errors = errors or []
        self.replies = list(replies)
        """What the sender is told of the refusal (a command's refusal on its view
        topic), published beside the dead letter."""

    def answered(self, replies: Sequence[Emit]) -> Rejected:
        """This refusal, with ``replies`` to publish beside its dead letter."""
        return Rejected(self.reason, self.message, self.errors, replies)


class FieldError(Model):
    loc: str = Field(description="Dotted path of the offending field, '' for the whole.")
    msg: str
    type: str


class Header(Model):
    """One record header: its value as text when it is UTF-8 without NUL, else base64."""

    key: str
    text: str | None = None
    base64: str | None = None


class BodyStore(StrEnum):
    """Where the full bytes of a cut-down original are kept."""

    DATABASE = "database"
    """The table ``dead_letter_bodies``, under the digest (a processor with a database)."""
    SOURCE_TOPIC = "source_topic"
    """Only the source topic, at the original's partition and offset, for as long as
    the topic's retention keeps it (a processor without a database: intake)."""


class Cut(Model):
    """Why an original holds only a prefix of its value: the letter was too large."""

    size: int = Field(description="Bytes of the original value.")
    sha256: str = Field(description="SHA-256 of the original value, hex.")
    stored: BodyStore = Field(description="Where the full bytes (key, value, headers) are.")
    omitted: list[str] = Field(
        default_factory=list,
        description="Parts of the letter left out besides the value's tail: 'key', "
        "'headers', 'errors'.",
    )


class Original(Model):
    """The rejected record exactly as it arrived.

    Text and base64 are both absent only for a record with no value (``value_null``);
    an empty value is the text ``""``.
    """

    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = Field(default=None, description="The key, when it is UTF-8 text.")
    key_base64: str | None = Field(default=None, description="The key, when it is not.")
    headers: list[Header] = Field(default_factory=list)
    value_null: bool = Field(default=False, description="The record has no value at all.")
    text: str | None = Field(
        default=None, description="The value, when it is UTF-8 text without NUL."
    )
    base64: str | None = Field(default=None, description="The value, when it is not.")
    cut: Cut | None = Field(
        default=None,
        description="Present when text or base64 holds only a prefix of the value.",
    )


class RejectedPayload(Model):
    processor: str
    reason: RejectionReason
    message: str = Field(description="One sentence a person can act on.")
    errors: list[FieldError] = Field(default_factory=list)
    original: Original


class MessageRejected(Envelope):
    type: Literal["message.rejected"] = "message.rejected"
    case_id: CaseId | None = Field(  # a record that did not decode names no case
        default=None, description="The case the refused message named, when it decoded that far."
    )
    payload: RejectedPayload

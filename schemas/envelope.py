"""The envelope every gridflow message travels in, and how stable ids are derived.

Every message on every gridflow topic (except the raw reports channels send, which
arrive in the channel's own shape) is an :class:`Envelope` subclass: the envelope
fields plus a typed ``payload``. Ids are derived, never random: the same input
always yields the same event id, so a redelivered message is recognised downstream
and processed once.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from schemas.edges import CaseId, EventId, MessageType, Producer, Seq, Time

SCHEMA_VERSION = 1
_NAMESPACE = uuid.UUID("6f1d9c2e-3a4b-5c6d-8e7f-90a1b2c3d4e5")


_NAMESPACE_BYTES = _NAMESPACE.bytes


def stable_id(*parts: object) -> str:
    """A deterministic UUID (v5) from the given parts: the same parts, the same id.

    ``uuid.uuid5(_NAMESPACE, name)`` spelled out (RFC 4122 section 4.3: SHA-1 of the
    namespace and the name, version and variant bits set): every message id passes
    here, and building a ``uuid.UUID`` to print it cost more than the hash."""
    name = "\x1f".join(str(p) for p in parts).encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


class Model(BaseModel):
    """Base for every contract model: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Model):
    """Fields common to every gridflow event and command.

    ``case_id`` is required: every case message and command names its case. A
    message that truly concerns no case (a clock tick, the dead letter of a record
    that did not decode) re-declares it as ``CaseId | None = None``.
    """

    TYPE: ClassVar[str] = ""

    event_id: EventId = Field(description="Stable id: the same cause yields the same id.")
    type: MessageType = Field(description="Message type, e.g. 'case.assigned'.")
    schema_version: Seq = SCHEMA_VERSION
    case_id: CaseId = Field(description="The case this concerns.")
    occurred_at: Time
    producer: Producer = Field(description="The processor or system that wrote it.")
    correlation_id: EventId = Field(description="Shared by every message of one case's story.")
    causation_id: EventId | None = Field(
        default=None, description="event_id of the message that caused this one."
    )
    payload: Any

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Read ``TYPE`` off the subclass's ``type: Literal[...]`` so it is written once."""
        super().__pydantic_init_subclass__(**kwargs)
        args = getattr(cls.model_fields["type"].annotation, "__args__", ())
        if len(args) == 1 and isinstance(args[0], str):
            cls.TYPE = args[0]

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The schema requires ``type``, a constant (its ``Literal``).

        In Python ``type`` has a default, so that a model is built without naming
        it; on the wire it is required: :func:`schemas.codec.decode` refuses a
        message without it (``unknown_type``), and a message's type is what tells
        it from every other one, so that no message fits two schemas.
        """
        schema = super().__get_pydantic_json_schema__(core_schema, handler)
        target = handler.resolve_ref_schema(schema)
        required = target.setdefault("required", [])
        if "type" in target.get("properties", {}) and "type" not in required:
            required.append("type")
        return schema

    @classmethod
    def derive(
        cls,
        payload: Any,
        *,
        producer: str,
        now: datetime,
        case_id: str | None,
        cause: Envelope | None = None,
        key: tuple[object, ...] = (),
        correlation_id: str | None = None,
    ) -> Self:
        """Build a message whose id is derived from its cause and ``key``.

        Re-running the same logic on the same input gives the same event id, which
        is what makes redelivery harmless.
        """
        cause_id = cause.event_id if cause is not None else None
        event_id = stable_id(cls.TYPE, cause_id or "", case_id or "", *key)
        corr = correlation_id or (cause.correlation_id if cause else None) or case_id or event_id
        return cls(
            event_id=event_id,
            type=cls.TYPE,
            case_id=case_id,
            occurred_at=now,
            producer=producer,
            correlation_id=corr,
            causation_id=cause_id,
            payload=payload,
        )

"""Bytes to messages and back, and the dead letter for what does not decode."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from schemas.deadletter import (
    FieldError,
    MessageRejected,
    Original,
    RejectedPayload,
    RejectionReason,
)
from schemas.envelope import Envelope, Model, stable_id
from schemas.topics import Record, Topic


class DecodeError(ValueError):
    """A message that cannot become a contract model, with the reason why."""

    def __init__(
        self, reason: RejectionReason, message: str, errors: Iterable[FieldError] = ()
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.errors = list(errors)


def encode(message: Model) -> bytes:
    return message.model_dump_json().encode()


def field_errors(exc: ValidationError, skip: int = 0) -> list[FieldError]:
    """pydantic's errors as field-level reasons, without echoing the input values.

    ``skip`` drops that many leading path elements (a union's tag, which holds dots).
    """
    return [
        FieldError(loc=".".join(str(p) for p in e["loc"][skip:]), msg=e["msg"], type=e["type"])
        for e in exc.errors(include_input=False, include_url=False)
    ]


def parse_json(value: bytes | None) -> Any:
    if value is None:
        raise DecodeError(RejectionReason.NOT_JSON, "the record has no value (a tombstone)")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(RejectionReason.NOT_UTF8, f"value is not UTF-8 text: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(RejectionReason.NOT_JSON, f"value is not JSON: {exc}") from exc


@cache
def _adapter(carries: tuple[type[Model], ...]) -> TypeAdapter[Any]:
    if len(carries) == 1:
        return TypeAdapter(carries[0])
    union = Union[carries]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


def decode(topic: Topic, value: bytes | None) -> Any:
    """Decode ``value`` as one of the models ``topic`` carries, or raise DecodeError."""
    data = parse_json(value)
    if len(topic.carries) > 1 or issubclass(topic.carries[0], Envelope):
        known = {m.TYPE for m in topic.carries if issubclass(m, Envelope)}
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in known:
            raise DecodeError(
                RejectionReason.UNKNOWN_TYPE,
                f"topic {topic.name} carries {sorted(known)}, not type {repr(kind)[:80]}",
            )
    try:
        return _adapter(topic.carries).validate_python(data)
    except ValidationError as exc:
        # a union's errors start with its tag ('case.accepted'): drop it from each loc
        errors = field_errors(exc, skip=1 if len(topic.carries) > 1 else 0)
        raise DecodeError(
            RejectionReason.INVALID,
            f"{len(errors)} field(s) invalid: " + "; ".join(f"{e.loc}: {e.msg}" for e in errors),
            errors,
        ) from exc


def original(record: Record) -> Original:
    """The record verbatim: text when it is UTF-8, base64 otherwise; neither for no value."""
    text: str | None = None
    b64: str | None = None
    if record.value is not None:
        try:
            text = record.value.decode("utf-8")
        except UnicodeDecodeError:
            b64 = base64.b64encode(record.value).decode("ascii")
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    return Original(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        text=text,
        base64=b64,
    )


def reject(
    record: Record,
    *,
    processor: str,
    reason: RejectionReason,
    message: str,
    now: datetime,
    errors: Iterable[FieldError] = (),
    case_id: str | None = None,
) -> MessageRejected:
    """The dead letter for ``record``; its id is derived from where the record sits."""
    event_id = stable_id(
        MessageRejected.TYPE, processor, record.topic, record.partition, record.offset
    )
    return MessageRejected(
        event_id=event_id,
        type=MessageRejected.TYPE,
        case_id=case_id,
        occurred_at=now,
        producer=processor,
        correlation_id=case_id or event_id,
        payload=RejectedPayload(
            processor=processor,
            reason=reason,
            message=message,
            errors=list(errors),
            original=original(record),
        ),
    )

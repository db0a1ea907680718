"""Bytes to messages and back, and the dead letter for what does not decode."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from schemas.deadletter import (
    BodyStore,
    Cut,
    FieldError,
    Header,
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


class EncodeError(ValueError):
    """A message or key that cannot become bytes (e.g. text holding a lone surrogate)."""


def encode(message: Model) -> bytes:
    """The message as UTF-8 JSON, or EncodeError: text with a lone surrogate is not
    Unicode and has no UTF-8 form (pydantic raises its own error, or UnicodeError)."""
    try:
        return message.model_dump_json().encode()
    except (ValueError, TypeError) as exc:  # PydanticSerializationError is a ValueError
        raise EncodeError(f"{type(message).__name__} cannot be serialised") from exc


def encode_key(key: str | None) -> bytes | None:
    """A record key as UTF-8, or EncodeError."""
    if key is None:
        return None
    try:
        return key.encode()
    except UnicodeError as exc:
        raise EncodeError("the key is not encodable as UTF-8") from exc


def field_errors(exc: ValidationError, skip: int = 0) -> list[FieldError]:
    """pydantic's errors as field-level reasons, without echoing the input values.

    ``skip`` drops that many leading path elements (a union's tag, which holds dots).
    """
    return [
        FieldError(loc=".".join(str(p) for p in e["loc"][skip:]), msg=e["msg"], type=e["type"])
        for e in exc.errors(include_input=False, include_url=False)
    ]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(value: bytes | None) -> Any:
    """The JSON value of ``value``, or DecodeError.

    Python's parser is laxer than JSON: it reads ``NaN`` and ``Infinity``, which are
    refused here. A number of more than 4300 digits or nesting deeper than the
    interpreter's recursion limit is refused too, rather than raising past the caller.
    """
    if value is None:
        raise DecodeError(RejectionReason.NOT_JSON, "the record has no value (a tombstone)")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(RejectionReason.NOT_UTF8, f"value is not UTF-8 text: {exc}") from exc
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise DecodeError(RejectionReason.NOT_JSON, f"value is not JSON: {exc}") from exc


@cache
def _adapter(carries: tuple[type[Model], ...]) -> TypeAdapter[Any]:
    if len(carries) == 1:
        return TypeAdapter(carries[0])
    union = Union[carries]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


def _formats(carries: tuple[type[Model], ...]) -> dict[str, type[Model]]:
    """A report topic's models by their ``FORMAT`` (:mod:`schemas.formats`); else empty."""
    named = {getattr(m, "FORMAT", None): m for m in carries}
    return {} if None in named or len(named) < 2 else named  # type: ignore[return-value]


def decode(topic: Topic, value: bytes | None, limit: int | None = None) -> Any:
    """Decode ``value`` as one of the models ``topic`` carries, or raise DecodeError.

    A value of more than ``limit`` bytes is refused (``too_large``) before it is parsed.
    A report topic carries several formats: the ``format`` field picks the model, and a
    report without one is native (:mod:`schemas.formats`).
    """
    if limit is not None and value is not None and len(value) > limit:
        raise DecodeError(
            RejectionReason.TOO_LARGE,
            f"the value is {len(value)} bytes, over the limit of {limit} bytes on "
            f"{topic.name}: refused unread",
        )
    data = parse_json(value)
    if formats := _formats(topic.carries):
        kind = data.get("format", "native") if isinstance(data, dict) else "native"
        model = formats.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise DecodeError(
                RejectionReason.UNKNOWN_TYPE,
                f"topic {topic.name} carries the formats {sorted(formats)}, "
                f"not format {repr(kind)[:80]}",
            )
        return _validate((model,), data)
    if len(topic.carries) > 1 or issubclass(topic.carries[0], Envelope):
        known = {m.TYPE for m in topic.carries if issubclass(m, Envelope)}
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in known:
            raise DecodeError(
                RejectionReason.UNKNOWN_TYPE,
                f"topic {topic.name} carries {sorted(known)}, not type {repr(kind)[:80]}",
            )
    return _validate(topic.carries, data)


def _validate(carries: tuple[type[Model], ...], data: Any) -> Any:
    try:
        return _adapter(carries).validate_python(data)
    except ValidationError as exc:
        # a union's errors start with its tag ('case.accepted'): drop it from each loc
        errors = field_errors(exc, skip=1 if len(carries) > 1 else 0)
        raise DecodeError(
            RejectionReason.INVALID,
            f"{len(errors)} field(s) invalid: " + "; ".join(f"{e.loc}: {e.msg}" for e in errors),
            errors,
        ) from exc


def _text_or_base64(raw: bytes) -> tuple[str | None, str | None]:
    """``(text, None)`` for UTF-8 without NUL (PostgreSQL's text and JSONB refuse NUL),
    else ``(None, base64)``."""
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), None
        except UnicodeDecodeError:
            pass
    return None, base64.b64encode(raw).decode("ascii")


def original(record: Record) -> Original:
    """The record verbatim: value, key and headers each as text when UTF-8 (without
    NUL), base64 otherwise; no value at all is ``value_null``, not an empty text."""
    text: str | None = None
    b64: str | None = None
    if record.value is not None:
        text, b64 = _text_or_base64(record.value)
    key: str | None = None
    key_b64: str | None = None
    if record.key is not None:
        key, key_b64 = _text_or_base64(record.key)
    headers = []
    for name, value in record.headers:
        h_text, h_b64 = _text_or_base64(value)
        headers.append(Header(key=_printable(name), text=h_text, base64=h_b64))
    return Original(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        key_base64=key_b64,
        headers=headers,
        value_null=record.value is None,
        text=text,
        base64=b64,
    )


_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def _printable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as escapes, so a letter's own
    text can always be encoded and stored (a field error's loc can quote a key of
    the refused input)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def digest(value: bytes | None) -> str:
    """The SHA-256 of a record's value, hex (of no bytes for a tombstone)."""
    return hashlib.sha256(value or b"").hexdigest()


def cut(
    letter: MessageRejected,
    record: Record,
    *,
    prefix: int,
    stored: BodyStore,
    omit: Iterable[str] = (),
) -> MessageRejected:
    """``letter`` with only the first ``prefix`` bytes of the original value (at a
    character boundary for text), and a :class:`Cut` that says what was left out.

    ``omit`` leaves out more: ``key`` and ``headers`` of the original, ``errors``.
    """
    omitted = sorted(set(omit))
    value = record.value or b""
    head = value[: max(0, prefix)]
    o = letter.payload.original
    text: str | None = None
    b64: str | None = None
    if o.text is not None:  # valid UTF-8: only a character cut in two is dropped
        text = head.decode("utf-8", "ignore")
    elif o.base64 is not None:
        b64 = base64.b64encode(head).decode("ascii")
    keep_key = "key" not in omitted
    shortened = o.model_copy(
        update={
            "key": o.key if keep_key else None,
            "key_base64": o.key_base64 if keep_key else None,
            "headers": o.headers if "headers" not in omitted else [],
            "text": text,
            "base64": b64,
            "cut": Cut(
                size=len(value), sha256=digest(record.value), stored=stored, omitted=omitted
            ),
        }
    )
    errors = letter.payload.errors if "errors" not in omitted else []
    payload = letter.payload.model_copy(update={"original": shortened, "errors": errors})
    return letter.model_copy(update={"payload": payload})


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
            message=_printable(message),
            errors=[
                e.model_copy(update={"loc": _printable(e.loc), "msg": _printable(e.msg)})
                for e in errors
            ],
            original=original(record),
        ),
    )

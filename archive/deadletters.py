"""The command room's view of dead letters: personal data masked unless the role reveals it.

A dead letter keeps the refused record verbatim (:mod:`schemas.deadletter`), because
someone must be able to see why it was refused and replay it. A refused raw report
therefore still holds the resident's name, phone and address, and its free text may
quote them. Operators need the reason, where the record came from and its shape, not
the person: they see the original with every personal field masked. A privacy
officer, whose role allows it, sees it as it arrived.

Masking keeps the structure. A JSON original, as text or base64, is shown with
its keys and non-personal values, and ``***`` for every personal value, at any depth:
a case inside ``case.dispatched``, a report inside a dead letter's original. A key
that no gridflow message has (a channel's stray field) is masked too, because
nothing says what it holds. An original that is not JSON (XML, GBK text, a cut
prefix whose full bytes are not at hand) is shown as its size and SHA-256 alone.

Who may see what is data (:data:`REVEALS`), and the role comes from
``GRIDFLOW_OPERATOR_ROLE``. The setting chooses the view; it does not grant access.
The boundary is the database's: only the archive and the roles that may read
personal data are granted ``archive_dead_letters`` and ``dead_letter_bodies``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, select

from archive.ports import DeadLetterRow
from archive.sql import archive_dead_letters
from schemas.deadletter import BodyStore, Original
from schemas.topics import CATALOGUE, TEMPLATES
from storage.db import dead_letter_bodies

MASK = "***"
"""What a masked value is shown as."""

PERSONAL_FIELDS = frozenset(
    {
        "reporter",  # RawReport / Case: name, phone (anonymous, a flag, stays)
        "name",
        "phone",
        "location",  # address, and the coordinates, which can be a home
        "address",
        "lat",
        "lon",
        "title",  # free text: residents quote their name, phone, address
        "description",
        "attachments",  # photos of a home or a face, URLs that may carry a name
        "note",  # a unit's or verifier's free text about the case
        "comment",  # a resident's rating comment
    }
)
"""Fields that hold personal data or free text that may quote it, wherever they appear."""


class Role(StrEnum):
    """Who is looking at the dead letters."""

    OPERATOR = "operator"  # the command room: reasons, sources, shapes
    PRIVACY_OFFICER = "privacy_officer"  # may see a resident's data, to correct or replay


REVEALS: Mapping[Role, bool] = {Role.OPERATOR: False, Role.PRIVACY_OFFICER: True}
"""Whether a role sees personal data in a dead letter's original."""


class UnknownRole(ValueError):
    """A role that :data:`REVEALS` does not list: refused, never taken as the weakest."""


def role_named(name: str) -> Role:
    """The role called ``name``, or :class:`UnknownRole`."""
    try:
        return Role(name.strip())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise UnknownRole(f"unknown operator role {name!r}; known roles: {known}") from None


class ViewerSettings(BaseSettings):
    """The viewer's settings, beside services.settings.Settings and read the same way."""

    model_config = SettingsConfigDict(env_prefix="GRIDFLOW_", extra="ignore")

    operator_role: str = Field(
        default=Role.OPERATOR.value,
        description="Role of whoever runs `gridflow deadletters`: operator (personal data "
        "masked) or privacy_officer (shown). It picks the view; table grants decide access.",
    )

    def role(self) -> Role:
        return role_named(self.operator_role)


def _known_fields() -> frozenset[str]:
    """Every property name of every message gridflow carries, from their JSON Schemas."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(props)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for topic in (*CATALOGUE, *TEMPLATES):
        for model in topic.carries:
            walk(model.model_json_schema())
    return frozenset(names)


KNOWN_FIELDS = _known_fields()
"""Fields whose meaning the contract fixes; values under any other key are masked."""
SHOWN_FIELDS = KNOWN_FIELDS - PERSONAL_FIELDS

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}$")
"""A record key or header value shown as it is: an id with a letter in it. Digits alone
could be a phone number."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_DEPTH = 4
"""Dead letters inside dead letters, unwrapped at most this deep."""


@dataclass(frozen=True)
class ShownOriginal:
    """A dead letter's original as one role may see it."""

    topic: str
    partition: int | None
    offset: int | None
    key: str | None
    headers: tuple[tuple[str, str], ...]
    value: str
    masked: bool
    """Whether this view hides personal data (True for every masking role, even when
    the original held none)."""


def sealed(data: bytes, size: Any = None, sha256: Any = None) -> str:
    """Bytes shown without their content: size and digest, enough to find and compare.

    ``size`` and ``sha256`` are those of the whole value when ``data`` is a prefix.
    """
    size = len(data) if not isinstance(size, int) else size
    if not (isinstance(sha256, str) and _SHA256.match(sha256)):
        sha256 = hashlib.sha256(data).hexdigest()
    return f"<{size} bytes, sha256 {sha256}>"


def mask_json(document: Any, depth: int = 0) -> Any:
    """A decoded JSON document with every personal value masked and its structure kept.

    A bare value (a string, a number) is masked: no key says what it is.
    """
    return _mask(document, personal=not isinstance(document, dict | list), depth=depth)


def _mask(value: Any, *, personal: bool, depth: int) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for n, (key, item) in enumerate(value.items()):
            shown = key if _IDENT.match(key) else f"<key {n}>"
            hide = personal or key not in SHOWN_FIELDS
            if key == "original" and isinstance(item, dict) and not hide:
                out[shown] = _mask_original_fields(item, depth + 1)
            else:
                out[shown] = _mask(item, personal=hide, depth=depth)
        return out
    if isinstance(value, list):
        return [_mask(item, personal=personal, depth=depth) for item in value]
    if value is None or isinstance(value, bool):
        return value  # absence and flags say nothing about a person
    return MASK if personal else value


def _mask_original_fields(original: dict[str, Any], depth: int) -> dict[str, Any]:
    """A dead letter inside a dead letter: its record is masked as an original is."""
    out = _mask(
        {k: v for k, v in original.items() if k not in _RECORD_FIELDS}, personal=False, depth=depth
    )
    for name in ("key", "key_base64"):
        if isinstance(original.get(name), str):
            out[name] = _shown_id(_bytes_of(original[name], name.endswith("base64")))
    if isinstance(original.get("headers"), list):
        out["headers"] = [
            {**_mask(h, personal=False, depth=depth), **_header(h)} if isinstance(h, dict) else MASK
            for h in original["headers"]
        ]
    cut = original.get("cut")
    for name in ("text", "base64"):
        if isinstance(original.get(name), str):
            data = _bytes_of(original[name], name == "base64")
            if data is None:
                out[name] = MASK
            elif isinstance(cut, dict):  # a prefix: no parser reads it
                out[name] = sealed(data, cut.get("size"), cut.get("sha256"))
            else:
                out[name] = _masked_value(data, True, depth)
    return out


_RECORD_FIELDS = ("key", "key_base64", "headers", "text", "base64")


def _header(header: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("text", "base64"):
        if isinstance(header.get(name), str):
            out[name] = _shown_id(_bytes_of(header[name], name == "base64"))
    return out


def _bytes_of(text: str, is_base64: bool) -> bytes | None:
    if not is_base64:
        return text.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _shown_id(data: bytes | None) -> str:
    """A key or header value: shown when it is an id, else sealed."""
    if data is None:
        return MASK
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return sealed(data)
    return text if _ID.match(text) else sealed(data)


def _masked_value(data: bytes, complete: bool, depth: int) -> str:
    """A record's value for a masking role: masked JSON, or sealed."""
    if not data:
        return ""
    if complete and depth <= _MAX_DEPTH:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
        else:
            masked = mask_json(document, depth)
            return json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
    return sealed(data)


def mask_original(
    original: Original, *, reveal: bool = False, body: bytes | None = None
) -> ShownOriginal:
    """``original`` as a role sees it: as it arrived when ``reveal``, else masked.

    ``body`` is the full value of a cut-down original (``dead_letter_bodies``), when
    at hand: the view is then made from it. Without it, a cut original is a prefix
    that no JSON parser can read, so a masking role sees its size and digest.
    """
    if original.value_null:
        value = "(no value)"
    elif body is not None:
        value = _revealed(body) if reveal else _masked_value(body, True, 0)
    else:
        data = _stored_bytes(original)
        cut = original.cut
        if reveal:
            value = _revealed(data) if data is not None else MASK
            if cut is not None:
                value += f" ... (cut: {cut.size} bytes in all, sha256 {cut.sha256})"
        elif data is None:
            value = MASK
        elif cut is not None:
            where = "dead_letter_bodies" if cut.stored is BodyStore.DATABASE else "the source topic"
            value = sealed(data, cut.size, cut.sha256) + f", cut; the full bytes in {where}"
        else:
            value = _masked_value(data, True, 0)
    if original.key is not None:
        key_bytes = _bytes_of(original.key, False)
    elif original.key_base64 is not None:
        key_bytes = _bytes_of(original.key_base64, True)
    else:
        key_bytes = None
    key = None if key_bytes is None else _revealed(key_bytes) if reveal else _shown_id(key_bytes)
    headers = tuple(
        (
            h.key if reveal or _IDENT.match(h.key) or _ID.match(h.key) else MASK,
            _header_value(h.text, h.base64, reveal),
        )
        for h in original.headers
    )
    return ShownOriginal(
        topic=original.topic,
        partition=original.partition,
        offset=original.offset,
        key=key,
        headers=headers,
        value=value,
        masked=not reveal,
    )


def _header_value(text: str | None, b64: str | None, reveal: bool) -> str:
    data = _bytes_of(text, False) if text is not None else _bytes_of(b64 or "", True)
    if data is None:
        return MASK
    return _revealed(data) if reveal else _shown_id(data)


def _stored_bytes(original: Original) -> bytes | None:
    if original.text is not None:
        return _bytes_of(original.text, False)
    if original.base64 is not None:
        return _bytes_of(original.base64, True)
    return b""


def _revealed(data: bytes) -> str:
    """Bytes as they are: text when they are UTF-8, else base64."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def mask_loc(loc: str) -> str:
    """A field error's path, whose segments may quote a key of the refused input."""
    return ".".join(
        s if s.isdigit() or s in KNOWN_FIELDS or _IDENT.match(s) else MASK for s in loc.split(".")
    )


@dataclass(frozen=True)
class DeadLetterView:
    """One dead letter as the command room lists it."""

    event_id: str
    occurred_at: datetime
    archived_at: datetime
    processor: str
    reason: str
    message: str
    errors: tuple[str, ...]
    """Each field error as ``loc: msg`` (the messages never quote values)."""
    original: ShownOriginal


def original_of(row: DeadLetterRow) -> Original:
    """The original a row of ``archive_dead_letters`` was flattened from."""
    return Original.model_validate(
        {
            "topic": row.original_topic,
            "partition": row.original_partition,
            "offset": row.original_offset,
            "key": row.original_key,
            "key_base64": row.original_key_base64,
            "headers": row.original_headers or [],
            "value_null": bool(row.original_value_null),
            "text": row.original_text,
            "base64": row.original_base64,
            "cut": row.original_cut,
        }
    )


def view_of(row: DeadLetterRow, role: Role, body: bytes | None = None) -> DeadLetterView:
    """A dead letter's row as ``role`` sees it (pure: no database)."""
    reveal = REVEALS[role]
    errors = tuple(
        f"{e.get('loc', '') if reveal else mask_loc(str(e.get('loc', '')))}: {e.get('msg', '')}"
        for e in row.errors
    )
    return DeadLetterView(
        event_id=row.event_id,
        occurred_at=row.occurred_at,
        archived_at=row.archived_at,
        processor=row.processor,
        reason=row.reason,
        message=row.message,
        errors=errors,
        original=mask_original(original_of(row), reveal=reveal, body=body),
    )


_DEAD_COLUMNS = tuple(archive_dead_letters.c[n] for n in DeadLetterRow.__dataclass_fields__)


def recent_dead_letters(engine: Engine, *, role: Role, limit: int = 20) -> list[DeadLetterView]:
    """The ``limit`` most recently archived dead letters, newest first, as ``role`` sees them.

    A cut-down letter whose full bytes the archive kept is shown from them.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    d = archive_dead_letters.c
    stmt = select(*_DEAD_COLUMNS).order_by(d.archived_at.desc(), d.event_id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = [_row(dict(r._mapping)) for r in conn.execute(stmt)]
        digests = sorted(
            {
                str(r.original_cut["sha256"])
                for r in rows
                if r.original_cut and r.original_cut.get("stored") == BodyStore.DATABASE.value
            }
        )
        bodies: dict[str, bytes | None] = {}
        if digests:
            b = dead_letter_bodies.c
            found = conn.execute(select(b.digest, b.value).where(b.digest.in_(digests)))
            bodies = {digest: value for digest, value in found.tuples()}
    return [view_of(r, role, _body(r, bodies)) for r in rows]


def _row(mapping: dict[str, Any]) -> DeadLetterRow:
    mapping["original_value_null"] = bool(mapping["original_value_null"])  # NULL before 0002
    mapping["original_headers"] = mapping["original_headers"] or []
    return DeadLetterRow(**mapping)


def _body(row: DeadLetterRow, bodies: Mapping[str, bytes | None]) -> bytes | None:
    if not row.original_cut:
        return None
    return bodies.get(str(row.original_cut.get("sha256")))


def rows_of(views: Sequence[DeadLetterView]) -> list[tuple[str, ...]]:
    """The views as table rows: archived, processor, reason, topic, offset, message, original."""
    out = []
    for v in views:
        o = v.original
        where = ":".join("-" if n is None else str(n) for n in (o.partition, o.offset))
        message = v.message + "".join(f"\n  {e}" for e in v.errors)
        out.append(
            (
                f"{v.archived_at:%Y-%m-%d %H:%M:%S}",
                v.processor,
                v.reason,
                o.topic,
                where,
                message,
                o.value if o.key is None else f"key {o.key}\n{o.value}",
            )
        )
    return out

"""The contract's edges: every text, id, number and time a wire model holds, bounded once.

Each field of a message model takes one of the types below instead of a bare
``str``, ``int``, ``bool`` or ``datetime``, so a limit is written in one place and
every processor, every store and the generated JSON Schemas agree on it.

- **Text** refuses NUL (U+0000: PostgreSQL's JSONB cannot hold it) and lone
  surrogates (U+D800-U+DFFF: not Unicode, so the message could never be encoded
  again), and has a length bound. Ids and codes also refuse every other control
  character, and have a pattern.
- **Ids** fit the narrowest column that stores them: ``String(64)`` for event,
  case, correlation and causation ids (``inbox``, ``archive_events``,
  ``router_cases``, ``escalator_deadlines``), ``String(160)`` for unit ids, which
  also name a Kafka topic (``gridflow.assignments.<unit_id>``).
- **Times** are aware, ISO 8601 strings on the wire (a number is not read as a
  Unix time), and within :data:`EARLIEST` .. :data:`LATEST`, so converting one to
  another timezone or adding working days to it never overflows.
- **Numbers and flags** are strict: ``"5"`` is not a number, ``"yes"`` or ``1`` is
  not true, and an integer fits PostgreSQL's ``integer``.

Do not narrow these types with ``Field(ge=..., max_length=...)`` at a field: pydantic
lets the type's own bound win, silently. Define a narrower type here instead.

The raw report (:class:`schemas.reports.RawReport`) is what channels send: its
free text and ids may hold control characters, which intake removes or refuses
with its own reason; it still refuses lone surrogates and over-long text here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

# --- the numbers, each written once ---------------------------------------------------

ID_LENGTH = 64
"""Event, case, correlation, causation and notification ids, producers: the
``String(64)`` columns of the inbox, the archive, the router and the escalator."""
UNIT_ID_LENGTH = 151
"""A unit id names its topic ``gridflow.assignments.<unit_id>`` (Kafka allows 249
characters) and fits the ``String(160)`` unit columns."""
CODE_LENGTH = 64
"""Category codes, jurisdiction (grid) ids and message types: ``String(64)`` columns."""
EXTERNAL_ID_LENGTH = 128
"""A channel's own id for a report (a 12345 work-order number)."""
URL_LENGTH = 2000
NAME_LENGTH = 200
"""A unit's or a place's name."""
INT_MAX = 2**31 - 1
"""PostgreSQL's ``integer``: the seq, escalation and rating columns."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Times are at or after EARLIEST and before LATEST."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UNIT_ID_PATTERN = rf"^[a-z0-9][a-z0-9._-]{{0,{UNIT_ID_LENGTH - 1}}}$"
PLACE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
CATEGORY_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"
MESSAGE_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
SUBSCRIBER_PATTERN = r"^[a-z0-9._-]+$"

# --- the checks -------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _refuse(found: str) -> PydanticCustomError:
    if _SURROGATE.match(found):
        return PydanticCustomError(
            "surrogate", "must not contain a lone surrogate (U+D800-U+DFFF): it is not text"
        )
    if found == "\x00":
        return PydanticCustomError("nul_character", "must not contain NUL (U+0000)")
    return PydanticCustomError("control_character", "must not contain control characters")


def _raw_text(value: Any) -> Any:
    """Channels' text: lone surrogates refused, controls left for intake to handle."""
    if isinstance(value, str) and (found := _SURROGATE.search(value)):
        raise _refuse(found.group())
    return value


def _text(value: Any) -> Any:
    """Free text: line breaks and tabs are fine; NUL and lone surrogates are not."""
    if isinstance(value, str) and (found := _NUL_OR_SURROGATE.search(value)):
        raise _refuse(found.group())
    return value


def _line(value: Any) -> Any:
    """An id, a code or a URL: no control character at all."""
    if isinstance(value, str) and (found := _CONTROL_OR_SURROGATE.search(value)):
        raise _refuse(found.group())
    return value


def _time_input(value: Any) -> Any:
    """A datetime, or an ISO 8601 string: pydantic alone would read 1700000000 (or
    "1700000000") as a Unix time."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE_TIME.match(value)):
        return value
    raise PydanticCustomError(
        "time_format",
        "must be an ISO 8601 date and time with a UTC offset, e.g. 2026-09-21T09:12:45+08:00",
    )


def _time_range(value: datetime) -> datetime:
    # A year strictly inside the range is inside whatever the offsets (under a day), and
    # needs no aware comparison: each costs a utcoffset() call, and every time of every
    # message passes here (about a tenth of the router's CPU went to the two below).
    if EARLIEST.year < value.year < LATEST.year - 1:
        return value
    # the year is compared first: comparing year 1 or 9999 across offsets could overflow
    if not (EARLIEST.year - 1 <= value.year < LATEST.year + 1) or not (EARLIEST <= value < LATEST):
        raise PydanticCustomError(
            "time_range",
            "must be at or after {earliest} and before {latest}",
            {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
        )
    return value


TIME_SCHEMA_PATTERN = (
    r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""A time as the JSON Schema states it to validators that do not check ``format``:
RFC 3339 with its offset, in the years 2000-2099. The exact range, across offsets,
is in the ``format*`` keywords."""
TEXT_SCHEMA_PATTERN = r"^[^\u0000]*$"
"""Free text in the JSON Schema: no NUL (lone surrogates have no JSON Schema form)."""
LINE_SCHEMA_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
"""Ids, codes and URLs without a pattern of their own: no control character."""


@dataclass(frozen=True)
class _SchemaPattern:
    """Writes what a validator checks into the JSON Schema as a ``pattern``, so that a
    message the schema accepts is not refused for a character it holds. A type with
    a pattern of its own (an id) keeps it: that pattern already leaves controls out."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.setdefault("pattern", self.pattern)
        return schema


_NO_NUL = _SchemaPattern(TEXT_SCHEMA_PATTERN)
_NO_CONTROL = _SchemaPattern(LINE_SCHEMA_PATTERN)


@dataclass(frozen=True)
class _TimeRangeSchema:
    """Writes the time range into the JSON Schema (the ``format*`` keywords of ajv-formats),
    and :data:`TIME_SCHEMA_PATTERN` for validators without them."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = TIME_SCHEMA_PATTERN
        schema["formatMinimum"] = EARLIEST.isoformat().replace("+00:00", "Z")
        schema["formatExclusiveMaximum"] = LATEST.isoformat().replace("+00:00", "Z")
        return schema


# --- the types --------------------------------------------------------------------------

Time = Annotated[
    AwareDatetime, BeforeValidator(_time_input), AfterValidator(_time_range), _TimeRangeSchema()
]
"""An aware time within EARLIEST .. LATEST, an ISO 8601 string on the wire."""

Flag = Annotated[bool, Strict()]
"""true or false: not "yes", not 1."""
Count = Annotated[int, Strict(), Ge(0), Le(INT_MAX)]
Seq = Annotated[int, Strict(), Ge(1), Le(INT_MAX)]
"""A positive integer: an assignment's seq, a schema version, attempts."""
Rating = Annotated[int, Strict(), Ge(1), Le(5)]
ExtensionDays = Annotated[int, Strict(), Ge(1), Le(30)]
"""Working days an extension (延期) asks for: at least one, at most 30 (six working weeks)."""
HttpStatus = Annotated[int, Strict(), Ge(100), Le(999)]
Latitude = Annotated[float, Strict(), Ge(-90), Le(90)]
Longitude = Annotated[float, Strict(), Ge(-180), Le(180)]

# ids and codes: a pattern (which leaves controls out) and the column's length
EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_LENGTH, pattern=ID_PATTERN),
    BeforeValidator(_line),
    _NO_CONTROL,
]
"""event_id, correlation_id, causation_id, notification ids: derived UUIDs in practice."""
CaseId = EventId
"""``GF-`` and 16 hex digits when intake made it."""
Producer = EventId
"""The processor or system that wrote a message."""
CommandId = Annotated[
    str, StringConstraints(pattern=UUID_PATTERN), BeforeValidator(_line), _NO_CONTROL
]
"""A command's event_id: a UUID of the sender's."""
UnitId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=UNIT_ID_LENGTH, pattern=UNIT_ID_PATTERN),
    BeforeValidator(_line),
    _NO_CONTROL,
]
PlaceId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=CODE_LENGTH, pattern=PLACE_ID_PATTERN),
    BeforeValidator(_line),
    _NO_CONTROL,
]
"""A jurisdiction's id; a grid is a jurisdiction."""
CategoryCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=CODE_LENGTH, pattern=CATEGORY_PATTERN),
    BeforeValidator(_line),
    _NO_CONTROL,
]
MessageType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=CODE_LENGTH, pattern=MESSAGE_TYPE_PATTERN),
    BeforeValidator(_line),
    _NO_CONTROL,
]
SubscriberId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=SUBSCRIBER_PATTERN),
    BeforeValidator(_line),
    _NO_CONTROL,
]
"""A notifier subscriber (see notifier/subscriptions.py)."""
ExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=EXTERNAL_ID_LENGTH),
    BeforeValidator(_line),
    _NO_CONTROL,
]
"""A channel's own id: any printable text, no controls."""
Url = Annotated[
    str, StringConstraints(min_length=1, max_length=URL_LENGTH), BeforeValidator(_line), _NO_CONTROL
]

# free text: NUL and lone surrogates refused, a length bound
Name = Annotated[str, StringConstraints(max_length=NAME_LENGTH), BeforeValidator(_text), _NO_NUL]
"""A unit's or a place's name."""
Why = Annotated[str, StringConstraints(max_length=2000), BeforeValidator(_text), _NO_NUL]
"""The text of a routing explanation (schemas.cases.Explanation)."""
CATALOGUE_VERSION_PATTERN = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,31}@)?[0-9a-f]{12}$"
CatalogueVersion = Annotated[str, StringConstraints(pattern=CATALOGUE_VERSION_PATTERN)]
"""A site catalogue's version: its optional label, ``@``, and 12 hex digits of its digest."""
Title = Annotated[str, StringConstraints(max_length=200), BeforeValidator(_text), _NO_NUL]
Description = Annotated[str, StringConstraints(max_length=4000), BeforeValidator(_text), _NO_NUL]
Note = Annotated[str, StringConstraints(max_length=4000), BeforeValidator(_text), _NO_NUL]
Comment = Annotated[str, StringConstraints(max_length=2000), BeforeValidator(_text), _NO_NUL]
ErrorText = Annotated[str, StringConstraints(max_length=2000), BeforeValidator(_text), _NO_NUL]
Address = Annotated[str, StringConstraints(max_length=500), BeforeValidator(_text), _NO_NUL]
PersonName = Annotated[str, StringConstraints(max_length=100), BeforeValidator(_text), _NO_NUL]
Phone = Annotated[str, StringConstraints(max_length=32), BeforeValidator(_text), _NO_NUL]

# what channels send (report.raw): controls allowed, intake removes or refuses them
RawExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=EXTERNAL_ID_LENGTH),
    BeforeValidator(_raw_text),
]
RawCode = Annotated[
    str, StringConstraints(min_length=1, max_length=CODE_LENGTH), BeforeValidator(_raw_text)
]
RawTitle = Annotated[str, StringConstraints(max_length=200), BeforeValidator(_raw_text)]
RawDescription = Annotated[
    str, StringConstraints(min_length=1, max_length=4000), BeforeValidator(_raw_text)
]
RawAddress = Annotated[str, StringConstraints(max_length=500), BeforeValidator(_raw_text)]
RawPersonName = Annotated[str, StringConstraints(max_length=100), BeforeValidator(_raw_text)]
RawPhone = Annotated[str, StringConstraints(max_length=32), BeforeValidator(_raw_text)]
RawUrl = Annotated[str, StringConstraints(max_length=URL_LENGTH), BeforeValidator(_raw_text)]

"""Property tests: the router and the archive accept exactly the same messages.

Messages are generated from the generated JSON Schemas (schemas/json/), so the test
also checks that the schemas describe what the models accept; some are then spoiled
at one field with a hostile value (NUL, a lone surrogate, over-long text, a number
as a time, "yes" as a boolean...). For each message:

- what the router reads (new cases, commands, deadlines) decodes or is refused the
  same way on the router's and the archive's side, and the router never raises on it;
- a command the router accepts gives events the archive accepts and can store: every
  id fits its column, no NUL reaches a JSONB document;
- what the archive accepts it keeps without raising, and its rows fit the tables;
- any message a model accepts round-trips encode -> decode byte-identically.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String, Table

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from archive.ports import ArchivedEvent
from archive.projection import project
from archive.sql import archive_cases, archive_events
from router.core import Router
from router.memory import MemoryCaseStore
from router.ports import CaseFile, OpenRequest, Suspension
from router.sql import _row as router_row
from router.sql import cases as router_cases
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CoHandler,
    DecisionPayload,
    RequestKind,
    RequestReason,
    Stage,
)
from schemas.codec import DecodeError, decode, encode
from schemas.deadletter import Rejected, RejectionReason
from schemas.edges import ID_LENGTH, UNIT_ID_LENGTH
from schemas.envelope import Envelope, Model
from schemas.jsonschema import OUT, _file_name
from schemas.processing import Inbound
from schemas.reports import Case, Channel, Tier, Urgency
from schemas.topics import (
    ASSIGNMENTS,
    CASE_EVENTS,
    CASE_UPDATES,
    CASES_RECEIVED,
    CATALOGUE,
    DEADLINES,
    Topic,
    topic_named,
)
from storage.db import inbox
from tests.support.from_schema import narrow
from tests.support.sites import SHANGHAI, tiny_site
from tests.unit.archive.story import CLOCK

SITE = tiny_site()
NOW = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)
EXAMPLES = settings(
    # a few seconds in the unit suite; GRIDFLOW_PROPERTY_EXAMPLES=5000 for a long hunt
    max_examples=int(os.environ.get("GRIDFLOW_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

HOSTILE: list[Any] = [
    "\x00",
    "a\ud800b",
    "\udfff",
    "x" * 5000,
    "0" * (ID_LENGTH + 1),  # one past String(64): refused, or a column would refuse it
    "u" * (UNIT_ID_LENGTH + 1),
    "u" * 161,  # one past String(160)
    "\x1b[31m",
    "",
    "yes",
    "1",
    "1700000000",
    "0001-01-01T00:00:00+08:00",
    "1900-01-01T00:00:00Z",
    "2200-01-01T00:00:00Z",
    "2026-03-05T10:00:00",
    1700000000,
    1,
    0,
    -1,
    2**31,
    1.5,
    True,
    None,
    [],
    {},
]

# --- messages from the JSON Schemas ----------------------------------------------------

_OFFSETS = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-12))]
_OFFSETS += [timezone(timedelta(hours=14)), timezone(timedelta(hours=5, minutes=45))]
_TEXT = st.characters(exclude_categories=("Cs", "Cc"))  # the hidden rules: no NUL, no controls


def _times() -> st.SearchStrategy[str]:
    local = st.datetimes(datetime(2000, 1, 2), datetime(2099, 12, 30))
    return st.builds(
        lambda d, tz: d.replace(tzinfo=tz).isoformat(), local, st.sampled_from(_OFFSETS)
    )


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength", 10_000)
    if schema.get("format") == "date-time":  # its pattern cannot state the range's edges
        return _times()
    if "pattern" in schema:
        found = st.from_regex(schema["pattern"], fullmatch=True)
        return found.filter(lambda s: low <= len(s) <= high)
    return st.text(_TEXT, min_size=low, max_size=min(high, 40))


def strategy(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that fit ``schema`` (the subset of JSON Schema pydantic writes)."""
    if "$ref" in schema:
        return strategy(root["$defs"][schema["$ref"].removeprefix("#/$defs/")], root)
    if "anyOf" in schema and schema.get("type") == "object":  # e.g. a grid id, or a point
        return st.one_of([strategy(narrow(schema, b), root) for b in schema["anyOf"]])
    if "anyOf" in schema:
        return st.one_of([strategy(s, root) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: strategy(v, root) for k, v in props.items() if k in required},
            optional={k: strategy(v, root) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        items = strategy(schema.get("items", {}), root)
        return st.lists(items, max_size=min(schema.get("maxItems", 3), 3))
    if kind == "string":
        return _strings(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise AssertionError(f"no strategy for {schema}")


@cache
def _schema(model: type[Model]) -> dict[str, Any]:
    return json.loads((OUT / _file_name(model)).read_text(encoding="utf-8"))


def valid(model: type[Model]) -> st.SearchStrategy[dict[str, Any]]:
    schema = _schema(model)
    return strategy(schema, schema)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _with(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _with(value[head], rest, new)}
    return [_with(v, rest, new) if i == head else v for i, v in enumerate(value)]


@st.composite
def messages(draw: st.DrawFn, model: type[Model]) -> bytes:
    """A message that fits the model's JSON Schema, spoiled at one field half the time."""
    data = draw(valid(model))
    if draw(st.booleans()):
        path = draw(st.sampled_from(_leaves(data)))
        data = _with(data, path, draw(st.sampled_from(HOSTILE)))
    return json.dumps(data).encode()  # ensure_ascii: a lone surrogate travels as \ud800


# --- what each side does with a message -------------------------------------------------


def outcome(topic: Topic, value: bytes) -> Model | DecodeError:
    """The decoded message or the refusal; any other exception fails the test."""
    try:
        return decode(topic, value)
    except DecodeError as refused:
        return refused


def fits(table: Table, row: dict[str, Any]) -> None:
    """Every text of ``row`` fits its column, and no JSON document holds NUL."""
    for column in table.columns:
        value = row.get(column.name)
        if isinstance(column.type, String) and column.type.length and isinstance(value, str):
            assert len(value) <= column.type.length, (table.name, column.name, len(value))
    for value in row.values():
        if isinstance(value, (dict, list)):
            assert "\\u0000" not in json.dumps(value), (table.name, "NUL in a JSON document")


def archive_keeps(message: Envelope) -> None:
    """The archive takes ``message`` without refusing or raising, and its rows fit."""
    store = MemoryArchiveStore()
    assert Archive(store, CLOCK).handle([Inbound(message, NOW)]) == [[]]
    fits(archive_events, asdict(ArchivedEvent.of(message, NOW)))
    fits(inbox, {"processor": "archive", "event_id": message.event_id})
    row = project(None, message)
    if row is not None:
        fits(archive_cases, asdict(row))
    assert "\\u0000" not in encode(message).decode()  # the archived payload is JSONB


def _held_case() -> Case:
    return Case(
        case_id="GF-0123456789ABCDEF",
        channel=Channel.WEB,
        external_id="W-1",
        reported_at=NOW - timedelta(minutes=5),
        received_at=NOW - timedelta(minutes=4),
        category="street.parking",
        grid_id="s-a-g1",
        title="t",
        description="d",
        urgency=Urgency.NORMAL,
    )


_STAGE_FOR = {
    "case.accept": Stage.ASSIGNED,
    "case.report_handled": Stage.ACCEPTED,
    "case.verify": Stage.HANDLED,
    "case.rate": Stage.VERIFIED,
    "case.follow_up": Stage.VERIFIED,
    "case.refer_up": Stage.ACCEPTED,
    "case.supervise": Stage.ACCEPTED,
    "case.request_suspension": Stage.ACCEPTED,
    "case.request_extension": Stage.ACCEPTED,
    "case.decide_request": Stage.ACCEPTED,  # with the request it names open
    "case.resume": Stage.SUSPENDED,
    "case.return": Stage.ASSIGNED,
    "case.dispatch": Stage.QUEUED,
    "case.report_part": Stage.ACCEPTED,  # by a co-handler of the assignment
}
HOLDER = "s.command"
CO_HANDLER = "s-a.station"
"""The co-handler (协办) of the held case, for case.report_part."""
_SENDER_FOR = {
    "case.verify": "s.verify",  # the street's verifier: the held case lies in its street
    "case.rate": "web",  # the channel that took the held case's report
    "case.follow_up": "web",  # the same channel calls the resident back (回访)
    "case.supervise": "d.supervise",
    "case.decide_request": "s.approve",  # the street's command room, over s.command
    "case.dispatch": "s.approve",  # the street's command room, over s.command (last held)
}


def stamped(command: Envelope) -> Envelope:
    """``command`` as intake passes it on from a sender the rules allow.

    The property is about shapes, not rights: the generated step is made the
    holder's (a unit of the site), and the sender is one
    :data:`schemas.access.PERMISSIONS` lets send it. Who may not is
    tests/unit/router/test_permissions.py's.
    """
    payload = command.payload
    co = command.type == "case.report_part"
    if "unit_id" in type(payload).model_fields:
        payload = payload.model_copy(update={"unit_id": CO_HANDLER if co else HOLDER})
    if "co_handlers" in type(payload).model_fields:  # units of the site: none generated
        payload = payload.model_copy(update={"co_handlers": []})
    sender = CO_HANDLER if co else _SENDER_FOR.get(command.type, HOLDER)
    return command.model_copy(update={"payload": payload, "sender": sender})


def router_for(command: Envelope) -> Router:
    """A router whose case is at the stage, held by the unit, the command asks for."""
    case = _held_case().model_copy(update={"case_id": command.case_id or "GF-1"})
    step = command.payload
    assignment = Assignment(
        unit_id=HOLDER,
        unit_name="Street",
        tier=Tier.STREET,
        owner_tier=Tier.STREET,
        jurisdiction_id="s",
        seq=getattr(step, "seq", 1),
        reason=AssignmentReason.INITIAL,
        assigned_at=NOW - timedelta(minutes=3),
    )
    if command.type == "case.report_part":
        co = CoHandler(
            unit_id=CO_HANDLER,
            unit_name="A station",
            tier=Tier.COMMUNITY,
            jurisdiction_id="s-a",
            unit_type="general",
        )
        assignment = assignment.model_copy(update={"co_handlers": [co]})
    file = CaseFile.opened(case, assignment)
    file = replace(file, stage=_STAGE_FOR[command.type])
    if isinstance(step, DecisionPayload):  # the request it decides is open
        request = OpenRequest(
            request_id=step.request_id,
            kind=RequestKind.EXTENSION,
            seq=assignment.seq,
            reason=RequestReason.OTHER,
            at=NOW,
            working_days=1,
        )
        file = replace(file, request=request)
    if file.stage is Stage.SUSPENDED:
        file = replace(
            file, suspension=Suspension(request_id=_REQUEST, seq=assignment.seq, since=NOW)
        )
    store = MemoryCaseStore()
    store.save([file])
    return Router(SITE, store)


_REQUEST = "00000000-0000-4000-8000-000000000000"


# --- the properties ---------------------------------------------------------------------

ROUTER_READS = [
    (topic, model) for topic in (CASES_RECEIVED, CASE_UPDATES, DEADLINES) for model in topic.carries
]


@EXAMPLES
@given(st.data())
def test_what_the_router_reads_the_archive_decodes_alike(data: st.DataObject) -> None:
    topic, model = data.draw(st.sampled_from(ROUTER_READS))
    value = data.draw(messages(model))
    mine = outcome(topic, value)
    # the archive reads new cases and deadlines on the same topics; the events a
    # command becomes are checked below
    theirs = outcome(topic_named(topic.name), value)
    assert type(mine) is type(theirs)
    if isinstance(mine, DecodeError):
        assert isinstance(theirs, DecodeError) and mine.reason == theirs.reason
        return
    assert isinstance(mine, Envelope)
    if topic is CASE_UPDATES:
        return
    archive_keeps(mine)
    store = MemoryCaseStore()
    [done] = Router(SITE, store).handle([Inbound(mine, NOW)])  # may refuse; never raises
    assert isinstance(done, (list, Rejected))
    for file in store.load({mine.case_id or ""}).values():
        fits(router_cases, router_row(file))


COMMANDS = CASE_UPDATES.carries


def step_seq(command: Envelope) -> int | None:
    return getattr(command.payload, "seq", None)


@EXAMPLES
@given(st.data())
def test_a_command_the_router_applies_gives_events_the_archive_keeps(data: st.DataObject) -> None:
    model = data.draw(st.sampled_from(COMMANDS))
    command = outcome(CASE_UPDATES, data.draw(messages(model)))
    if isinstance(command, DecodeError):
        return  # refused before anything acts on it: one dead letter, no event
    assert isinstance(command, Envelope)
    command = stamped(command)
    router = router_for(command)
    [result] = router.handle([Inbound(command, NOW)])
    if command.case_id is None:  # a command must name its case: a conflict, not a crash
        assert isinstance(result, Rejected) and result.reason is RejectionReason.CONFLICT
        return
    if isinstance(result, Rejected) and "assignments are used up" in result.message:
        assert step_seq(command) == 2**31 - 1  # no seq is left for the reopening's rework
        return
    assert isinstance(result, list), f"the router refused a valid command: {result}"
    assert result, "a command the router applies tells the story"
    for emit in result:
        again = decode(topic_named(emit.topic), encode(emit.message))  # no DecodeError
        assert encode(again) == encode(emit.message)
        if emit.topic == CASE_EVENTS.name:
            archive_keeps(again)


EVERY_MODEL = sorted(
    {(t.name, m) for t in (*CATALOGUE, ASSIGNMENTS) for m in t.carries},
    key=lambda tm: (tm[0], tm[1].__name__),
)


def _topic_of(name: str) -> Topic:
    return ASSIGNMENTS if name == ASSIGNMENTS.name else topic_named(name)


@EXAMPLES
@given(st.data())
def test_a_valid_message_round_trips_byte_identically(data: st.DataObject) -> None:
    name, model = data.draw(st.sampled_from(EVERY_MODEL))
    topic = _topic_of(name)
    value = json.dumps(data.draw(valid(model))).encode()
    found = outcome(topic, value)
    if isinstance(found, DecodeError):  # a rule the JSON Schema cannot state
        raise AssertionError(f"{model.__name__} fits its JSON Schema but not the model: {found}")
    once = encode(found)
    again = decode(topic, once)
    assert again == found
    assert encode(again) == once

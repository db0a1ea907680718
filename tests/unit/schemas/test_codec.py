"""schemas.codec: bytes to contract models and back, the reasons a value is refused,
and the dead letter that keeps a refused value verbatim under a stable id.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest

from schemas.cases import CaseAccepted, StepPayload
from schemas.clock import ClockTicked, TickPayload
from schemas.codec import DecodeError, decode, encode, reject
from schemas.commands import AcceptCase, RateCase
from schemas.deadletter import MessageRejected, RejectionReason
from schemas.deadlines import DeadlineLapsed, DeadlinePayload
from schemas.envelope import Envelope
from schemas.reports import RawReport, Tier
from schemas.topics import (
    CASE_EVENTS,
    CASE_UPDATES,
    CLOCK,
    DEADLETTER,
    DEADLINES,
    REPORTS_OF,
    Record,
    Topic,
)
from tests.support.sites import SHANGHAI

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)


def _step(seq: int = 1) -> StepPayload:
    return StepPayload(unit_id="zs.urban", seq=seq, at=NOW, note="已受理")


def accept(seq: int = 1) -> AcceptCase:
    return AcceptCase.derive(_step(seq), producer="unit", now=NOW, case_id="GF-1", key=("a",))


def lapsed() -> DeadlineLapsed:
    payload = DeadlinePayload(
        kind="resolve", unit_id="zs.urban", tier=Tier.STREET, seq=2, due_at=NOW, working_days=5
    )
    return DeadlineLapsed.derive(payload, producer="escalator", now=NOW, case_id="GF-1")


def raw_report() -> RawReport:
    return RawReport(
        channel="web",
        external_id="W-1",
        reported_at=NOW,
        category="x.y",
        grid_id="g1",
        description="路灯不亮",
    )


def decode_error(topic: Topic, value: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(topic, value)
    return info.value


def as_json(message: Envelope, **changes: Any) -> bytes:
    data = json.loads(encode(message))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for p in parents:
            node = node[p]
        node[leaf] = value
    return json.dumps(data).encode()


# --- round trips ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        (CASE_UPDATES, accept()),
        (CASE_EVENTS, CaseAccepted.derive(_step(), producer="router", now=NOW, case_id="GF-1")),
        (DEADLINES, lapsed()),
        (CLOCK, ClockTicked.derive(TickPayload(now=NOW), producer="t", now=NOW, case_id=None)),
        (REPORTS_OF, raw_report()),
    ],
    ids=lambda v: getattr(v, "name", type(v).__name__),
)
def test_encode_then_decode_gives_the_same_message(topic: Topic, message: Any) -> None:
    back = decode(topic, encode(message))
    assert type(back) is type(message)
    assert back == message
    assert encode(back) == encode(message)  # byte-stable


def test_a_multi_type_topic_picks_the_model_by_type() -> None:
    rate = RateCase.derive(
        {"at": NOW, "rating": 4}, producer="resident", now=NOW, case_id="GF-1", key=("r",)
    )
    assert isinstance(decode(CASE_UPDATES, encode(rate)), RateCase)
    assert isinstance(decode(CASE_UPDATES, encode(accept())), AcceptCase)


def test_times_keep_their_offset() -> None:
    back = decode(CASE_UPDATES, encode(accept()))
    assert back.occurred_at == NOW
    assert back.occurred_at.utcoffset() == NOW.utcoffset()


# --- reasons ------------------------------------------------------------------------


def test_not_utf8() -> None:
    error = decode_error(CASE_UPDATES, b"\xff\xfe\x00{")
    assert error.reason is RejectionReason.NOT_UTF8
    assert error.errors == []


def test_not_json() -> None:
    error = decode_error(CASE_UPDATES, b"<workorder id='7'>")
    assert error.reason is RejectionReason.NOT_JSON
    assert "not JSON" in error.message


@pytest.mark.parametrize(
    "value",
    [
        b'{"type": "case.assigned"}',  # a real type, but not one this topic carries
        b'{"type": "case.teleport", "payload": {}}',
        b'{"event_id": "x"}',  # no type at all
        b"[1, 2, 3]",  # not an object
    ],
)
def test_unknown_type(value: bytes) -> None:
    error = decode_error(CASE_UPDATES, value)
    assert error.reason is RejectionReason.UNKNOWN_TYPE
    assert CASE_UPDATES.name in error.message


def test_unknown_type_on_a_single_type_envelope_topic() -> None:
    error = decode_error(CLOCK, as_json(accept()))
    assert error.reason is RejectionReason.UNKNOWN_TYPE


def test_invalid_on_a_multi_type_topic_names_fields_without_the_union_tag() -> None:
    value = as_json(accept(), payload__seq=0, producer=None)
    error = decode_error(CASE_UPDATES, value)
    assert error.reason is RejectionReason.INVALID
    assert {e.loc: e.type for e in error.errors} == {
        "payload.seq": "greater_than_equal",
        "producer": "string_type",
    }
    assert "case.accept" not in error.message
    assert "payload.seq: " in error.message


def test_invalid_on_another_multi_type_topic() -> None:
    value = as_json(lapsed(), payload__kind="someday", case_id=7)
    error = decode_error(DEADLINES, value)
    assert error.reason is RejectionReason.INVALID
    assert {e.loc for e in error.errors} == {"payload.kind", "case_id"}


def test_invalid_on_a_single_type_topic_names_fields_in_full() -> None:
    tick = ClockTicked.derive(TickPayload(now=NOW), producer="t", now=NOW, case_id=None)
    error = decode_error(CLOCK, as_json(tick, payload__now="yesterday", case_id=7))
    assert error.reason is RejectionReason.INVALID
    assert {e.loc for e in error.errors} == {"payload.now", "case_id"}


def test_invalid_does_not_echo_the_value() -> None:
    secret = "13812345678-secret"
    value = as_json(accept(), payload__seq=secret)
    error = decode_error(CASE_UPDATES, value)
    assert [e.loc for e in error.errors] == ["payload.seq"]
    assert secret not in error.message
    assert all(secret not in e.msg for e in error.errors)


# --- the dead letter -----------------------------------------------------------------


def record(value: bytes, offset: int = 41, partition: int = 3) -> Record:
    return Record(
        topic=CASE_UPDATES.name,
        value=value,
        key=b"GF-1",
        partition=partition,
        offset=offset,
        timestamp=NOW,
    )


def letter(rec: Record, processor: str = "router") -> MessageRejected:
    return reject(rec, processor=processor, reason=RejectionReason.NOT_JSON, message="no", now=NOW)


def test_reject_keeps_text_verbatim_and_where_it_came_from() -> None:
    value = "  {“不是” JSON }\n".encode()
    dead = letter(record(value))
    original = dead.payload.original
    assert original.text is not None
    assert original.text.encode() == value
    assert original.base64 is None
    assert (original.topic, original.partition, original.offset) == (CASE_UPDATES.name, 3, 41)
    assert original.key == "GF-1"
    assert dead.payload.reason is RejectionReason.NOT_JSON
    assert dead.payload.processor == "router"


def test_reject_keeps_non_utf8_bytes_as_base64() -> None:
    value = b"\x00\xff\xfe binary \x80"
    original = letter(record(value)).payload.original
    assert original.text is None
    assert original.base64 is not None
    assert base64.b64decode(original.base64) == value


def test_a_dead_letter_survives_its_own_round_trip() -> None:
    dead = letter(record(b"\xff"))
    assert decode(DEADLETTER, encode(dead)) == dead


def test_dead_letter_ids_are_stable_and_depend_on_where_the_record_sits() -> None:
    first = letter(record(b"x"))
    assert letter(record(b"x")).event_id == first.event_id
    assert letter(record(b"other bytes, same place")).event_id == first.event_id
    assert letter(record(b"x", offset=42)).event_id != first.event_id
    assert letter(record(b"x", partition=4)).event_id != first.event_id
    assert letter(record(b"x"), processor="archive").event_id != first.event_id
    assert first.correlation_id == first.event_id  # no case known


def test_a_dead_letter_with_a_case_correlates_to_it() -> None:
    dead = reject(
        record(b"{}"),
        processor="router",
        reason=RejectionReason.CONFLICT,
        message="refused",
        now=NOW,
        case_id="GF-9",
    )
    assert (dead.case_id, dead.correlation_id) == ("GF-9", "GF-9")


@pytest.mark.parametrize("kind", [["case.accept"], {"a": 1}, 7, None])
def test_a_type_that_is_not_a_string_is_an_unknown_type(kind: object) -> None:
    from schemas.topics import CASE_UPDATES

    body = json.dumps({"type": kind, "payload": {}}).encode()
    with pytest.raises(DecodeError) as info:
        decode(CASE_UPDATES, body)
    assert info.value.reason is RejectionReason.UNKNOWN_TYPE

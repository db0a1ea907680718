"""The contract's edges (schemas/edges.py): each hostile value is a refusal naming its field.

Every case goes through ``schemas.codec.decode``, as the runtime decodes a record,
and must give a DecodeError with reason ``invalid`` and a field error at the field:
never another exception, so the runtime makes one dead letter of it and goes on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.codec import DecodeError, decode, encode, reject
from schemas.commands import AcceptCase, VerifyCase
from schemas.deadletter import RejectionReason
from schemas.edges import EARLIEST, ID_LENGTH, LATEST, UNIT_ID_LENGTH
from schemas.reports import RawReport
from schemas.topics import CASE_UPDATES, CASES_RECEIVED, DEADLINES, REPORTS_OF, Record, Topic

AT = "2026-03-02T09:30:00+08:00"
UUID = "6f1d9c2e-3a4b-5c6d-8e7f-90a1b2c3d4e5"


def envelope(kind: str, payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = {
        "event_id": UUID,
        "type": kind,
        "case_id": "GF-0123456789ABCDEF",
        "occurred_at": AT,
        "producer": "unit-app",
        "correlation_id": "GF-0123456789ABCDEF",
        "payload": payload,
    }
    return data | changes


def accept(**payload: Any) -> dict[str, Any]:
    return envelope("case.accept", {"unit_id": "zs.urban", "seq": 1, "at": AT} | payload)


def verify(**payload: Any) -> dict[str, Any]:
    step = {"unit_id": "zs.urban", "seq": 1, "at": AT, "passed": True}
    return envelope("case.verify", step | payload)


def received(**case: Any) -> dict[str, Any]:
    facts = {
        "case_id": "GF-0123456789ABCDEF",
        "channel": "web",
        "external_id": "W-1",
        "reported_at": AT,
        "received_at": AT,
        "category": "urban.garbage",
        "grid_id": "s-a-g1",
        "urgency": "normal",
        "title": "路灯不亮",
        "description": "路灯不亮三天了。\n请尽快修。",
    }
    return envelope("case.received", facts | case, producer="intake")


def raw(**changes: Any) -> dict[str, Any]:
    data = {
        "channel": "web",
        "external_id": "W-1",
        "reported_at": AT,
        "category": "urban.garbage",
        "grid_id": "s-a-g1",
        "description": "路灯不亮",
    }
    return data | changes


def as_bytes(data: Any) -> bytes:
    # ensure_ascii escapes a lone surrogate as \ud800, which is how it arrives on the wire
    return json.dumps(data).encode()


def refusal(topic: Topic, data: Any) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(topic, as_bytes(data))
    error = info.value
    assert error.reason is RejectionReason.INVALID
    return error


def refused_at(topic: Topic, data: Any) -> dict[str, str]:
    """loc -> error type of the refusal; its dead letter can be published."""
    error = refusal(topic, data)
    record = Record(topic=topic.name, value=as_bytes(data), timestamp=datetime.now(UTC))
    letter = reject(
        record,
        processor="router",
        reason=error.reason,
        message=error.message,
        now=record.timestamp,
        errors=error.errors,
    )
    encode(letter)  # a dead letter that can be serialised: nothing of the input in the text
    return {e.loc: e.type for e in error.errors}


def test_the_valid_messages_decode() -> None:
    """ISO strings are times, JSON strings are enums, true is a boolean."""
    command = decode(CASE_UPDATES, as_bytes(verify()))
    assert isinstance(command, VerifyCase)
    assert command.payload.passed is True
    assert command.payload.at == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    case = decode(CASES_RECEIVED, as_bytes(received()))
    assert case.payload.channel == "web"
    assert isinstance(decode(REPORTS_OF, as_bytes(raw())), RawReport)


# --- text: NUL, lone surrogates, length -------------------------------------------------


def test_nul_in_a_note_is_refused() -> None:
    assert refused_at(CASE_UPDATES, accept(note="已受理\x00")) == {"payload.note": "nul_character"}


def test_nul_in_a_case_description_is_refused() -> None:
    found = refused_at(CASES_RECEIVED, received(description="a\x00b"))
    assert found == {"payload.description": "nul_character"}


def test_line_breaks_and_tabs_are_text() -> None:
    command = decode(CASE_UPDATES, as_bytes(accept(note="第一行\n\t第二行")))
    assert isinstance(command, AcceptCase)


def test_a_lone_surrogate_in_a_note_is_refused() -> None:
    assert refused_at(CASE_UPDATES, accept(note="a\ud800b")) == {"payload.note": "surrogate"}


def test_a_lone_surrogate_in_a_unit_id_is_refused() -> None:
    assert refused_at(CASE_UPDATES, accept(unit_id="zs.\udfff")) == {"payload.unit_id": "surrogate"}


def test_a_lone_surrogate_in_a_raw_report_url_is_refused() -> None:
    found = refused_at(REPORTS_OF, raw(attachments=["https://x.example/\ud83d.jpg"]))
    assert found == {"attachments.0": "surrogate"}


def test_a_raw_report_may_hold_controls_for_intake_to_clean() -> None:
    """Intake removes controls from free text and refuses ids that hold one (intake's tests)."""
    report = decode(REPORTS_OF, as_bytes(raw(description="a\x00b", external_id="W\x00-1")))
    assert isinstance(report, RawReport)


def test_over_long_text_is_refused() -> None:
    found = refused_at(CASE_UPDATES, accept(note="字" * 4001))
    assert found == {"payload.note": "string_too_long"}


def test_over_long_raw_text_is_refused() -> None:
    assert refused_at(REPORTS_OF, raw(description="x" * 4001)) == {"description": "string_too_long"}


# --- ids ---------------------------------------------------------------------------------


def test_an_id_longer_than_its_column_is_refused() -> None:
    long_id = "GF-" + "0" * (ID_LENGTH - 2)  # 65: one more than String(64)
    found = refused_at(CASES_RECEIVED, received(case_id=long_id) | {"case_id": long_id})
    assert found == {"case_id": "string_too_long", "payload.case_id": "string_too_long"}


def test_ids_at_their_column_length_decode() -> None:
    case_id = "GF-" + "0" * (ID_LENGTH - 3)
    message = decode(CASES_RECEIVED, as_bytes(received(case_id=case_id) | {"case_id": case_id}))
    assert message.case_id == case_id
    unit_id = "u" * UNIT_ID_LENGTH
    assert decode(CASE_UPDATES, as_bytes(accept(unit_id=unit_id))).payload.unit_id == unit_id


def test_an_over_long_unit_id_is_refused() -> None:
    found = refused_at(CASE_UPDATES, accept(unit_id="u" * (UNIT_ID_LENGTH + 1)))
    assert found == {"payload.unit_id": "string_too_long"}


def test_a_control_character_in_an_id_is_refused() -> None:
    data = accept() | {"correlation_id": "GF-1\x1b"}
    assert refused_at(CASE_UPDATES, data) == {"correlation_id": "control_character"}


def test_an_id_outside_its_pattern_is_refused() -> None:
    found = refused_at(CASE_UPDATES, accept(unit_id="ZS Urban"))
    assert found == {"payload.unit_id": "string_pattern_mismatch"}


def test_a_command_id_must_be_a_uuid() -> None:
    assert refused_at(CASE_UPDATES, accept() | {"event_id": "e-1"}) == {
        "event_id": "string_pattern_mismatch"
    }


def test_an_external_id_in_a_case_has_no_controls() -> None:
    found = refused_at(CASES_RECEIVED, received(external_id="W\x07-1"))
    assert found == {"payload.external_id": "control_character"}


# --- times --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00+08:00",  # to UTC: year 0, an OverflowError once
        "0001-01-01T00:00:00Z",
        "1900-01-01T00:00:00+08:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "2200-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-10:00",  # to UTC: year 10000
    ],
)
def test_a_time_out_of_range_is_refused(when: str) -> None:
    error = refusal(CASE_UPDATES, accept(at=when))
    assert {e.loc: e.type for e in error.errors} == {"payload.at": "time_range"}
    assert "2000-01-01" in error.message and "2100-01-01" in error.message


def test_the_range_ends_are_as_documented() -> None:
    decode(CASE_UPDATES, as_bytes(accept(at=EARLIEST.isoformat())))
    with pytest.raises(DecodeError):
        decode(CASE_UPDATES, as_bytes(accept(at=LATEST.isoformat())))
    decode(CASE_UPDATES, as_bytes(accept(at="2099-12-31T23:59:59.999999Z")))


def test_a_raw_report_from_1900_is_refused() -> None:
    found = refused_at(REPORTS_OF, raw(reported_at="1900-01-01T08:00:00+08:00"))
    assert found == {"reported_at": "time_range"}


@pytest.mark.parametrize("when", [1700000000, 1700000000.5, "1700000000", True])
def test_a_number_is_not_a_time(when: Any) -> None:
    assert refused_at(CASE_UPDATES, accept(at=when)) == {"payload.at": "time_format"}


def test_a_naive_time_is_refused() -> None:
    assert refused_at(CASE_UPDATES, accept(at="2026-03-02T09:30:00")) == {
        "payload.at": "timezone_aware"
    }


def test_a_deadline_due_far_away_is_refused() -> None:
    payload = {
        "kind": "resolve",
        "unit_id": "zs.urban",
        "tier": "street",
        "seq": 1,
        "due_at": "2200-01-01T00:00:00Z",
        "working_days": 5,
    }
    found = refused_at(DEADLINES, envelope("deadline.lapsed", payload, producer="escalator"))
    assert found == {"payload.due_at": "time_range"}


# --- strictness ---------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["yes", "true", 1, 0, "1"])
def test_only_true_and_false_are_booleans(flag: Any) -> None:
    assert refused_at(CASE_UPDATES, verify(passed=flag)) == {"payload.passed": "bool_type"}


def test_yes_is_not_a_boolean_in_a_raw_report() -> None:
    found = refused_at(REPORTS_OF, raw(reporter={"anonymous": "yes"}))
    assert found == {"reporter.anonymous": "bool_type"}


@pytest.mark.parametrize(("field", "value"), [("unit_id", 42), ("note", 3.5), ("note", True)])
def test_a_number_is_not_a_string(field: str, value: Any) -> None:
    assert refused_at(CASE_UPDATES, accept(**{field: value})) == {f"payload.{field}": "string_type"}


def test_a_string_is_not_a_number() -> None:
    assert refused_at(CASE_UPDATES, accept(seq="1")) == {"payload.seq": "int_type"}
    assert refused_at(CASE_UPDATES, accept(seq=1.0)) == {"payload.seq": "int_type"}


def test_a_number_beyond_the_columns_is_refused() -> None:
    assert refused_at(CASE_UPDATES, accept(seq=2**31)) == {"payload.seq": "less_than_equal"}


def test_a_string_is_not_a_coordinate() -> None:
    found = refused_at(REPORTS_OF, raw(location={"lat": "29.9"}))
    assert found == {"location.lat": "float_type"}


@pytest.mark.parametrize("value", [b'{"seq": NaN}', b'{"seq": Infinity}', b"1" * 5000])
def test_what_python_reads_but_json_is_not_is_refused(value: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode(CASE_UPDATES, value)
    assert info.value.reason is RejectionReason.NOT_JSON


def test_deep_nesting_is_not_json() -> None:
    with pytest.raises(DecodeError) as info:
        decode(CASE_UPDATES, b"[" * 100_000 + b"]" * 100_000)
    assert info.value.reason is RejectionReason.NOT_JSON


def test_the_year_shortcut_agrees_with_the_exact_range() -> None:
    """A time's range check skips the aware comparison for a year well inside: the
    years at either end still get it, at every offset a zone can have."""
    from datetime import timedelta, timezone

    from pydantic_core import PydanticCustomError

    from schemas.edges import EARLIEST, LATEST, _time_range

    for year in (1999, 2000, 2001, 2098, 2099, 2100):
        for month, day, hour in ((1, 1, 0), (12, 31, 23), (1, 1, 7)):
            for offset in (-14, -8, 0, 8, 14):
                value = datetime(year, month, day, hour, tzinfo=timezone(timedelta(hours=offset)))
                try:
                    _time_range(value)
                    accepted = True
                except PydanticCustomError:
                    accepted = False
                assert accepted == (EARLIEST <= value < LATEST), value

"""The whole raw path: bytes on a channel's report topic -> RawReport -> case, or field errors.

Decoding is the runtime's (schemas.codec); these tests pin what a channel sees
when its bytes are refused before intake's own rules run, and that the example
in intake's documentation (quoted by the README) is a report intake accepts.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from intake import Intake
from schemas.catalogue import Site
from schemas.codec import DecodeError, decode
from schemas.deadletter import RejectionReason
from schemas.reports import RawReport
from schemas.topics import REPORTS_OF
from tests.support.processing import handle_one
from tests.support.sites import SHANGHAI

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "report.json"


def documented_example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def decode_error(value: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(REPORTS_OF, value)
    return info.value


def test_documented_example_is_complete_and_accepted(site: Site) -> None:
    example = documented_example()
    assert set(example) == set(RawReport.model_fields)  # every field is shown
    raw = decode(REPORTS_OF, json.dumps(example, ensure_ascii=False).encode())
    now = datetime(2026, 9, 21, 9, 15, tzinfo=SHANGHAI)
    [emit] = handle_one(Intake(site), raw, now)  # the bundled site knows its category and grid
    case = emit.message.payload  # type: ignore[attr-defined]
    assert case.reporter.phone == "13812345678"
    assert case.category == "urban.garbage"


def test_not_utf8() -> None:
    error = decode_error("{}".encode("utf-16"))
    assert error.reason is RejectionReason.NOT_UTF8


def test_not_json() -> None:
    error = decode_error(b'{"channel": "web",')
    assert error.reason is RejectionReason.NOT_JSON


def test_missing_fields_are_each_named() -> None:
    error = decode_error(b'{"channel": "web"}')
    assert error.reason is RejectionReason.INVALID
    locs = {e.loc for e in error.errors}
    # grid_id may be left out for a point (location.lat and .lon), checked once the
    # fields are valid: see test_a_missing_grid_id_is_named_once_the_rest_is_valid
    assert locs == {"external_id", "reported_at", "category", "description"}
    assert all(e.type == "missing" for e in error.errors)


def test_a_missing_grid_id_is_named_once_the_rest_is_valid() -> None:
    example = documented_example()
    del example["grid_id"]
    example.pop("location", None)
    error = decode_error(json.dumps(example).encode())
    assert error.reason is RejectionReason.INVALID
    assert [(e.loc, e.type) for e in error.errors] == [("grid_id", "missing")]
    assert "location" in error.errors[0].msg


def test_bad_enum_naive_time_and_unknown_field() -> None:
    example = documented_example()
    example.update(
        channel="fax",
        urgency="whenever",
        reported_at="2024-06-03T09:12:45",
        colour="red",
    )
    example["reporter"]["anonymous"] = "perhaps"
    error = decode_error(json.dumps(example).encode())
    assert error.reason is RejectionReason.INVALID
    by_loc = {e.loc: e.type for e in error.errors}
    assert by_loc == {
        "channel": "enum",
        "urgency": "enum",
        "reported_at": "timezone_aware",
        "colour": "extra_forbidden",
        "reporter.anonymous": "bool_type",  # strict: "perhaps" is not read as a boolean
    }


def test_field_errors_do_not_echo_personal_data() -> None:
    example = documented_example()
    example["reporter"]["phone"] = "1" * 40  # over the 32-character limit
    error = decode_error(json.dumps(example, ensure_ascii=False).encode())
    assert [e.loc for e in error.errors] == ["reporter.phone"]
    assert "1" * 40 not in error.message


def test_too_many_attachments_and_empty_description() -> None:
    example = documented_example()
    example["attachments"] = [f"https://files.example.org/{i}.jpg" for i in range(21)]
    example["description"] = ""
    error = decode_error(json.dumps(example).encode())
    assert {e.loc for e in error.errors} == {"attachments", "description"}

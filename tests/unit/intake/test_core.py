"""Intake's logic: a good report becomes one case; every rule refuses with its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from intake import Intake, case_id_for
from schemas.cases import CaseReceived
from schemas.catalogue import SenderRole, Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.reports import Channel, RawReport, Urgency
from schemas.topics import CASES_RECEIVED
from tests.support.processing import handle_one
from tests.support.sites import SHANGHAI
from tests.unit.intake.conftest import NOW


def report(**changes: Any) -> RawReport:
    data: dict[str, Any] = {
        "channel": "hotline_12345",
        "external_id": "NB-0001",
        "reported_at": "2024-06-03T09:12:45+08:00",
        "category": "urban.garbage",
        "grid_id": "s-a-g1",
        "description": "东门垃圾桶已满三天，无人清运。",
        "reporter": {"name": "王女士", "phone": "13812345678"},
    }
    data.update(changes)
    return RawReport.model_validate(data)


def refusal(site: Site, raw: RawReport, now: datetime = NOW) -> Rejected:
    with pytest.raises(Rejected) as info:
        handle_one(Intake(site), raw, now)
    return info.value


def the_case(site: Site, raw: RawReport, now: datetime = NOW) -> CaseReceived:
    [emit] = handle_one(Intake(site), raw, now)
    assert isinstance(emit.message, CaseReceived)
    return emit.message


def test_processor_reads_raw_reports_and_every_senders_commands(small_site: Site) -> None:
    intake = Intake(small_site)
    assert intake.name == "intake"
    senders = small_site.all_senders()
    assert intake.topics == (
        *(f"gridflow.reports.{s.id}" for s in senders if s.role is SenderRole.CHANNEL),
        *(f"gridflow.commands.{s.id}" for s in senders),
    )


def test_good_report_becomes_one_case_received(small_site: Site) -> None:
    [emit] = handle_one(Intake(small_site), report(), NOW)
    event = emit.message
    assert isinstance(event, CaseReceived)
    assert emit.topic == CASES_RECEIVED.name
    assert emit.key == event.case_id == event.payload.case_id
    assert event.producer == "intake"
    assert event.occurred_at == NOW
    case = event.payload
    assert case.case_id == case_id_for("hotline_12345", "NB-0001")
    assert case.channel is Channel.HOTLINE_12345
    assert case.category == "urban.garbage"
    assert case.grid_id == "s-a-g1"
    assert case.urgency is Urgency.NORMAL
    assert case.received_at == NOW
    assert case.reporter is not None and case.reporter.phone == "13812345678"


def test_case_id_shape_and_stability(small_site: Site) -> None:
    first = the_case(small_site, report())
    again = the_case(small_site, report(), NOW + timedelta(hours=2))
    assert first.case_id == again.case_id
    assert first.event_id == again.event_id
    assert first.case_id is not None
    assert first.case_id.startswith("GF-") and len(first.case_id) == 19
    hexpart = first.case_id[3:]
    assert hexpart == hexpart.upper() and int(hexpart, 16) >= 0
    other = the_case(small_site, report(external_id="NB-0002"))
    assert other.case_id != first.case_id and other.event_id != first.event_id
    web = the_case(small_site, report(channel="web"))
    assert web.case_id != first.case_id


def test_external_id_is_stripped_before_the_case_id(small_site: Site) -> None:
    padded = the_case(small_site, report(external_id="  NB-0001 "))
    assert padded.payload.external_id == "NB-0001"
    assert padded.case_id == the_case(small_site, report()).case_id


def test_unknown_category_and_grid_are_both_reported(small_site: Site) -> None:
    error = refusal(small_site, report(category="urban.nothing", grid_id="s-a-g9"))
    assert error.reason is RejectionReason.UNKNOWN_REFERENCE
    assert [e.loc for e in error.errors] == ["category", "grid_id"]
    assert "urban.nothing" in error.message and "s-a-g9" in error.message


def test_an_unknown_category_alone_is_a_case_for_the_dispatch_queue(small_site: Site) -> None:
    """Not refused: the case keeps the code as given (normalised), gets its id as any
    report does, and the router queues it (人工分拨)."""
    case = the_case(small_site, report(category=" Urban.Nothing ")).payload
    assert case.category == "urban.nothing" and case.case_id.startswith("GF-")
    assert small_site.category(case.category) is None


def test_a_community_is_not_a_grid(small_site: Site) -> None:
    error = refusal(small_site, report(grid_id="s-a"))
    assert [e.loc for e in error.errors] == ["grid_id"]


def test_category_and_grid_are_matched_case_insensitively(small_site: Site) -> None:
    case = the_case(small_site, report(category="  Urban.GARBAGE ", grid_id=" S-A-G1")).payload
    assert (case.category, case.grid_id) == ("urban.garbage", "s-a-g1")


def test_reported_at_more_than_15_minutes_ahead_is_refused(small_site: Site) -> None:
    ahead = (NOW + timedelta(minutes=15, seconds=1)).isoformat()
    error = refusal(small_site, report(reported_at=ahead))
    assert error.reason is RejectionReason.INVALID
    assert [e.loc for e in error.errors] == ["reported_at"]
    on_edge = (NOW + timedelta(minutes=15)).isoformat()
    assert the_case(small_site, report(reported_at=on_edge)).payload.reported_at > NOW


def test_reported_at_is_converted_to_shanghai(small_site: Site) -> None:
    case = the_case(small_site, report(reported_at="2024-06-03T01:00:00Z")).payload
    assert case.reported_at.utcoffset() == timedelta(hours=8)
    assert case.reported_at.tzinfo == SHANGHAI
    assert case.reported_at.hour == 9
    assert case.reported_at == datetime(2024, 6, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+86 138-1234-5678", "13812345678"),
        ("0086 (138) 1234 5678", "13812345678"),
        ("(0574) 8765-4321", "057487654321"),
        ("１３８１２３４５６７８", "13812345678"),
        ("110", "110"),
        ("   ", None),
    ],
)
def test_phone_is_normalised(small_site: Site, given: str, expected: str | None) -> None:
    reporter = {"name": "王女士", "phone": given}
    case = the_case(small_site, report(reporter=reporter)).payload
    assert case.reporter is not None and case.reporter.phone == expected


@pytest.mark.parametrize("bad", ["12", "+1 555 0100", "138-1234-abcd", "1" * 21, "0086"])
def test_bad_phone_is_refused(small_site: Site, bad: str) -> None:
    error = refusal(small_site, report(reporter={"name": "王女士", "phone": bad}))
    assert error.reason is RejectionReason.INVALID
    assert [e.loc for e in error.errors] == ["reporter.phone"]
    assert bad not in error.message  # personal data stays out of the dead letter's text


def test_anonymous_reporter_loses_name_and_phone(small_site: Site) -> None:
    raw = report(reporter={"name": "王女士", "phone": "not a phone", "anonymous": True})
    reporter = the_case(small_site, raw).payload.reporter
    assert reporter is not None
    assert (reporter.name, reporter.phone, reporter.anonymous) == (None, None, True)


@pytest.mark.parametrize("bad", ["ftp://x.org/a.jpg", "photo.jpg", "https://", "http://a b"])
def test_attachments_must_be_web_urls(small_site: Site, bad: str) -> None:
    raw = report(attachments=["https://files.example.org/ok.jpg", bad])
    error = refusal(small_site, raw)
    assert [e.loc for e in error.errors] == ["attachments.1"]


def test_every_problem_is_collected_before_refusing(small_site: Site) -> None:
    raw = report(
        category="nope",
        grid_id="nowhere",
        description="   ",
        external_id="  ",
        reported_at=(NOW + timedelta(days=1)).isoformat(),
        reporter={"phone": "x"},
        attachments=["mailto:a@b.c"],
    )
    error = refusal(small_site, raw)
    assert error.reason is RejectionReason.INVALID  # format problems outrank references
    assert {e.loc for e in error.errors} == {
        "external_id",
        "category",
        "grid_id",
        "description",
        "reported_at",
        "reporter.phone",
        "attachments.0",
    }


def test_text_is_normalised(small_site: Site) -> None:
    decomposed = "Cafe\u0301"  # 'e' + combining acute: NFC makes it one 'é'
    raw = report(
        title=f"  {decomposed}\u3000 门口\t垃圾  ",
        description="  第一行   有  空格 \r\n\r\n\r\n  第二行\t\t结束  ",
        location={"address": "  兴庄路\n88号  ", "lat": 29.9},
        reporter={"name": "  王 \u3000女士 ", "phone": "13812345678"},
        attachments=["  https://files.example.org/a.jpg  "],
    )
    case = the_case(small_site, raw).payload
    assert case.title == "Café 门口 垃圾"
    assert case.description == "第一行 有 空格\n\n第二行 结束"
    assert case.location is not None and case.location.address == "兴庄路 88号"
    assert case.reporter is not None and case.reporter.name == "王 女士"
    assert case.attachments == ["https://files.example.org/a.jpg"]


def test_title_defaults_to_the_start_of_the_description(small_site: Site) -> None:
    short = the_case(small_site, report(description="路灯坏了")).payload
    assert short.title == "路灯坏了"
    long_text = "一二三四五六七八九十" * 5
    long = the_case(small_site, report(description=long_text, title="   ")).payload
    assert long.title == long_text[:30] + "…"
    multi = the_case(small_site, report(description="第一行\n第二行")).payload
    assert multi.title == "第一行 第二行"


def test_blank_address_only_location_is_dropped(small_site: Site) -> None:
    case = the_case(small_site, report(location={"address": "   "})).payload
    assert case.location is None


def test_other_messages_are_refused(small_site: Site) -> None:
    event = the_case(small_site, report())
    error = refusal(small_site, event)  # type: ignore[arg-type]
    assert error.reason is RejectionReason.UNKNOWN_TYPE


# U+0958 (DEVANAGARI LETTER QA) is excluded from composition: NFC makes it two code points
LENGTHENS = "\u0958"


def test_a_name_nfc_lengthens_past_its_limit_is_refused_without_echoing_it(
    small_site: Site,
) -> None:
    name = LENGTHENS * 60  # 60 as sent, 120 once normalised: Reporter allows 100
    error = refusal(small_site, report(reporter={"name": name, "phone": "13812345678"}))
    assert error.reason is RejectionReason.INVALID
    [field] = error.errors
    assert (field.loc, field.type) == ("reporter.name", "string_too_long")
    assert "once normalised" in field.msg
    assert LENGTHENS not in error.message and LENGTHENS not in field.msg


def test_an_address_nfc_lengthens_past_its_limit_is_refused(small_site: Site) -> None:
    raw = report(location={"address": LENGTHENS * 300, "lat": 29.9})  # 600 once normalised
    error = refusal(small_site, raw)
    assert [(e.loc, e.type) for e in error.errors] == [("location.address", "string_too_long")]
    assert LENGTHENS not in error.message


def test_limits_after_normalising_are_collected_with_the_other_problems(
    small_site: Site,
) -> None:
    raw = report(category="nope", reporter={"name": LENGTHENS * 60})
    error = refusal(small_site, raw)
    assert error.reason is RejectionReason.INVALID
    assert [e.loc for e in error.errors] == ["category", "reporter.name"]


def test_control_characters_are_removed(small_site: Site) -> None:
    raw = report(
        title="门口\x00垃圾\x9f",
        description="第一行\x07\x00结束\n第二\t行\x0b尾\x85巴\x1b",
        location={"address": "兴庄路\x0088号\x7f"},
        reporter={"name": "王\x00女士\x1f"},
    )
    event = the_case(small_site, raw)
    case = event.payload
    assert case.title == "门口垃圾"
    assert case.description == "第一行结束\n第二 行 尾 巴"
    assert case.location is not None and case.location.address == "兴庄路88号"
    assert case.reporter is not None and case.reporter.name == "王女士"
    assert "\\u0000" not in event.model_dump_json()  # PostgreSQL's JSONB refuses it


def test_a_phone_with_a_control_character_is_refused(small_site: Site) -> None:
    error = refusal(small_site, report(reporter={"phone": "138\x0012345678"}))
    assert [e.loc for e in error.errors] == ["reporter.phone"]


def test_ids_and_urls_with_control_characters_are_refused_not_altered(
    small_site: Site,
) -> None:
    raw = report(external_id="NB-\x000001", attachments=["https://files.example.org/a\x00.jpg"])
    error = refusal(small_site, raw)
    assert error.reason is RejectionReason.INVALID
    assert [(e.loc, e.type) for e in error.errors] == [
        ("external_id", "control_character"),
        ("attachments.0", "control_character"),
    ]


def test_times_are_stored_in_the_site_timezone(small_site: Site) -> None:
    urumqi = small_site.model_copy(update={"timezone": "Asia/Urumqi"})  # UTC+6
    intake = Intake(urumqi)
    assert intake.site.tz == ZoneInfo("Asia/Urumqi")
    raw = report(reported_at="2024-06-03T01:00:00Z")
    [emit] = handle_one(intake, raw, NOW)
    case = emit.message.payload  # type: ignore[attr-defined]
    assert case.reported_at.tzinfo == ZoneInfo("Asia/Urumqi")
    assert (case.reported_at.hour, case.reported_at.utcoffset()) == (7, timedelta(hours=6))
    assert case.received_at.tzinfo == ZoneInfo("Asia/Urumqi")
    assert case.received_at == NOW and case.received_at.hour == 8

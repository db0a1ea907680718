"""Each format's bytes on its channel's report topic, through the runtime's decoding and
intake, to a case; and the refusals a channel sees on the way (format, size, fields)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from intake import Intake
from schemas.access import channel_topic
from schemas.catalogue import Site
from schemas.codec import DecodeError, decode
from schemas.deadletter import Rejected, RejectionReason
from schemas.deadlines import DeadlineKind
from schemas.formats import GridAppReport, Open311Request, WorkOrder12345
from schemas.reports import Channel, RawReport, Tier
from schemas.topics import REPORTS_OF
from tests.support.processing import handle_one
from tests.support.sites import SHANGHAI

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
NOW = datetime(2026, 9, 21, 12, 0, tzinfo=SHANGHAI)


def example_bytes(name: str, **changes: Any) -> bytes:
    data = json.loads((EXAMPLES / name).read_text(encoding="utf-8")) | changes
    return json.dumps(data, ensure_ascii=False).encode()


def case_of(site: Site, channel: Channel, value: bytes) -> Any:
    message = decode(REPORTS_OF, value)
    [emit] = handle_one(Intake(site), message, NOW, channel_topic(site, channel).name)
    return emit.message.payload  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("report.json", RawReport),
        ("work_order_12345.json", WorkOrder12345),
        ("grid_app_report.json", GridAppReport),
        ("open311_request.json", Open311Request),
    ],
)
def test_each_format_decodes_by_its_format_field(name: str, model: type) -> None:
    assert type(decode(REPORTS_OF, example_bytes(name))) is model


def test_a_report_without_format_is_native() -> None:
    data = json.loads((EXAMPLES / "report.json").read_text(encoding="utf-8"))
    del data["format"]
    assert type(decode(REPORTS_OF, json.dumps(data).encode())) is RawReport


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(DecodeError) as info:
        decode(REPORTS_OF, b'{"format": "fax.v1"}')
    assert info.value.reason is RejectionReason.UNKNOWN_TYPE
    assert "hotline_12345.work_order" in info.value.message and "fax.v1" in info.value.message


@pytest.mark.parametrize("value", [b'{"format": 7}', b'{"format": null}', b"[]", b'"x"'])
def test_odd_formats_and_non_objects_are_refused_with_a_reason(value: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode(REPORTS_OF, value)
    assert info.value.reason in (RejectionReason.UNKNOWN_TYPE, RejectionReason.INVALID)
    assert info.value.message


def test_an_oversized_value_is_refused_unread() -> None:
    value = b"{" + b" " * 2000 + b"}"  # no JSON parser runs on it
    with pytest.raises(DecodeError) as info:
        decode(REPORTS_OF, value, limit=1024)
    assert info.value.reason is RejectionReason.TOO_LARGE
    assert "2002 bytes" in info.value.message and "1024" in info.value.message
    assert decode(REPORTS_OF, example_bytes("report.json"), limit=4096)


def test_work_order_becomes_a_hotline_case(site: Site) -> None:
    case = case_of(site, Channel.HOTLINE_12345, example_bytes("work_order_12345.json"))
    assert case.channel == "hotline_12345" and case.request_type == "help"
    assert case.source.format == "hotline_12345.work_order"
    assert case.source.callback_url == "https://hotline.example.org/12345/answers"


def test_app_report_becomes_a_case_with_its_worker(site: Site) -> None:
    case = case_of(site, Channel.GRID_APP, example_bytes("grid_app_report.json"))
    assert case.channel == "grid_app" and case.source.worker_id == "zs-worker-0173"
    assert case.reporter is None and len(case.attachments) == 2


def test_a_format_takes_the_channel_of_its_topic(site: Site) -> None:
    case = case_of(site, Channel.WEB, example_bytes("open311_request.json"))
    assert case.channel == "web" and case.source.format == "open311.request"


def test_the_native_report_keeps_no_source_unless_it_sends_one(site: Site) -> None:
    data = json.loads((EXAMPLES / "report.json").read_text(encoding="utf-8"))
    del data["source"]
    case = case_of(site, Channel.HOTLINE_12345, json.dumps(data).encode())
    assert case.source is None
    sent = case_of(site, Channel.HOTLINE_12345, example_bytes("report.json"))
    assert sent.source.format == "native" and sent.source.callback_reference == "NB-000817"


def test_refusals_after_mapping_name_the_format_fields(site: Site) -> None:
    value = example_bytes("grid_app_report.json", category="urban.nothing", grid_id="zs-nowhere")
    with pytest.raises(Rejected) as info:
        case_of(site, Channel.GRID_APP, value)
    assert info.value.reason is RejectionReason.UNKNOWN_REFERENCE
    assert {e.loc for e in info.value.errors} == {"category", "grid_id"}


def test_a_photo_link_that_is_no_web_url_is_named_as_a_photo(site: Site) -> None:
    value = example_bytes("grid_app_report.json", photos=["file:///etc/passwd"])
    with pytest.raises(Rejected) as info:
        case_of(site, Channel.GRID_APP, value)
    assert [e.loc for e in info.value.errors] == ["photos.0"]


def test_a_callback_that_is_no_web_url_is_refused(site: Site) -> None:
    value = example_bytes("work_order_12345.json", callback={"url": "mailto:a@b.example"})
    with pytest.raises(Rejected) as info:
        case_of(site, Channel.HOTLINE_12345, value)
    assert [e.loc for e in info.value.errors] == ["callback.url"]


def test_a_point_off_the_map_is_a_case_for_manual_dispatch(site: Site) -> None:
    value = example_bytes("grid_app_report.json", point={"lat": 10.0, "lon": 10.0})
    case = case_of(site, Channel.GRID_APP, value)
    assert case.grid_id == site.area.id and case.placement is not None
    assert case.placement.off_map


def test_a_point_off_the_map_with_another_problem_names_the_format_field(site: Site) -> None:
    value = example_bytes(
        "grid_app_report.json", point={"lat": 10.0, "lon": 10.0}, photos=["file:///x"]
    )
    with pytest.raises(Rejected) as info:
        case_of(site, Channel.GRID_APP, value)
    assert {e.loc for e in info.value.errors} == {"photos.0", "point"}


@pytest.mark.parametrize(
    ("request_type", "urgency", "policy"),
    [("咨询", "一般", "enquiry"), ("投诉", "一般", "complaint"), ("投诉", "紧急", "urgent")],
)
def test_request_type_and_urgency_select_the_deadline_policy(
    site: Site, request_type: str, urgency: str, policy: str
) -> None:
    value = example_bytes("work_order_12345.json", request_type=request_type, urgency=urgency)
    case = case_of(site, Channel.HOTLINE_12345, value)
    _, override = site.limit_for(DeadlineKind.RESOLVE, Tier.STREET, case)
    assert override is not None and override.name == policy


def test_an_open311_request_for_another_site_is_refused(site: Site) -> None:
    value = example_bytes("open311_request.json", jurisdiction_id="yichang")
    with pytest.raises(Rejected) as info:
        case_of(site, Channel.OPEN311, value)
    assert info.value.reason is RejectionReason.UNKNOWN_REFERENCE
    assert [e.loc for e in info.value.errors] == ["jurisdiction_id"]

"""Every report format's mapping to the native report, on the documented examples and
on each way a format's own fields can be refused (named as the format names them)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from intake.core import to_case
from intake.formats import MAPPINGS, source_loc, to_raw
from intake.formats.hotline import with_street
from intake.formats.open311 import reporter_name
from schemas.catalogue import Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.formats import FORMATS, Callback, GridAppReport, Open311Request, WorkOrder12345
from schemas.reports import Channel, RawReport, RequestType, Urgency
from tests.support.sites import SHANGHAI

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
NOW = datetime(2026, 9, 21, 12, 0, tzinfo=SHANGHAI)


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def work_order(**changes: Any) -> WorkOrder12345:
    return WorkOrder12345.model_validate(example("work_order_12345.json") | changes)


def app_report(**changes: Any) -> GridAppReport:
    return GridAppReport.model_validate(example("grid_app_report.json") | changes)


def open311(**changes: Any) -> Open311Request:
    return Open311Request.model_validate(example("open311_request.json") | changes)


def refusal(message: Any, channel: Channel = Channel.HOTLINE_12345) -> Rejected:
    with pytest.raises(Rejected) as info:
        to_raw(message, channel)
    return info.value


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("work_order_12345.json", WorkOrder12345),
        ("grid_app_report.json", GridAppReport),
        ("open311_request.json", Open311Request),
    ],
)
def test_documented_examples_show_every_field(name: str, model: type) -> None:
    assert set(example(name)) == set(model.model_fields)


def test_every_format_has_a_mapping_and_a_documented_example() -> None:
    assert set(MAPPINGS) == set(FORMATS)
    docs = (EXAMPLES.parent / "FORMATS.md").read_text(encoding="utf-8")
    for model in FORMATS:
        assert f'"{model.FORMAT}"' in docs  # type: ignore[attr-defined]


def test_work_order_maps_every_field(site: Site) -> None:
    raw = to_raw(work_order(), Channel.HOTLINE_12345)
    assert raw.channel is Channel.HOTLINE_12345
    assert raw.external_id == "NB12345-20260921-001203"
    assert raw.reported_at == datetime(2026, 9, 21, 8, 47, 10, tzinfo=SHANGHAI)
    assert raw.request_type is RequestType.HELP  # 求助
    assert raw.urgency is Urgency.NORMAL  # 一般
    assert raw.title == "兴庄路88号东门路灯损坏"
    assert raw.location is not None and raw.location.address == "庄市街道 兴庄路88号东门"
    assert raw.reporter is not None and raw.reporter.name == "李先生"
    assert raw.source is not None
    assert raw.source.callback_url == "https://hotline.example.org/12345/answers"
    assert raw.source.callback_reference == "NB-001203"
    case = to_case(raw, site, NOW)
    assert case.grid_id == "zs-zb-g09"  # placed from the geocoded point
    assert case.reporter is not None and case.reporter.phone == "057486123456"
    assert case.description.startswith("来电人反映")
    assert "\n" in case.description  # the caller's paragraphs are kept


@pytest.mark.parametrize(
    ("word", "expected"),
    [(w, t) for w, t in [("咨询", "enquiry"), ("求助", "help"), ("投诉", "complaint")]]
    + [("举报", "report"), ("建议", "suggestion"), ("Complaint", "complaint")],
)
def test_work_order_request_types_in_chinese_or_english(word: str, expected: str) -> None:
    assert to_raw(work_order(request_type=word), Channel.HOTLINE_12345).request_type == expected


@pytest.mark.parametrize(("word", "expected"), [("紧急", "urgent"), ("特急", "urgent")])
def test_work_order_urgency_words(word: str, expected: str) -> None:
    assert to_raw(work_order(urgency=word), Channel.HOTLINE_12345).urgency == expected


def test_work_order_unknown_request_type_is_refused_by_its_model() -> None:
    with pytest.raises(ValidationError) as info:
        work_order(request_type="表扬")
    [error] = info.value.errors()
    assert error["loc"] == ("request_type",)
    assert "咨询" in error["msg"] and "enquiry" in error["msg"]


def test_confidential_work_order_keeps_no_caller() -> None:
    raw = to_raw(work_order(confidential=True), Channel.HOTLINE_12345)
    assert raw.reporter is not None and raw.reporter.anonymous
    assert raw.reporter.name is None and raw.reporter.phone is None


def test_work_order_without_grid_or_point_is_refused_in_its_own_words() -> None:
    refused = refusal(work_order(lat=None, lon=None))
    assert refused.reason is RejectionReason.INVALID
    assert [e.loc for e in refused.errors] == ["grid_id"]


def test_work_order_named_grid_is_taken_and_checked(site: Site) -> None:
    raw = to_raw(work_order(grid_id="zs-xzl-g03", lat=None, lon=None), Channel.HOTLINE_12345)
    assert to_case(raw, site, NOW).grid_id == "zs-xzl-g03"


def test_street_is_put_before_the_address_once() -> None:
    assert with_street("庄市街道", "兴庄路1号") == "庄市街道 兴庄路1号"
    assert with_street("庄市街道", "庄市街道兴庄路1号") == "庄市街道兴庄路1号"
    assert with_street(None, "兴庄路1号") == "兴庄路1号"
    assert with_street("庄市街道", None) == "庄市街道"
    assert with_street(" ", " ") is None


def test_app_report_maps_point_photos_and_worker(site: Site) -> None:
    raw = to_raw(app_report(), Channel.GRID_APP)
    assert raw.channel is Channel.GRID_APP
    assert raw.location is not None and (raw.location.lat, raw.location.lon) == (29.9489, 121.6213)
    assert raw.attachments == [
        "https://files.example.org/app/0042/1.jpg",
        "https://files.example.org/app/0042/2.jpg",
    ]
    assert raw.reporter is None  # the worker is no resident
    assert raw.source is not None and raw.source.worker_id == "zs-worker-0173"
    case = to_case(raw, site, NOW)
    assert case.grid_id == "zs-zb-g09"
    assert case.placement is not None


def test_app_report_needs_a_point() -> None:
    data = example("grid_app_report.json")
    del data["point"]
    with pytest.raises(ValidationError) as info:
        GridAppReport.model_validate(data)
    assert [e["loc"] for e in info.value.errors()] == [("point",)]


def test_app_report_at_most_nine_photos() -> None:
    with pytest.raises(ValidationError):
        app_report(photos=[f"https://files.example.org/{i}.jpg" for i in range(10)])


def test_open311_maps_its_fields(site: Site) -> None:
    raw = to_raw(open311(), Channel.OPEN311)
    assert raw.external_id == "O311-7F3A9C2E41D0B865"
    assert raw.category == "urban.road_damage"
    assert raw.request_type is RequestType.COMPLAINT
    assert raw.reporter is not None and raw.reporter.name == "张芳"  # 姓 before 名
    assert raw.location is not None and raw.location.address == "兴庄路88号"
    assert raw.attachments == ["https://files.example.org/open311/road.jpg"]
    assert to_case(raw, site, NOW).grid_id == "zs-zb-g09"


def test_open311_chinese_attribute_words() -> None:
    raw = to_raw(open311(attributes={"request_type": "举报", "urgency": "紧急"}), Channel.OPEN311)
    assert (raw.request_type, raw.urgency) == (RequestType.REPORT, Urgency.URGENT)


def test_open311_unknown_attribute_value_is_named_as_an_attribute() -> None:
    refused = refusal(open311(attributes={"request_type": "praise"}), Channel.OPEN311)
    assert [e.loc for e in refused.errors] == ["attribute[request_type]"]


def test_open311_address_alone_cannot_be_placed() -> None:
    refused = refusal(open311(lat=None, long=None), Channel.OPEN311)
    assert [e.loc for e in refused.errors] == ["lat"]


def test_open311_without_description_is_refused_by_name() -> None:
    refused = refusal(open311(description=None), Channel.OPEN311)
    assert [e.loc for e in refused.errors] == ["description"]


def test_open311_western_names_keep_their_order() -> None:
    assert reporter_name("Jane", "Doe") == "Jane Doe"
    assert reporter_name(None, "Doe") == "Doe"
    assert reporter_name("芳", "张") == "张芳"
    assert reporter_name(" ", None) is None


def test_the_native_report_is_its_own_mapping() -> None:
    raw = RawReport.model_validate(example("report.json"))
    assert to_raw(raw, Channel.WEB) is raw


def test_an_unknown_model_is_refused_as_unknown_type() -> None:
    refused = refusal(Callback(url="https://a.example/"), Channel.WEB)  # no report at all
    assert refused.reason is RejectionReason.UNKNOWN_TYPE


def test_source_loc_takes_the_longest_prefix() -> None:
    fields = {"location": "point", "location.lat": "point.lat", "attachments": "photos"}
    assert source_loc("location.lat", fields) == "point.lat"
    assert source_loc("location.address", fields) == "point.address"
    assert source_loc("attachments.3", fields) == "photos.3"
    assert source_loc("category", fields) == "category"


def test_joined_text_too_long_is_named_in_the_format(site: Site) -> None:
    refused = refusal(work_order(street="街" * 300, address="路" * 300))
    assert [e.loc for e in refused.errors] == ["address"]


def test_the_docs_quote_each_example_whole() -> None:
    docs = (EXAMPLES.parent / "FORMATS.md").read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.iterdir()):
        assert path.read_text(encoding="utf-8").rstrip() in docs, path.name

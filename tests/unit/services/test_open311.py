"""The Open311 gateway's routes in-process (FastAPI's TestClient): discovery, services,
POST with its validation and errors, tokens and requests from an archive on SQLite.

The publisher here records what the app hands it (a fake in the tests: the real
one, against Kafka, is tests/integration/services/test_open311_http.py).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import Engine, insert

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from archive.sql import archive_cases
from intake.core import case_id_for
from schemas.catalogue import Site
from schemas.codec import decode
from schemas.formats import Open311Request
from schemas.reports import Channel
from schemas.topics import report_topic
from services.open311.app import create_app
from services.open311.gateway import Gateway, Jurisdiction, Unavailable, token_for
from services.runtime.names import Names
from storage.db import make_engine, metadata

NOW = datetime(2026, 9, 21, 3, 30, tzinfo=UTC)
KEY = "k-open311"
FORM = {
    "api_key": KEY,
    "service_code": "urban.road_damage",
    "lat": "29.9489",
    "long": "121.6213",
    "address_string": "兴庄路88号",
    "first_name": "芳",
    "last_name": "张",
    "phone": "139 0000 1111",
    "description": "人行道地砖松动",
    "media_url": "https://files.example.org/open311/road.jpg",
    "attribute[request_type]": "complaint",
}


class Recording:
    """Records each publish; ``fail`` makes the next ones raise as a broker away would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = False

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        if self.fail:
            raise Unavailable("KafkaTimeoutError")
        self.sent.append((topic, key, value))


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'archive.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def publisher() -> Recording:
    return Recording()


def gateway(site: Site, archive: Engine, publisher: Recording, **more: Any) -> Gateway:
    return Gateway(
        jurisdictions={site.id: Jurisdiction(site, Names("ns1"), archive), **more},
        keys={KEY: "channel.open311", "k-web": "channel.web"},
        publisher=publisher,
        clock=lambda: NOW,
        max_bytes=4096,
        started_at=datetime(2026, 9, 1, tzinfo=UTC),
        base_url="http://127.0.0.1:8311/",
    )


@pytest.fixture
def client(site: Site, archive: Engine, publisher: Recording) -> TestClient:
    return TestClient(create_app(gateway(site, archive, publisher)))


def error_list(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert isinstance(body, list) and body
    assert all(set(e) == {"code", "description"} for e in body)
    assert {e["code"] for e in body} == {response.status_code}
    return body


def xml_errors(response: Any) -> list[tuple[str, str]]:
    root = ElementTree.fromstring(response.content)
    assert root.tag == "errors"
    return [(e.findtext("code") or "", e.findtext("description") or "") for e in root]


def test_discovery_names_the_specification_and_both_formats(client: TestClient) -> None:
    body = client.get("/discovery.json").json()
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["application/json", "text/xml"]
    root = ElementTree.fromstring(client.get("/discovery.xml").content)
    assert root.tag == "discovery"
    assert [f.text for f in root.iter("format")] == ["application/json", "text/xml"]


def test_services_are_the_site_categories(client: TestClient, site: Site) -> None:
    body = client.get("/services.json").json()
    assert [s["service_code"] for s in body] == [c.code for c in site.categories]
    garbage = next(s for s in body if s["service_code"] == "urban.garbage")
    assert garbage["service_name"] == "生活垃圾清运不及时" or garbage["service_name"]
    assert garbage["metadata"] is True and garbage["type"] == "realtime"
    response = client.get("/services.xml")
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ElementTree.fromstring(response.content)
    assert root.tag == "services" and len(root.findall("service")) == len(site.categories)


def test_service_definition_offers_request_type_and_urgency(client: TestClient) -> None:
    body = client.get("/services/urban.garbage.json").json()
    assert body["service_code"] == "urban.garbage"
    codes = {a["code"]: a for a in body["attributes"]}
    assert set(codes) == {"request_type", "urgency"}
    assert {v["key"] for v in codes["request_type"]["values"]} == {
        "enquiry", "help", "complaint", "report", "suggestion",
    }  # fmt: skip
    root = ElementTree.fromstring(client.get("/services/urban.garbage.xml").content)
    assert root.tag == "service_definition"
    assert [a.findtext("code") for a in root.iter("attribute")] == ["request_type", "urgency"]


def test_unknown_service_is_404(client: TestClient) -> None:
    [error] = error_list(client.get("/services/urban.nothing.json"))
    assert "urban.nothing" in error["description"]
    assert xml_errors(client.get("/services/urban.nothing.xml"))[0][0] == "404"


def test_post_produces_the_request_to_the_channel_topic(
    client: TestClient, publisher: Recording, site: Site
) -> None:
    response = client.post("/requests.json", data=FORM)
    assert response.status_code == 200, response.text
    [answer] = response.json()
    [(topic, key, value)] = publisher.sent
    assert topic == "ns1.reports.channel.open311"
    message = decode(report_topic("channel.open311"), value)
    assert isinstance(message, Open311Request)
    assert answer["token"] == message.token
    assert key == f"open311:{message.token}".encode()
    assert answer["service_request_id"] == case_id_for(Channel.OPEN311, message.token)
    assert message.attributes.request_type == "complaint"
    assert message.requested_datetime == NOW


def test_post_in_xml(client: TestClient, publisher: Recording) -> None:
    response = client.post("/requests.xml", data=FORM)
    root = ElementTree.fromstring(response.content)
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id", "").startswith("GF-")
    assert root.findtext("request/token", "").startswith("O311-")


def test_a_key_speaks_for_its_channel(client: TestClient, publisher: Recording) -> None:
    response = client.post("/requests.json", data=FORM | {"api_key": "k-web"})
    assert response.status_code == 200
    [(topic, key, _)] = publisher.sent
    assert topic == "ns1.reports.channel.web" and key.startswith(b"web:")


@pytest.mark.parametrize("key", [None, "", "wrong"])
def test_post_without_a_valid_key_is_403(
    client: TestClient, publisher: Recording, key: str | None
) -> None:
    form = {k: v for k, v in FORM.items() if k != "api_key"}
    if key is not None:
        form["api_key"] = key
    [error] = error_list(client.post("/requests.json", data=form))
    assert error["code"] == 403
    assert xml_errors(client.post("/requests.xml", data=form))[0][0] == "403"
    assert publisher.sent == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"service_code": ""}, "service_code"),
        ({"service_code": "urban.nothing"}, "service_code"),
        ({"lat": ""}, "lat and long"),
        ({"lat": "north"}, "lat"),
        ({"lat": "95"}, "lat"),
        ({"long": "nan"}, "long"),
        ({"description": ""}, "description"),
        ({"media_url": "ftp://files.example.org/x.jpg"}, "media_url"),
        ({"phone": "call me"}, "phone"),
        ({"attribute[request_type]": "praise"}, "attribute[request_type]"),
        ({"attribute[colour]": "red"}, "attribute[colour]"),
    ],
)
def test_post_refusals_are_400_naming_the_field(
    client: TestClient, publisher: Recording, change: dict[str, str], named: str
) -> None:
    response = client.post("/requests.json", data=FORM | change)
    errors = error_list(response)
    assert response.status_code == 400
    assert any(e["description"].startswith(named) for e in errors), errors
    assert publisher.sent == []


def test_a_point_on_no_grid_is_taken_for_manual_dispatch(
    client: TestClient, publisher: Recording
) -> None:
    """Not refused: it becomes a case like any other, which the router queues for the
    command room (人工分拨)."""
    response = client.post("/requests.json", data=FORM | {"lat": "10", "long": "10"})
    assert response.status_code == 200, response.text
    assert len(publisher.sent) == 1


def test_every_refused_field_is_its_own_error(client: TestClient) -> None:
    form = FORM | {"phone": "call me", "media_url": "ftp://x.example/y"}
    errors = error_list(client.post("/requests.json", data=form))
    assert len(errors) == 2


def test_oversized_body_is_refused_by_its_size(client: TestClient, publisher: Recording) -> None:
    response = client.post("/requests.json", data=FORM | {"description": "长" * 3000})
    [error] = error_list(response)
    assert response.status_code == 400 and "4096 bytes" in error["description"]
    assert publisher.sent == []


def test_broker_away_is_503_and_nothing_claimed(client: TestClient, publisher: Recording) -> None:
    publisher.fail = True
    response = client.post("/requests.json", data=FORM)
    assert response.status_code == 503
    assert "send it again" in error_list(response)[0]["description"]


def archived(engine: Engine, case_id: str, stage: str, **more: Any) -> None:
    row = {
        "case_id": case_id,
        "channel": "open311",
        "category": "urban.road_damage",
        "stage": stage,
        "stage_at": NOW,
        "unit_id": "zs.urban",
        "seq": 1,
        "reported_at": NOW,
        "received_at": NOW,
        "last_event_at": NOW,
        "escalations": 0,
        "lapsed_deadlines": 0,
        "deadline_warnings": 0,
    }
    with engine.begin() as conn:
        conn.execute(insert(archive_cases).values(row | more))


def test_requests_and_their_status_from_the_archive(client: TestClient, archive: Engine) -> None:
    archived(archive, "GF-AAAA", "accepted")
    archived(archive, "GF-BBBB", "closed", category="urban.garbage")
    archived(archive, "GF-DUPL", "duplicate")  # 重复件: closed as a request of its own
    body = client.get("/requests.json").json()
    assert {(r["service_request_id"], r["status"]) for r in body} == {
        ("GF-AAAA", "open"),
        ("GF-BBBB", "closed"),
        ("GF-DUPL", "closed"),
    }
    assert [r["service_request_id"] for r in client.get("/requests.json?status=open").json()] == [
        "GF-AAAA"
    ]
    only = client.get("/requests.json?service_code=urban.garbage").json()
    assert [r["status_notes"] for r in only] == ["closed"]
    [one] = client.get("/requests/GF-AAAA.json").json()
    assert one["agency_responsible"] == "zs.urban"
    assert "description" not in one and "address" not in one  # the resident's
    root = ElementTree.fromstring(client.get("/requests/GF-BBBB.xml").content)
    assert root.findtext("request/status") == "closed"
    assert client.get("/requests/GF-CCCC.json").status_code == 404


def test_requests_filters_are_checked(client: TestClient) -> None:
    for query in ("status=pending", "start_date=yesterday", "start_date=2026-09-21T00:00:00"):
        response = client.get(f"/requests.json?{query}")
        assert response.status_code == 400, query
        error_list(response)


def test_old_requests_need_dates(client: TestClient, archive: Engine) -> None:
    archived(archive, "GF-OLD", "closed", reported_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert client.get("/requests.json").json() == []  # the last 90 days by default
    dated = client.get("/requests.json?start_date=2025-12-01T00:00:00Z").json()
    assert [r["service_request_id"] for r in dated] == ["GF-OLD"]


def test_token_resolves_once_archived(client: TestClient, archive: Engine) -> None:
    token = token_for("channel.open311", b"x", NOW)
    assert client.get(f"/tokens/{token}.json").status_code == 404
    archived(archive, case_id_for(Channel.OPEN311, token), "assigned")
    [found] = client.get(f"/tokens/{token}.json").json()
    assert found == {"service_request_id": case_id_for(Channel.OPEN311, token), "token": token}


def test_jurisdiction_selects_the_site(
    site: Site, archive: Engine, publisher: Recording, tmp_path: Path
) -> None:
    from schemas.catalogue import load_site

    yichang = load_site(Path(__file__).resolve().parents[3] / "schemas" / "sites" / "yichang")
    other = Jurisdiction(yichang, Names("ns2"), archive)
    app = create_app(gateway(site, archive, publisher, **{yichang.id: other}))
    client = TestClient(app)
    assert client.get("/services.json").status_code == 400  # two sites: name one
    assert client.get(f"/services.json?jurisdiction_id={yichang.id}").json()[0]["service_code"] in {
        c.code for c in yichang.categories
    }
    assert client.get("/services.json?jurisdiction_id=atlantis").status_code == 404
    form = FORM | {"jurisdiction_id": site.id}
    assert client.post("/requests.json", data=form).status_code == 200
    assert publisher.sent[0][0] == "ns1.reports.channel.open311"


def test_unknown_path_and_format_are_404_in_the_error_list(client: TestClient) -> None:
    error_list(client.get("/nothing.json"))
    assert client.get("/services.html").status_code == 404
    assert xml_errors(client.get("/nothing.xml"))[0][0] == "404"


def test_openapi_is_published(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert {"/requests.{fmt}", "/services/{service_code}.{fmt}", "/tokens/{token_id}.{fmt}"} <= set(
        doc["paths"]
    )
    form = doc["paths"]["/requests.{fmt}"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in form


def test_json_is_utf8_and_chinese_readable(client: TestClient) -> None:
    response = client.get("/services.json")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "综合治理" in response.content.decode("utf-8")
    json.loads(response.content)


@pytest.mark.parametrize(
    "path",
    [
        "/requests.xml?service_code=%00",
        "/requests.json?service_request_id=a%01b",
        "/requests/GF%00.json",
    ],
)
def test_a_control_character_in_an_id_or_code_is_400(client: TestClient, path: str) -> None:
    """schemathesis found a NUL reaching the database as a 500."""
    got = client.get(path)
    assert got.status_code == 400
    assert "must not contain control characters" in got.text


def test_a_retry_under_its_idempotency_key_is_the_same_request(
    site: Site, archive: Engine, publisher: Recording
) -> None:
    clock = iter([NOW, NOW + timedelta(seconds=40), NOW + timedelta(seconds=80)])
    app = create_app(replace(gateway(site, archive, publisher), clock=lambda: next(clock)))
    client = TestClient(app)
    header = {"Idempotency-Key": "5b0e8c1e-2f7a-4c3e-9d51-0c6f3a2b7e10"}
    first = client.post("/requests.json", data=FORM, headers=header).json()
    again = client.post("/requests.json", data=FORM, headers=header).json()
    other = client.post("/requests.json", data=FORM | {"description": "另一处"}, headers=header)
    assert first == again  # the same token and case number: intake keeps one case
    assert publisher.sent[0][1] == publisher.sent[1][1]  # one record key: one partition
    assert other.json()[0]["token"] != first[0]["token"]  # the key names one body only


def test_without_a_key_each_post_is_its_own_request(
    site: Site, archive: Engine, publisher: Recording
) -> None:
    clock = iter([NOW, NOW + timedelta(seconds=40)])
    client = TestClient(
        create_app(replace(gateway(site, archive, publisher), clock=lambda: next(clock)))
    )
    tokens = {client.post("/requests.json", data=FORM).json()[0]["token"] for _ in range(2)}
    assert len(tokens) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "a\x07b"])
def test_a_malformed_idempotency_key_is_400(
    client: TestClient, key: str, publisher: Recording
) -> None:
    response = client.post("/requests.json", data=FORM, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in error_list(response)[0]["description"]
    assert publisher.sent == []

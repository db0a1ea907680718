"""Open311 over real HTTP: uvicorn on an ephemeral port, real Kafka, a real PostgreSQL
archive. A POST is on the broker when it is answered; intake makes a case of that very
record; once archived, its token and its status answer, in JSON and in XML; every
error is the specification's list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from xml.etree import ElementTree

import httpx
import pytest

from archive.sql import SqlArchiveStore
from intake import Intake
from schemas.catalogue import Site
from schemas.codec import decode
from schemas.formats import Open311Request
from schemas.processing import Inbound
from schemas.topics import report_topic
from storage.db import Transaction
from tests.integration.services.open311_server import KEY, SENDER, Served, serve_gateway
from tests.support.archived import archive_story

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

FORM = {
    "api_key": KEY,
    "service_code": "urban.streetlight",
    "lat": "29.9489",
    "long": "121.6213",
    "address_string": "兴庄路88号",
    "first_name": "Li",
    "last_name": "Wei",
    "phone": "13900001111",
    "description": "路灯不亮已经一周",
    "attribute[request_type]": "求助",
}


@pytest.fixture(scope="module")
def served(site: Site, kafka_bootstrap: str, postgres_url: str) -> Iterator[Served]:
    with serve_gateway(site, kafka_bootstrap, postgres_url) as s:
        yield s


def post(s: Served, fmt: str, form: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{s.base}/requests.{fmt}", data=form, timeout=30)


def get(s: Served, path: str, **params: str) -> httpx.Response:
    return httpx.get(s.base + path, params=params, timeout=30)


def on_the_broker(s: Served, token: str) -> tuple[bytes, bytes]:
    consumer = s.consumer()
    try:
        for record in consumer:  # bounded by consumer_timeout_ms
            if record.key == f"open311:{token}".encode():
                return record.key, record.value
    finally:
        consumer.close()
    raise AssertionError(f"{token} is not on {s.topic()}")


def test_a_post_is_acknowledged_becomes_a_case_and_answers_its_status(served: Served) -> None:
    response = post(served, "json", FORM)
    assert response.status_code == 200, response.text
    [answer] = response.json()
    token, case_id = answer["token"], answer["service_request_id"]
    assert get(served, f"/tokens/{token}.json").status_code == 404  # not archived yet

    _, value = on_the_broker(served, token)  # answered after the ack: it is there
    message = decode(report_topic(SENDER), value)
    assert isinstance(message, Open311Request) and message.token == token
    now = datetime.now(UTC)
    intake = Intake(served.site)
    [emits] = intake.handle([Inbound(message, now, report_topic(SENDER).name)])
    assert isinstance(emits, list)
    [received] = emits
    assert received.message.case_id == case_id  # type: ignore[attr-defined]
    tx = Transaction(served.archive)
    with tx.begin():
        archive_story(served.site, SqlArchiveStore(tx), [(received.message, now)])  # type: ignore[list-item]

    [found] = get(served, f"/tokens/{token}.json").json()
    assert found == {"service_request_id": case_id, "token": token}
    [one] = get(served, f"/requests/{case_id}.json").json()
    assert one["status"] == "open" and one["service_code"] == "urban.streetlight"
    assert one["status_notes"] == "assigned" and one["agency_responsible"]
    root = ElementTree.fromstring(get(served, f"/requests/{case_id}.xml").content)
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == case_id
    assert root.findtext("request/status") == "open"
    listed = get(served, "/requests.json", service_request_id=case_id).json()
    assert [r["service_request_id"] for r in listed] == [case_id]
    token_xml = ElementTree.fromstring(get(served, f"/tokens/{token}.xml").content)
    assert token_xml.findtext("request/service_request_id") == case_id


def test_a_post_in_xml(served: Served) -> None:
    response = post(served, "xml", FORM)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    root = ElementTree.fromstring(response.content)
    token = root.findtext("request/token") or ""
    on_the_broker(served, token)


def errors_of(response: httpx.Response, fmt: str) -> list[tuple[int, str]]:
    if fmt == "json":
        return [(e["code"], e["description"]) for e in response.json()]
    root = ElementTree.fromstring(response.content)
    assert root.tag == "errors"
    return [(int(e.findtext("code") or 0), e.findtext("description") or "") for e in root]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("method", "path", "form", "status"),
    [
        ("post", "/requests", FORM | {"api_key": "nope"}, 403),
        ("post", "/requests", {k: v for k, v in FORM.items() if k != "api_key"}, 403),
        ("post", "/requests", FORM | {"service_code": ""}, 400),
        ("post", "/requests", FORM | {"lat": "", "long": ""}, 400),
        ("post", "/requests", FORM | {"phone": "no phone"}, 400),
        ("post", "/requests", FORM | {"description": "很" * 4000}, 400),  # over 8192 bytes
        ("post", "/requests", FORM | {"jurisdiction_id": "atlantis"}, 404),
        ("get", "/services/urban.nothing", {}, 404),
        ("get", "/requests/GF-0000000000000000", {}, 404),
        ("get", "/tokens/O311-NOTHING", {}, 404),
        ("get", "/requests", {"status": "pending"}, 400),
        ("get", "/services", {"jurisdiction_id": "atlantis"}, 404),
    ],
)
def test_errors_are_the_specification_lists(
    served: Served, fmt: str, method: str, path: str, form: dict[str, str], status: int
) -> None:
    url = f"{served.base}{path}.{fmt}"
    response = (
        httpx.post(url, data=form, timeout=30)
        if method == "post"
        else httpx.get(url, params=form, timeout=30)
    )
    assert response.status_code == status, response.text
    found = errors_of(response, fmt)
    assert found and all(code == status and text for code, text in found)


def test_services_and_discovery_over_http(served: Served) -> None:
    services = get(served, "/services.json").json()
    assert len(services) == len(served.site.categories)
    root = ElementTree.fromstring(get(served, "/discovery.xml").content)
    assert (
        root.findtext("endpoints/endpoint/specification") == "http://wiki.open311.org/GeoReport_v2"
    )
    assert get(served, "/openapi.json").json()["paths"]

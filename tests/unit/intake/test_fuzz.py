"""Intake never dies on input (issue 11, point 5): arbitrary bytes and arbitrary JSON at
every intake path find no crash, no lost message and exactly one outcome per input.

- Kafka: records on every channel's report topic and a sender's command topic, through
  the runtime's batch (decode, the size check, intake): each input gives one case
  (``case.received``), one passed-on command (``gridflow.cases.updates``) or one dead
  letter with a reason and a message.
- HTTP: the Open311 gateway (TestClient): each POST is answered 200 with exactly one
  record produced, or 400/403/404 with the error list and nothing produced; what the
  gateway accepted, intake accepts too (one validation).

``GRIDFLOW_PROPERTY_EXAMPLES`` sets the examples per property (CI's default is small).
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from intake import Intake
from schemas.access import channel_topic
from schemas.catalogue import Site, load_site
from schemas.codec import decode
from schemas.processing import Inbound
from schemas.reports import Channel
from schemas.topics import command_topic, report_topic
from services.open311.app import create_app
from services.open311.gateway import Gateway, Jurisdiction
from services.runtime.names import Names
from storage.db import make_engine, metadata
from tests.support.sites import SHANGHAI
from tests.unit.intake.runtime_path import run

EXAMPLES = int(os.environ.get("GRIDFLOW_PROPERTY_EXAMPLES", "40"))
NOW = datetime(2026, 9, 21, 12, 0, tzinfo=SHANGHAI)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "examples"
SITE = load_site()
TOPICS = [
    *(channel_topic(SITE, c).name for c in Channel if SITE.channel_sender(c) is not None),
    command_topic(SITE.senders[0].id).name,
]
EXAMPLE_DATA = [
    json.loads((DOCS / n).read_text(encoding="utf-8"))
    for n in (
        "report.json",
        "work_order_12345.json",
        "grid_app_report.json",
        "open311_request.json",
    )
]

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


@st.composite
def near_reports(draw: st.DrawFn) -> dict[str, Any]:
    """A documented example with some fields replaced by arbitrary JSON or removed: the
    shape gets past decoding often enough to reach intake's own rules."""
    data = dict(draw(st.sampled_from(EXAMPLE_DATA)))
    for name in draw(st.lists(st.sampled_from(sorted(data)), max_size=3, unique=True)):
        if draw(st.booleans()):
            data[name] = draw(json_values)
        else:
            del data[name]
    return data


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


inputs = st.one_of(
    st.binary(max_size=300),
    json_values.map(_encode),
    near_reports().map(_encode),
    st.none(),  # a tombstone
)


def check_one_outcome_each(site: Site, records: list[tuple[str, bytes | None]]) -> None:
    out = run(site, records, NOW, max_bytes=2048)
    total = len(out.cases) + len(out.updates) + len(out.letters)
    assert total == len(records), (len(out.cases), len(out.updates), len(out.letters))
    for letter in out.letters:
        assert letter.payload.reason and letter.payload.message
        assert letter.payload.original.topic in {t for t, _ in records}
    for record in out.cases:
        assert decode_case(record.value)


def decode_case(value: bytes | None) -> bool:
    from schemas.topics import CASES_RECEIVED

    return decode(CASES_RECEIVED, value).payload.case_id.startswith("GF-")


@fuzz
@given(records=st.lists(st.tuples(st.sampled_from(TOPICS), inputs), min_size=1, max_size=8))
def test_kafka_records_each_get_exactly_one_outcome(
    records: list[tuple[str, bytes | None]],
) -> None:
    check_one_outcome_each(SITE, records)


@fuzz
@given(value=near_reports())
def test_the_documented_formats_perturbed_on_their_own_topics(value: dict[str, Any]) -> None:
    records = [(t, _encode(value)) for t in TOPICS[:3]]
    check_one_outcome_each(SITE, records)


class Recording:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))


_ARCHIVE = make_engine(
    "sqlite:///" + str(Path(os.environ.get("TMPDIR", "/tmp")) / f"fuzz-{os.getpid()}.db")
)
metadata.create_all(_ARCHIVE)
_PUBLISHER = Recording()
_CLIENT = TestClient(
    create_app(
        Gateway(
            jurisdictions={SITE.id: Jurisdiction(SITE, Names(), _ARCHIVE)},
            keys={"k": "channel.open311"},
            publisher=_PUBLISHER,
            clock=lambda: datetime(2026, 9, 21, 4, 0, tzinfo=UTC),
            max_bytes=4096,
            started_at=datetime(2026, 9, 1, tzinfo=UTC),
        )
    )
)
FIELDS = [
    "api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
    "first_name", "last_name", "phone", "description", "media_url", "email",
    "attribute[request_type]", "attribute[urgency]", "attribute[x]",
]  # fmt: skip
GOOD = {
    "api_key": "k",
    "service_code": "urban.garbage",
    "lat": "29.9489",
    "long": "121.6213",
    "description": "垃圾满了",
}
form_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", "0", "-91", "29.9489", "121.6213", "nan", "1e400", "k", "urban.garbage"]),
)
forms = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), form_values, max_size=10),
    st.dictionaries(st.sampled_from(FIELDS), form_values, max_size=4).map(lambda d: GOOD | d),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5).map(lambda d: GOOD | d),
)


def check_http_outcome(response: Any, before: int) -> None:
    produced = _PUBLISHER.sent[before:]
    assert response.status_code in (200, 400, 403, 404), response.text
    if response.status_code == 200:
        assert len(produced) == 1
        [(_, _, value)] = produced
        message = decode(report_topic("channel.open311"), value)  # what intake decodes
        [outcome] = Intake(SITE).handle(
            [Inbound(message, NOW, report_topic("channel.open311").name)]
        )
        assert isinstance(outcome, list), outcome  # accepted by the gateway: by intake too
    else:
        assert produced == []
        body = (
            response.json()
            if response.headers["content-type"].startswith("application/json")
            else None
        )
        assert body is None or (body and all(set(e) == {"code", "description"} for e in body))


@fuzz
@given(form=forms, fmt=st.sampled_from(["json", "xml"]))
def test_http_posts_each_get_exactly_one_outcome(form: dict[str, str], fmt: str) -> None:
    before = len(_PUBLISHER.sent)
    response = _CLIENT.post(f"/requests.{fmt}", data=form)
    check_http_outcome(response, before)


@fuzz
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""]
    ),
)
def test_http_arbitrary_bodies_are_answered_never_a_server_error(
    body: bytes, content_type: str
) -> None:
    before = len(_PUBLISHER.sent)
    headers = {"content-type": content_type} if content_type else {}
    response = _CLIENT.post("/requests.json", content=body, headers=headers)
    check_http_outcome(response, before)

"""Personal data only where it is needed (issue 7, point 5), over a real run.

The embedded pipeline runs every processor in one process, with the demo's actors
working the cases from their own topics (units accept and handle, verifiers check,
channels rate) and days passing so deadlines warn, lapse and escalate. Each report
carries a reporter name, phone and address of its own, and free text that quotes
them; some refused reports carry them too, so dead letters exist.

Then every place the run wrote is searched for those strings: every record of every
topic (keys, values, headers, and base64 inside them decoded), every log record as
the production JSON formatter writes it, the Prometheus text, every webhook body,
and every database table. They may appear only where the README's "Who sees what"
table allows:

- ``gridflow.reports.channel.hotline-12345``: what the hotline sent;
- ``gridflow.cases.received``: intake's hop to the router and the archive;
- ``gridflow.assignments.<unit>`` of a unit the case was dispatched to;
- ``gridflow.deadletter``: restricted to the archive and operations;
- the tables ``archive_events``, ``archive_dead_letters``, ``dead_letter_bodies``
  (the archive) and ``router_cases`` (the router re-dispatches the whole case).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select

from intake.core import case_id_for
from notifier.subscriptions import NOTIFIABLE, Subscriber, Subscriptions
from schemas.cases import CaseAssigned, StepPayload
from schemas.catalogue import Site
from schemas.codec import DecodeError, decode, encode
from schemas.commands import AcceptCase
from schemas.envelope import stable_id
from schemas.reports import Tier
from schemas.topics import (
    ASSIGNMENT_PREFIX,
    CASE_EVENTS,
    CASES_RECEIVED,
    DEADLETTER,
    command_topic,
    report_topic,
)
from services.demo.actors import Actors
from services.logs import formatter
from services.runtime.clock import SimulatedClock
from services.runtime.embedded import EmbeddedPipeline
from storage.db import metadata
from tests.support.sites import SHANGHAI

START = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday, no holiday for weeks
CASES = 12
TICK = timedelta(minutes=30)
DAYS = 9  # long enough for slow units' deadlines to lapse and cases to escalate

HOTLINE = report_topic("channel.hotline-12345")
ALWAYS_ALLOWED = {HOTLINE.name, CASES_RECEIVED.name, DEADLETTER.name}
ALLOWED_TABLES = {"archive_events", "archive_dead_letters", "dead_letter_bodies", "router_cases"}


def person(n: int) -> dict[str, str]:
    """Report ``n``'s personal data and free text: distinctive, and no one's prefix."""
    return {
        "name": f"欧阳青蓝{n:02d}号",
        "phone": f"1395731{n:04d}",
        "address": f"梧桐巷{n:02d}弄四〇四室",
        "text": f"自由文本标记{n:02d}",
    }


def raw_report(site: Site, n: int, **changes: Any) -> dict[str, Any]:
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    # one assignment a case: co-handled categories (协办 copies) are tested apart
    categories = sorted(c.code for c in site.categories if not c.co_handlers)
    p = person(n)
    body: dict[str, Any] = {
        "channel": "hotline_12345",
        "external_id": f"pii-{n:03d}",
        "reported_at": (START - timedelta(minutes=n)).isoformat(),
        "category": categories[(n * 7) % len(categories)],
        "grid_id": grids[(n * 11) % len(grids)],
        "title": f"{p['address']}门口",  # free text quoting the address
        "description": f"{p['text']}：请联系{p['name']}，电话{p['phone']}，住{p['address']}。",
        "location": {"address": p["address"], "lat": 29.95, "lon": 121.6},
        "reporter": {"name": p["name"], "phone": p["phone"]},
    }
    body.update(changes)
    return body


def refused_reports(site: Site) -> list[bytes]:
    """Reports the pipeline refuses, each carrying someone's personal data (n >= 90)."""
    # an unknown grid (an unknown category alone goes to the dispatch queue, not here)
    unknown = raw_report(site, 90, external_id="pii-bad-90", grid_id="zs-nowhere")
    bad_phone = raw_report(site, 91, external_id="pii-bad-91")
    bad_phone["reporter"]["phone"] = f"call {person(91)['name']}"
    p = person(92)
    not_json = f"<workorder name='{p['name']}' tel='{p['phone']}' addr='{p['address']}'/>"
    return [
        json.dumps(unknown, ensure_ascii=False).encode(),
        json.dumps(bad_phone, ensure_ascii=False).encode(),
        not_json.encode(),
    ]


CONFLICTING = 93
"""A resend of case 0 under its external id with another resident's data: the router
refuses it as a conflict, so a dead letter of the router carries a whole case."""


class Hooks:
    """A webhook receiver that keeps every body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                hooks.bodies.append(self.rfile.read(length) + str(self.headers).encode())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        yield from _unwrapped(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _unwrapped(text: str) -> Iterator[str]:
    """What a string may hide: base64 of text, and JSON inside it (a dead letter's original)."""
    if len(text) >= 8:
        with contextlib.suppress(binascii.Error, ValueError):
            yield from _texts(base64.b64decode(text, validate=True))
    if text[:1] in "{[":
        with contextlib.suppress(ValueError):
            yield from _strings(json.loads(text))


def _texts(data: bytes | None) -> Iterator[str]:
    """Every reading of some bytes: the text itself, and its JSON's strings unescaped."""
    if not data:
        return
    text = data.decode("utf-8", errors="replace")
    yield text
    with contextlib.suppress(ValueError):
        yield from _strings(json.loads(text))


def haystack(*parts: bytes | str | None) -> str:
    out: list[str] = []
    for part in parts:
        out.extend(_texts(part.encode() if isinstance(part, str) else part))
    return "\n".join(out)


def found_in(text: str, n: int) -> set[str]:
    """Which of report ``n``'s strings ``text`` holds."""
    return {kind for kind, value in person(n).items() if value in text}


EVERYONE = [*range(CASES), 90, 91, 92, CONFLICTING]


@pytest.fixture
def run(site: Site, caplog: pytest.LogCaptureFixture) -> Iterator[dict[str, Any]]:
    """A run of the pipeline with actors, days passing, refusals, a conflict and a stray
    command; what it wrote, by place."""
    caplog.set_level(logging.DEBUG)
    hooks = Hooks()
    subscriptions = Subscriptions(
        subscribers=(Subscriber(id="everything", url=hooks.url, events=frozenset(NOTIFIABLE)),)
    )
    clock = SimulatedClock(START)
    pipeline = EmbeddedPipeline(site, clock, subscriptions=subscriptions)
    try:
        others = [s.id for s in site.senders]
        actors = Actors(pipeline.broker, [u.id for u in site.units], 3, 0.5, others)
        for n in range(CASES):
            body = json.dumps(raw_report(site, n), ensure_ascii=False).encode()
            pipeline.publish(HOTLINE.name, body, f"hotline_12345:pii-{n:03d}".encode())
        for value in refused_reports(site):
            pipeline.publish(HOTLINE.name, value)
        pipeline.pump()
        conflict = raw_report(site, CONFLICTING, external_id="pii-000")
        pipeline.publish(HOTLINE.name, json.dumps(conflict, ensure_ascii=False).encode())
        pipeline.pump()
        actors.observe()
        _stray_accept(pipeline, site, clock.now())
        end = START + timedelta(days=DAYS)
        while clock.now() < end:
            after = actors.next_at()
            clock.set(min(clock.now() + TICK, after) if after else clock.now() + TICK)
            actors.send(actors.due(clock.now()), clock.now())
            pipeline.pump()
            pipeline.tick()
            actors.observe()
        assert pipeline.unread() == 0

        broker = pipeline.broker
        topics = {
            t: [
                haystack(r.key, r.value, *(f"{k}={v!r}" for k, v in r.headers))
                + "".join(f"\n{k}\n" + haystack(v) for k, v in r.headers)
                for r in broker.read(t)
            ]
            for t in broker.topics()
        }
        tables: dict[str, str] = {}
        with pipeline.engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = conn.execute(select(table)).all()
                tables[table.name] = haystack(
                    *(json.dumps([str(v) for v in row], ensure_ascii=False) for row in rows),
                    *(v for row in rows for v in row if isinstance(v, bytes | str)),
                )
        fmt = formatter("json")
        logs = [fmt.format(r) for r in caplog.records]
        yield {
            "topics": topics,
            "holders": _holders(pipeline),
            "logs": logs,
            "metrics": generate_latest(pipeline.metrics.registry).decode(),
            "webhooks": [haystack(b) for b in hooks.bodies],
            "tables": tables,
        }
    finally:
        pipeline.close()
        hooks.close()


def _stray_accept(pipeline: EmbeddedPipeline, site: Site, at: datetime) -> None:
    """A unit that does not hold case 0 tries to accept it: refused on its own topic."""
    case_id = case_id_for("hotline_12345", "pii-000")
    held = {
        a.payload.assignment.unit_id
        for a in _assigned(pipeline)
        if a.payload.case.case_id == case_id
    }
    stranger = next(u.id for u in site.units if u.id not in held)
    command = AcceptCase(
        event_id=stable_id("test-stranger", case_id, "accept"),
        type=AcceptCase.TYPE,
        case_id=case_id,
        occurred_at=at,
        producer="test-stranger",
        correlation_id=case_id,
        payload=StepPayload(unit_id=stranger, seq=1, at=at, note="不是我的"),
    )
    pipeline.publish(command_topic(stranger).name, encode(command), case_id.encode())
    pipeline.pump()


def _assigned(pipeline: EmbeddedPipeline) -> Iterator[CaseAssigned]:
    """Every dispatch on the case story (what the router decided, not what a unit says)."""
    for r in pipeline.broker.read(CASE_EVENTS.name):
        try:
            event = decode(CASE_EVENTS, r.value)
        except DecodeError:
            continue  # not the router's: the archive dead-letters it
        if isinstance(event, CaseAssigned):
            yield event


def _holders(pipeline: EmbeddedPipeline) -> dict[int, set[str]]:
    """Per report, the assignment topics of every unit the case was dispatched to."""
    by_case: dict[str, set[str]] = defaultdict(set)
    for event in _assigned(pipeline):
        by_case[event.payload.case.case_id].add(
            ASSIGNMENT_PREFIX + event.payload.assignment.unit_id
        )
    ids = {case_id_for("hotline_12345", f"pii-{n:03d}"): n for n in range(CASES)}
    return {ids[c]: topics for c, topics in by_case.items() if c in ids}


def test_personal_data_only_where_it_is_needed(run: dict[str, Any]) -> None:
    """One run, every place searched (the run takes seconds: it is made once)."""
    _the_run_exercised_what_it_checks(run)
    assert _topic_leaks(run) == []
    assert _log_metric_webhook_leaks(run) == []
    _stored_by_the_archive_and_the_router_alone(run)


def _the_run_exercised_what_it_checks(run: dict[str, Any]) -> None:
    """Escalations moved cases between units, letters were refused, commands answered,
    hooks were called: otherwise the search would prove little."""
    assert set(run["holders"]) == set(range(CASES))
    assert any(len(units) > 1 for units in run["holders"].values())  # escalated elsewhere
    topics = run["topics"]
    assert len(topics[DEADLETTER.name]) >= 4  # three from intake, the router's conflict
    assert any(t.startswith("gridflow.replies.") and msgs for t, msgs in topics.items())
    assert any(t.startswith("gridflow.commands.") and msgs for t, msgs in topics.items())
    assert topics["gridflow.deadlines"] and topics["gridflow.notifications"]
    assert run["webhooks"] and run["logs"]
    # the search finds what is there: each report's data on the topics it must reach
    for n in range(CASES):
        assert found_in("".join(topics[HOTLINE.name]), n) == set(person(n))
        assert found_in("".join(topics[CASES_RECEIVED.name]), n) == set(person(n))
        for unit_topic in run["holders"][n]:
            assert found_in("".join(topics[unit_topic]), n) == set(person(n))
    letters = "".join(topics[DEADLETTER.name])
    for n in (90, 91, 92, CONFLICTING):
        assert found_in(letters, n) == set(person(n)) - ({"text"} if n == 92 else set())


def _topic_leaks(run: dict[str, Any]) -> list[tuple[str, int, int, list[str]]]:
    """(topic, offset, report, kinds) of every string found where it may not be."""
    leaks = []
    for topic, records in run["topics"].items():
        if topic in ALWAYS_ALLOWED:
            continue
        for offset, text in enumerate(records):
            for n in EVERYONE:
                if topic in run["holders"].get(n, ()):
                    continue  # a unit the case was dispatched to
                if kinds := found_in(text, n):
                    leaks.append((topic, offset, n, sorted(kinds)))
    return leaks


def _log_metric_webhook_leaks(run: dict[str, Any]) -> list[tuple[str, int, set[str]]]:
    places = {
        **{f"log {i}: {line[:80]}": line for i, line in enumerate(run["logs"])},
        "metrics": run["metrics"],
        **{f"webhook {i}": body for i, body in enumerate(run["webhooks"])},
    }
    return [
        (where, n, kinds)
        for where, text in places.items()
        for n in EVERYONE
        if (kinds := found_in(text, n))
    ]


def _stored_by_the_archive_and_the_router_alone(run: dict[str, Any]) -> None:
    tables = run["tables"]
    holding = {name for name, text in tables.items() for n in EVERYONE if found_in(text, n)}
    assert holding - ALLOWED_TABLES == set()
    assert {"archive_events", "archive_dead_letters", "router_cases"} <= holding
    # every table was searched, the notifier's among them: its outbox holds what it
    # delivered (the run's webhooks), its contacts the addresses it delivers to
    assert {"notifier_outbox", "notifier_contacts", "archive_cases", "escalator_deadlines"} <= set(
        tables
    )
    assert tables["notifier_outbox"], "the run queued no notification: nothing was searched"


def test_free_text_of_commands_stays_off_the_shared_story(site: Site) -> None:
    """A unit's note that quotes the resident, as notes do (已联系王女士), on its accept:
    kept off the shared story, kept in the archive."""
    pipeline = EmbeddedPipeline(site, SimulatedClock(START))
    try:
        pipeline.publish(HOTLINE.name, json.dumps(raw_report(site, 0)).encode())
        pipeline.pump()
        [assigned] = list(_assigned(pipeline))
        held = assigned.payload.assignment
        case_id = assigned.payload.case.case_id
        at = START + timedelta(minutes=10)
        note = f"已联系{person(0)['name']}"
        command = AcceptCase(
            event_id=stable_id("test-units", case_id, "accept"),
            type=AcceptCase.TYPE,
            case_id=case_id,
            occurred_at=at,
            producer="test-units",
            correlation_id=case_id,
            payload=StepPayload(unit_id=held.unit_id, seq=held.seq, at=at, note=note),
        )
        pipeline.publish(command_topic(held.unit_id).name, encode(command), case_id.encode())
        assert pipeline.pump().dead_letters == 0
        story = [haystack(r.value) for r in pipeline.broker.read(CASE_EVENTS.name)]
        assert not any(found_in(text, 0) for text in story)
        # the note is not lost: the archive keeps the command, as its sender wrote it
        events = metadata.tables["archive_events"]
        with pipeline.engine.connect() as conn:
            kept = conn.execute(
                select(events.c.payload).where(events.c.event_id == command.event_id)
            ).scalar_one()
        assert kept["note"] == note
    finally:
        pipeline.close()

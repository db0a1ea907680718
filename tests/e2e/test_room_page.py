"""The command-room page in a real headless Chromium, over real HTTP, on data the e2e
pipeline made: the five processors as OS processes on Kafka and PostgreSQL take
reports, units accept and handle some, the verifier checks them, the hotline passes on
the residents' ratings, and ten days pass in one tick, so the rest lapse and escalate.
Then the query API's app serves the page (``services.api.app.serve``, which
``gridflow serve api`` runs), and Chromium loads it with the street
command room's token and runs its script. The DOM it leaves must show the cases
(open and overdue, by tier and unit), the map coloured by them, the three rates and
the escalations.

With GRIDFLOW_ROOM_SCREENSHOT set to a path (docs/command-room.png), the test also
keeps its screenshot there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import create_engine, text

from schemas.access import channel_topic
from schemas.cases import RatedPayload, StepPayload, VerifiedPayload
from schemas.catalogue import Site
from schemas.codec import encode
from schemas.commands import AcceptCase, RateCase, ReportHandled, VerifyCase
from schemas.envelope import Envelope
from schemas.reports import Channel, Tier
from schemas.topics import ASSIGNMENT_PREFIX, command_topic
from services.api.auth import digest
from services.processors import PROCESSORS
from services.runtime.local import LocalCluster
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI
from tests.support.tools import need_tool

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
REPORTS = 30
CLOSED = 12
ROOM, VERIFIER, HOTLINE = "zs.approve", "zs.verify", "channel.hotline-12345"
RATINGS = [5, 5, 4, 3]  # all satisfied: 3 is basically satisfied (基本满意), counted
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",  # lets the page's fetch and rendering finish
]


class Pipeline:
    """The five processors, the CLI and the API, in a namespace and database of their own."""

    def __init__(self, tmp: Path, bootstrap: str, database_url: str, namespace: str) -> None:
        self.names = Names(namespace)
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.tmp = tmp
        self.env = {
            **os.environ,
            "GRIDFLOW_NAMESPACE": namespace,
            "GRIDFLOW_KAFKA_BOOTSTRAP": bootstrap,
            "GRIDFLOW_DATABASE_URL": database_url,
            "GRIDFLOW_CLOCK": "ticks",
            "GRIDFLOW_POLL_TIMEOUT_MS": "200",
        }
        ports = dict(zip(PROCESSORS, free_ports(len(PROCESSORS)), strict=True))
        self.cluster = LocalCluster(tmp / "logs", self.env, ports)
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self.engine = create_engine(database_url)

    def send(self, topic: str, value: bytes, key: str | None = None) -> None:
        self.producer.send(self.names.topic(topic), value, key.encode() if key else None)

    def command(self, sender: str, command: Envelope) -> None:
        self.send(command_topic(sender).name, encode(command), command.case_id)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "services", *args],
            env=self.env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        return done.stdout.decode()

    def archived(self, sql: str, **params: Any) -> int:
        self.cluster.check()
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar_one())

    def close(self) -> dict[str, int | None]:
        self.producer.close()
        self.engine.dispose()
        return self.cluster.stop()


@pytest.fixture
def pipeline(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, site: Site
) -> Iterator[Pipeline]:
    need_tool("chromium")
    namespace = f"room{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, site_topics(site), names=Names(namespace))
    p = Pipeline(tmp_path, kafka_bootstrap, database_url, namespace)
    p.cluster.start()
    try:
        yield p
    finally:
        codes = p.close()
    assert codes == dict.fromkeys(PROCESSORS, 0), codes


def _command(cls: type[Envelope], case_id: str, payload: Any) -> Envelope:
    return cls(
        event_id=str(uuid.uuid4()),
        type=cls.TYPE,
        case_id=case_id,
        occurred_at=payload.at,
        producer="e2e-room",
        correlation_id=case_id,
        payload=payload,
    )


def _dispatched(pipeline: Pipeline, site: Site) -> dict[str, dict[str, Any]]:
    """Every first assignment, read from the units' topics: case id -> assignment."""
    consumer = KafkaConsumer(
        bootstrap_servers=pipeline.bootstrap,
        group_id=f"e2e-room-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=2000,
    )
    prefix = pipeline.names.topic(ASSIGNMENT_PREFIX + "x")[:-1]  # <namespace>.assignments.
    consumer.subscribe(pattern="^" + re.escape(prefix) + ".*")
    found: dict[str, dict[str, Any]] = {}

    def all_in() -> bool:
        pipeline.cluster.check()
        for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
            for m in batch:
                doc = json.loads(m.value)
                if doc["type"] == "case.dispatched":
                    found.setdefault(doc["case_id"], doc["payload"]["assignment"])
        return len(found) == REPORTS

    try:
        wait_for("every report dispatched", all_in, timeout=120)
    finally:
        consumer.close()
    return found


def _work_some(pipeline: Pipeline, site: Site) -> set[str]:
    """Reports in; CLOSED of them accepted, handled, verified and rated; the ids closed."""
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    # one assignment a case: co-handled categories (协办 copies) are tested apart
    categories = sorted(c.code for c in site.categories if not c.co_handlers)
    now = datetime.now(SHANGHAI) - timedelta(minutes=2)
    hotline = channel_topic(site, Channel.HOTLINE_12345).name
    for i in range(REPORTS):
        body = {
            "channel": "hotline_12345",
            "external_id": f"{pipeline.names.namespace}-{i:03d}",
            "reported_at": now.isoformat(),
            "category": categories[i % len(categories)],
            "grid_id": grids[(i * 17) % len(grids)],
            "description": "楼道堆物，影响通行。",
        }
        pipeline.send(hotline, json.dumps(body, ensure_ascii=False).encode())
    pipeline.producer.flush()
    assignments = _dispatched(pipeline, site)
    chosen = sorted(assignments)[:CLOSED]

    def at_stage(stage: str) -> int:
        return pipeline.archived(
            "SELECT count(*) FROM archive_cases WHERE stage = :s AND case_id = ANY(:ids)",
            s=stage,
            ids=chosen,
        )

    at = datetime.now(SHANGHAI)
    for case_id in chosen:
        a = assignments[case_id]
        step = StepPayload(unit_id=a["unit_id"], seq=a["seq"], at=at, note="已受理")
        pipeline.command(a["unit_id"], _command(AcceptCase, case_id, step))
        done = StepPayload(unit_id=a["unit_id"], seq=a["seq"], at=at, note="已处置")
        pipeline.command(a["unit_id"], _command(ReportHandled, case_id, done))
    pipeline.producer.flush()
    wait_for("the chosen cases handled", lambda: at_stage("handled") == CLOSED, timeout=90)
    at = datetime.now(SHANGHAI)
    for case_id in chosen:
        a = assignments[case_id]
        check = VerifiedPayload(unit_id=a["unit_id"], seq=a["seq"], at=at, passed=True)
        pipeline.command(VERIFIER, _command(VerifyCase, case_id, check))
    pipeline.producer.flush()
    wait_for("the chosen cases verified", lambda: at_stage("verified") == CLOSED, timeout=90)
    at = datetime.now(SHANGHAI)
    for n, case_id in enumerate(chosen):
        rating = RatedPayload(at=at, rating=RATINGS[n % len(RATINGS)])
        pipeline.command(HOTLINE, _command(RateCase, case_id, rating))
    pipeline.producer.flush()
    wait_for("the chosen cases closed", lambda: at_stage("closed") == CLOSED, timeout=90)
    return set(chosen)


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_tool("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_room_page_shows_the_pipelines_cases_map_and_rates(
    pipeline: Pipeline, site: Site, tmp_path: Path
) -> None:
    closed = _work_some(pipeline, site)
    pipeline.cli("tick", "--advance", "10d")  # nobody accepted the rest: they lapse
    open_ids = REPORTS - len(closed)
    wait_for(
        "the open cases escalated",
        lambda: (
            pipeline.archived(
                "SELECT count(DISTINCT case_id) FROM archive_events WHERE type = 'case.escalated'"
            )
            >= open_ids
        ),
        timeout=120,
    )

    token = uuid.uuid4().hex
    [port] = free_ports(1)
    env = pipeline.env | {
        "GRIDFLOW_API_TOKENS": json.dumps({digest(token): ROOM}),
        "GRIDFLOW_API_HOST": "127.0.0.1",
        "GRIDFLOW_API_PORT": str(port),
    }
    log = (tmp_path / "api.log").open("wb")
    # services.api.app.serve is what `gridflow serve api` runs (uvicorn on the settings'
    # host and port); started this way, the test does not wait for that command
    serve = "from services.api.app import serve; from services.settings import Settings; "
    api = subprocess.Popen(
        [sys.executable, "-c", serve + "serve(Settings())"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def serving() -> bool:
            assert api.poll() is None, (tmp_path / "api.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(base + "/room", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for("gridflow serve api", serving, timeout=60)
        done = _chromium("--dump-dom", f"{base}/room#token={token}", profile=tmp_path / "p1")
        assert done.returncode == 0, done.stderr[-3000:]
        dom = done.stdout
        shot = tmp_path / "room.png"
        done = _chromium(
            "--window-size=1600,1400",
            f"--screenshot={shot}",
            f"{base}/room#token={token}",
            profile=tmp_path / "p2",
        )
        assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-3000:]
        if os.environ.get("GRIDFLOW_ROOM_SCREENSHOT"):
            shutil.copy(shot, os.environ["GRIDFLOW_ROOM_SCREENSHOT"])
    finally:
        api.terminate()
        api.wait(timeout=30)
        log.close()

    _check_dom(dom, site, open_ids)


def _cell(dom: str, pattern: str) -> str:
    found = re.search(pattern, dom, re.S)
    assert found, f"{pattern!r} not in the page"
    return found.group(1).strip()


def _check_dom(dom: str, site: Site, open_ids: int) -> None:
    assert "实时 live · zs.approve" in dom, "the page's script did not load the data"
    # the cases: open and overdue in total, by tier and by unit
    assert _cell(dom, r'id="total-open"[^>]*>([^<]*)<') == str(open_ids)
    assert _cell(dom, r'id="total-overdue"[^>]*>([^<]*)<') == str(open_ids)  # all lapsed
    by_tier = re.findall(
        r'<tr data-tier="(\w+)">.*?class="open">(\d+)<.*?class="overdue">(\d+)<', dom, re.S
    )
    assert {t for t, _, _ in by_tier} == {t.value for t in Tier}
    assert sum(int(n) for _, n, _ in by_tier) == open_ids
    units = re.search(r'<table id="by-unit">.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert units and units.group(1).count("<tr>") >= 2
    # the map: every grid drawn; those with open cases coloured, and they hold them all
    grids = re.findall(r'<path class="grid([^"]*)" id="grid-([^"]+)"[^>]*data-open="(\d+)"', dom)
    assert len(grids) == len(site.grid_map.grids)  # type: ignore[union-attr]
    coloured = [(cls, int(n)) for cls, _, n in grids if "late" in cls or "open" in cls]
    assert coloured and all(n > 0 for _, n in coloured)
    assert sum(int(n) for _, _, n in grids) == open_ids
    # the three rates as archive/kpi.py defines them, today: 12 of 30 received closed;
    # on time: nothing fell due today (the closed ones are due days later), so none;
    # every rating satisfied
    today = _cell(dom, r'<tr data-period="today">(.*?)</tr>')
    assert re.search(r'data-rate="completion"[^>]*>40\.0%<', today), today
    assert re.search(r'data-rate="on_time"[^>]*>—<', today), today
    assert re.search(r'data-rate="satisfaction"[^>]*>100\.0%<', today), today
    # this month: the 12 closed ones count as due once closed, all handled in time (unless
    # their due day falls into next month: then nothing is due this month); the open ones
    # are not due yet
    month = _cell(dom, r'<tr data-period="month">(.*?)</tr>')
    assert re.search(r'data-rate="completion"[^>]*>40\.0%<', month), month
    assert re.search(r'data-rate="on_time"[^>]*>(100\.0%|—)<', month), month
    assert re.search(r'data-rate="satisfaction"[^>]*>100\.0%<', month), month
    # the latest escalations
    escalations = _cell(dom, r'<table id="escalations">.*?<tbody>(.*?)</tbody>')
    assert escalations.count("<tr>") >= 1
    assert "GF-" in escalations

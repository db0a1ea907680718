"""The whole pipeline: five processors as separate OS processes on real Kafka and
PostgreSQL. Reports go in with kafka-python, as any channel would send them;
cases come out on the units' assignment topics and in the archive; bad reports
land in the dead-letter topic with their reason; a clock tick makes the
deadlines lapse and the cases escalate, without sleeping for days.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import create_engine, text

from intake.core import case_id_for
from schemas.access import channel_topic
from schemas.catalogue import Site
from schemas.reports import Channel, Tier
from schemas.topics import ASSIGNMENT_PREFIX, DEADLETTER
from services.demo.receiver import Receiver
from services.processors import PROCESSORS
from services.runtime.local import LocalCluster
from tests.support.processes import free_ports, wait_for
from tests.support.processing import report_topic_of
from tests.support.sites import SHANGHAI

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

VALID, INVALID = 270, 30
ROOT = Path(__file__).resolve().parents[2]


def make_reports(site: Site, tag: str) -> tuple[list[tuple[bytes, bytes]], set[str]]:
    """(key, value) pairs: VALID good reports and INVALID bad ones, shuffled."""
    rng = random.Random(tag)
    grids = [j.id for j in site.jurisdictions if j.tier is Tier.GRID]
    now = datetime.now(SHANGHAI)
    out: list[tuple[bytes, bytes]] = []
    case_ids = set()
    # a co-handled category (主办/协办) dispatches to two units: one assignment a case here
    one_holder = [c for c in site.categories if not c.co_handlers]
    for n in range(VALID):
        external = f"{tag}-{n:04d}"
        body = {
            "channel": "hotline_12345",
            "external_id": external,
            "reported_at": (now - timedelta(minutes=5)).isoformat(),
            "category": rng.choice(one_holder).code,
            "grid_id": rng.choice(grids),
            "description": "路灯不亮，影响夜间出行。",
            "reporter": {"name": "张三", "phone": "138-0000-0000"},
        }
        case_ids.add(case_id_for("hotline_12345", external))
        out.append((f"hotline_12345:{external}".encode(), json.dumps(body).encode()))
    for n in range(INVALID):
        key = f"bad:{tag}-{n:04d}".encode()
        flavour = n % 5
        if flavour == 0:
            value = f"not json {tag}-{n}".encode()
        elif flavour == 1:
            value = b"\xff\xfe" + tag.encode()
        else:
            body = {
                "channel": "web",
                "external_id": f"{tag}-bad-{n}",
                "reported_at": now.isoformat(),
                # an unknown category alone goes to the dispatch queue (人工分拨), not
                # here: with an unknown grid beside it, the report is refused for both
                "category": "no_such.category" if flavour == 2 else site.categories[0].code,
                "grid_id": grids[0] if flavour not in (2, 3) else "nowhere",
                "description": "x",
            }
            if flavour == 4:
                del body["reported_at"]
            value = json.dumps(body).encode()
        out.append((key, value))
    rng.shuffle(out)
    return out, case_ids


def _send_documented_example(bootstrap: str, site: Site, tag: str) -> str:
    """docs/examples/report.json, as one line through deploy/kafka/console.sh produce."""
    report = json.loads((ROOT / "docs/examples/report.json").read_text(encoding="utf-8"))
    report["external_id"] = f"{tag}-example"
    channel = Channel(report["channel"])  # on its own channel's topic
    report["reported_at"] = datetime.now(SHANGHAI).isoformat()
    done = subprocess.run(
        [str(ROOT / "deploy/kafka/console.sh"), "produce", channel_topic(site, channel).name],
        input=json.dumps(report, ensure_ascii=False).encode() + b"\n",
        env={**os.environ, "GRIDFLOW_KAFKA_BOOTSTRAP": bootstrap},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return case_id_for(report["channel"], report["external_id"])


class Pipeline(LocalCluster):
    """The five processors as child processes, plus the CLI with the same settings."""

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


class TopicReader:
    """Reads topics from the beginning under a consumer group of the test's own."""

    def __init__(self, bootstrap: str, tag: str, **subscription: Any) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"e2e-{tag}-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=2000,
        )
        for topic in subscription.get("topics", []):
            self.consumer.partitions_for_topic(topic)  # metadata first, then join
        self.consumer.subscribe(**subscription)
        self.seen: list[Any] = []

    def read(self) -> list[Any]:
        for batch in self.consumer.poll(timeout_ms=500, max_records=5000).values():
            self.seen.extend(batch)
        return self.seen


def test_reports_flow_through_five_processes(
    kafka_bootstrap: str, database_url: str, site: Site, tmp_path: Path
) -> None:
    tag = f"e2e{uuid.uuid4().hex[:8]}"
    with Receiver() as receiver:
        subscriptions = tmp_path / "subscriptions.yaml"
        subscriptions.write_text(
            f"subscribers:\n  - id: e2e\n    url: {receiver.url}/hook\n"
            "    events: [case.assigned, case.escalated]\n",
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "GRIDFLOW_DATABASE_URL": database_url,
            "GRIDFLOW_CLOCK": "ticks",
            "GRIDFLOW_SUBSCRIPTIONS": str(subscriptions),
            "GRIDFLOW_POLL_TIMEOUT_MS": "200",
            "GRIDFLOW_LOG_LEVEL": "INFO",
        }
        ports = dict(zip(PROCESSORS, free_ports(len(PROCESSORS)), strict=True))
        pipeline = Pipeline(tmp_path, env, ports)
        assert "topics:" in pipeline.cli("topics", "create")
        pipeline.start()
        try:
            _exercise(pipeline, kafka_bootstrap, database_url, site, tag, receiver, ports)
        finally:
            codes = pipeline.stop()
        assert codes == dict.fromkeys(PROCESSORS, 0), codes


def _exercise(
    pipeline: Pipeline,
    bootstrap: str,
    database_url: str,
    site: Site,
    tag: str,
    receiver: Receiver,
    ports: dict[str, int],
) -> None:
    reports, case_ids = make_reports(site, tag)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for key, value in reports:
        producer.send(report_topic_of(site, value), key=key, value=value)
    producer.flush()
    producer.close()
    example_case = _send_documented_example(bootstrap, site, tag)

    # Every valid report lands on exactly one unit's assignment topic, once.
    assignments = TopicReader(bootstrap, tag, pattern=f"^{ASSIGNMENT_PREFIX}.*")

    def assigned() -> Counter[str]:
        pipeline.check()
        mine = Counter()
        for m in assignments.read():
            doc = json.loads(m.value)
            if doc["case_id"] in case_ids and doc["type"] == "case.dispatched":
                mine[doc["case_id"]] += 1
        return mine

    # The documented example, sent by Kafka's own console producer, reaches its unit too.
    case_ids.add(example_case)
    wait_for("every case on an assignment topic", lambda: len(assigned()) == VALID + 1)
    case_ids.discard(example_case)
    example = [
        m
        for m in assignments.seen
        if json.loads(m.value)["case_id"] == example_case
        and json.loads(m.value)["type"] == "case.dispatched"
    ]
    assert [m.topic for m in example] == [ASSIGNMENT_PREFIX + "zs.urban"]
    time.sleep(2)  # a duplicate, if any, would arrive now
    first = assigned()
    assert set(first) == case_ids
    assert set(first.values()) == {1}, "a case was assigned twice"
    for m in assignments.seen:
        doc = json.loads(m.value)
        if doc["case_id"] in case_ids and doc["type"] == "case.dispatched":
            unit = doc["payload"]["assignment"]["unit_id"]
            assert m.topic == ASSIGNMENT_PREFIX + unit

    # Cases first held at the top tier are supervised, not reassigned, when they lapse.
    at_top = sum(
        1
        for m in assignments.seen
        if json.loads(m.value)["case_id"] in case_ids
        and json.loads(m.value)["payload"]["assignment"]["tier"] == Tier.CITY.value
    )

    # Every invalid report is in the dead-letter topic with its reason.
    letters = TopicReader(bootstrap, tag, topics=[DEADLETTER.name])

    def dead() -> list[dict[str, Any]]:
        pipeline.check()
        out = []
        for m in letters.read():
            doc = json.loads(m.value)
            if tag in (doc["payload"]["original"]["key"] or ""):
                out.append(doc)
        return out

    wait_for("every bad report in the dead-letter topic", lambda: len(dead()) == INVALID)
    reasons = Counter(d["payload"]["reason"] for d in dead())
    assert reasons == {
        "not_json": 6,
        "not_utf8": 6,
        "unknown_reference": 12,
        "invalid": 6,
    }, reasons
    assert all(d["payload"]["message"] for d in dead())
    assert all(
        d["payload"]["original"]["text"] or d["payload"]["original"]["base64"] for d in dead()
    )

    # Every case is in the archive once.
    engine = create_engine(database_url)
    ids = tuple(case_ids)

    def archived(kind: str) -> int:
        pipeline.check()
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM archive_events WHERE type = :t AND case_id = ANY(:ids)"),
                {"t": kind, "ids": list(ids)},
            ).scalar_one()

    wait_for("every case archived", lambda: archived("case.assigned") == VALID)
    assert archived("case.received") == VALID
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM archive_cases WHERE case_id = ANY(:ids)"),
            {"ids": list(ids)},
        ).scalar_one()
        dead_rows = conn.execute(
            text("SELECT count(*) FROM archive_dead_letters WHERE original_key LIKE :tag"),
            {"tag": f"%{tag}%"},
        ).scalar_one()
    assert rows == VALID
    assert dead_rows == INVALID

    # Ten days pass in one tick: nobody accepted, so every case escalates.
    pipeline.cli("tick", "--advance", "10d")
    wait_for("escalations", lambda: archived("case.escalated") == VALID)
    wait_for("re-assignments", lambda: sum(assigned().values()) == 2 * VALID - at_top)
    assert archived("deadline.lapsed") >= VALID

    # The notifier told the subscriber; the processes serve their metrics.
    wait_for(
        "webhooks",
        lambda: sum(receiver.by_case[c] for c in case_ids) == 3 * VALID - at_top,
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['router']}/metrics", timeout=5) as r:
        body = r.read().decode()
    assert 'gridflow_records_consumed_total{processor="router"' in body
    engine.dispose()

"""Scale-out on real Kafka: two router instances and two archive instances in one
consumer group each split the partitions between them, and a rebalance in the middle
of the load (a second instance joining, then the first one leaving) loses nothing
and duplicates nothing: every case is dispatched once and archived once.

It runs once on each Kafka client (``GRIDFLOW_KAFKA_CLIENT``): the rebalance is the
client's, so each is shown to lose and duplicate nothing.

The pipeline runs in a namespace of its own, so it shares the broker with other tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import create_engine, text

from intake.core import case_id_for
from schemas.access import channel_topic
from schemas.catalogue import Site
from schemas.reports import Channel, Tier
from schemas.topics import ASSIGNMENT_PREFIX
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.support.clients import CLIENTS, client_env
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
REPORTS = 900
CHUNK = 10


class Instances:
    """``gridflow run`` processes of one namespace, each with its log and metrics port."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def start(self, label: str, processor: str) -> None:
        [port] = free_ports(1)
        env = self.env | {"GRIDFLOW_METRICS_PORT": str(port)}
        log = (self.logs / f"{label}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services", "run", processor],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[label] = (proc, port)

    def check(self) -> None:
        for label, (proc, _) in self.procs.items():
            if proc.poll() is not None and proc.returncode != 0:
                tail = (self.logs / f"{label}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{label} exited with {proc.returncode}:\n{tail}")

    def consumed(self, label: str) -> float:
        """Records the instance consumed, from its own metrics (0 until they are served)."""
        _, port = self.procs[label]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read().decode()
        except urllib.error.URLError:  # still starting
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("gridflow_records_consumed_total{")
        )

    def stop(self, label: str) -> int:
        proc, _ = self.procs[label]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=60)

    def stop_all(self) -> dict[str, int]:
        return {label: self.stop(label) for label in list(self.procs)}


@pytest.fixture
def namespace(kafka_bootstrap: str, site: Site) -> str:
    ns = f"scale{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, site_topics(site), names=Names(ns))
    return ns


@pytest.fixture(params=CLIENTS)
def kafka_client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def instances(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, namespace: str, kafka_client: str
) -> Iterator[Instances]:
    env = {
        **os.environ,
        **client_env(kafka_client),
        "GRIDFLOW_NAMESPACE": namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
        "GRIDFLOW_BATCH_SIZE": "50",  # many batches, so the rebalance lands mid-load
    }
    group = Instances(tmp_path, env)
    yield group
    group.stop_all()


def _send(bootstrap: str, namespace: str, site: Site, first: int, n: int) -> set[str]:
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    # one assignment a case: co-handled categories (协办 copies) are tested apart
    categories = sorted(c.code for c in site.categories if not c.co_handlers)
    now = datetime.now(SHANGHAI) - timedelta(minutes=5)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    ids = set()
    for i in range(first, first + n):
        external = f"{namespace}-{i:05d}"
        body = {
            "channel": "hotline_12345",
            "external_id": external,
            "reported_at": now.isoformat(),
            "category": categories[i % len(categories)],
            "grid_id": grids[(i * 7) % len(grids)],
            "description": "井盖缺失，夜间有安全隐患。",
        }
        hotline = channel_topic(site, Channel.HOTLINE_12345).name
        producer.send(Names(namespace).topic(hotline), json.dumps(body).encode())
        ids.add(case_id_for("hotline_12345", external))
    producer.flush()
    producer.close()
    return ids


def _dispatched(consumer: KafkaConsumer, seen: Counter[str]) -> Counter[str]:
    for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
        for m in batch:
            seen[json.loads(m.value)["case_id"]] += 1
    return seen


def test_two_routers_and_two_archives_share_the_load_through_a_rebalance(
    kafka_bootstrap: str, database_url: str, namespace: str, site: Site, instances: Instances
) -> None:
    instances.start("intake", "intake")
    instances.start("router-a", "router")
    instances.start("archive-a", "archive")
    assignments = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{namespace}-test-reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=2000,
    )
    prefix = Names(namespace).topic(ASSIGNMENT_PREFIX + "x")[:-1]
    assignments.subscribe(pattern=f"^{re.escape(prefix)}.*")
    seen: Counter[str] = Counter()
    engine = create_engine(database_url)

    def archived() -> int:
        instances.check()
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM archive_events WHERE type = 'case.assigned'")
            ).scalar_one()

    try:
        ids = _send(kafka_bootstrap, namespace, site, 0, REPORTS // 3)
        wait_for("the first cases dispatched", lambda: len(_dispatched(assignments, seen)) > 0)
        # a second instance of each joins while the load is flowing: a rebalance. The
        # load goes on, a chunk a second, until both routers have consumed some of it;
        # a router that caught up before the rebalance would leave the newcomer idle.
        instances.start("router-b", "router")
        instances.start("archive-b", "archive")
        sent = REPORTS // 3
        for _ in range(120):  # bounded: two minutes of load at most
            ids |= _send(kafka_bootstrap, namespace, site, sent, CHUNK)
            sent += CHUNK
            if min(instances.consumed("router-a"), instances.consumed("router-b")) > 0:
                break
            time.sleep(1)
        else:
            raise AssertionError("router-b consumed nothing in two minutes of load")
        # and the first ones leave while more arrives: another rebalance
        ids |= _send(kafka_bootstrap, namespace, site, sent, REPORTS // 3)
        assert instances.stop("router-a") == 0
        assert instances.stop("archive-a") == 0
        wait_for(
            "every case dispatched", lambda: set(_dispatched(assignments, seen)) >= ids, timeout=180
        )
        wait_for("every case archived", lambda: archived() >= len(ids), timeout=180)
        _dispatched(assignments, seen)  # a duplicate, if any, would have arrived by now
        assert set(seen) == ids
        assert set(seen.values()) == {1}, "a case was dispatched twice"
        with engine.connect() as conn:
            per_case = conn.execute(
                text(
                    "SELECT case_id, count(*) FROM archive_events "
                    "WHERE type IN ('case.received', 'case.assigned') GROUP BY case_id"
                )
            ).all()
            rows = conn.execute(text("SELECT count(*) FROM archive_cases")).scalar_one()
        assert {c for c, _ in per_case} == ids
        assert {n for _, n in per_case} == {2}, "an event was archived twice"
        assert rows == len(ids)
        assert instances.consumed("archive-b") > 0
    finally:
        assignments.close()
        engine.dispose()
    assert set(instances.stop_all().values()) == {0}

"""Poison on real Kafka: each class of bad record between valid ones, through the real
intake and router processes (``gridflow run``). Every valid report becomes a case and
is assigned once, each poison gets one dead letter, and both consumer groups catch up.

The poisons: an output that cannot be serialised (a lone surrogate), an output over
its topic's limit (the broker refuses it at flush), a dead letter over the producer's
limit (cut down to fit), an over-long id, NUL in an id, and an out-of-range time.
Whichever layer refuses each (the schema at decode, intake's checks, or the runtime
at publish), the outcome asserted is the same.

It runs once on each Kafka client (``GRIDFLOW_KAFKA_CLIENT``): kafka-python and
confluent-kafka refuse, retry and cut the same records.

The pipeline runs in a namespace of its own. ``gridflow.cases.received`` is created
with ``max.message.bytes`` = 8,000, so a report with a long description makes an
output the broker refuses; the hotline's report topic accepts 2 MB, so a record
larger than the producers' 1 MiB limit can come in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import TopicPartition

from intake.core import case_id_for
from schemas.access import channel_topic
from schemas.cases import StepPayload
from schemas.catalogue import Site
from schemas.codec import encode
from schemas.commands import AcceptCase
from schemas.deadletter import RejectionReason
from schemas.reports import Channel, Tier
from schemas.topics import (
    CASE_EVENTS,
    CASE_UPDATES,
    CASES_RECEIVED,
    DEADLETTER,
    TOPIC_CONFIG,
)
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.support.clients import CLIENTS, client_env
from tests.support.processes import free_ports
from tests.support.sites import SHANGHAI

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

TIMEOUT_S = 45.0
RECEIVED_LIMIT = 8_000
HUGE = 1_100_000
"""A record over the producers' max_request_size (1 MiB): its dead letter must be cut."""


@pytest.fixture
def namespace(kafka_bootstrap: str, site: Site) -> str:
    ns = f"poison{uuid.uuid4().hex[:8]}"
    names = Names(ns)
    hotline = channel_topic(site, Channel.HOTLINE_12345)
    limits = {CASES_RECEIVED: str(RECEIVED_LIMIT), hotline: "2000000"}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","))
    try:  # these two first, with their limits; create_topics makes the rest
        admin.create_topics(
            [
                NewTopic(
                    names.topic(t.name),
                    t.partitions,
                    1,
                    topic_configs=TOPIC_CONFIG | {"max.message.bytes": limit},
                )
                for t, limit in limits.items()
            ],
            timeout_ms=30_000,
        )
    finally:
        admin.close()
    create_topics(kafka_bootstrap, site_topics(site), names=names)
    return ns


@pytest.fixture(params=CLIENTS)
def kafka_client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def workers(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, namespace: str, kafka_client: str
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        **client_env(kafka_client),
        "GRIDFLOW_NAMESPACE": namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
    }
    procs = {}
    for name, port in zip(("intake", "router"), free_ports(2), strict=True):
        log = (tmp_path / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "services", "run", name],
            env=env | {"GRIDFLOW_METRICS_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        tail = (tmp_path / f"{name}.log").read_text(errors="replace")[-2000:]
        print(f"--- {name} log tail ---\n{tail}")


def report(site: Site, external_id: str, i: int, **changes: object) -> dict[str, object]:
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    # one assignment a case: co-handled categories (协办 copies) are tested apart
    categories = sorted(c.code for c in site.categories if not c.co_handlers)
    body: dict[str, object] = {
        "channel": "hotline_12345",
        "external_id": external_id,
        "reported_at": (datetime.now(SHANGHAI) - timedelta(minutes=5)).isoformat(),
        "category": categories[i % len(categories)],
        "grid_id": grids[i % len(grids)],
        "description": "路灯不亮，夜间出行不便。",
    }
    return body | changes


def long_case_id_command() -> bytes:
    """A unit's AcceptCase whose case id is far longer than any store's column."""
    now = datetime.now(SHANGHAI)
    step = StepPayload(unit_id="zs.urban", seq=1, at=now)
    cmd = AcceptCase.derive(step, producer="unit", now=now, case_id="GF-X", key=("poison",))
    data = json.loads(encode(cmd))
    data["case_id"] = "GF-" + "A" * 300
    return json.dumps(data).encode()


def lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Records of ``topics`` the group has not committed yet (read without joining it)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group)
    try:
        parts = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        ends = consumer.end_offsets(parts)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in parts)
    finally:
        consumer.close(autocommit=False)


def test_every_poison_is_one_dead_letter_and_every_valid_record_flows(
    kafka_bootstrap: str, namespace: str, site: Site, workers: dict[str, subprocess.Popen[bytes]]
) -> None:
    names = Names(namespace)
    hotline = channel_topic(site, Channel.HOTLINE_12345).name
    raw_topic, updates = names.topic(hotline), names.topic(CASE_UPDATES.name)
    tag = namespace
    valid = [report(site, f"{tag}-ok-{i}", i) for i in range(6)]
    poisons: dict[str, tuple[str, bytes]] = {
        # a lone surrogate: refused at decode (or, were it let through, not serialisable)
        "unserialisable": (
            raw_topic,
            json.dumps(report(site, f"{tag}-sur", 1, title="\ud800")).encode(),
        ),
        # 4,000 characters of Chinese: a case.received over the topic's 8,000 bytes
        "oversized output": (
            raw_topic,
            json.dumps(report(site, f"{tag}-big", 2, description="井" * 4000)).encode(),
        ),
        # not JSON, and larger than the producer may send: its letter is cut down
        "oversized dead letter": (raw_topic, b"<" + b"x" * HUGE),
        "over-long id": (raw_topic, json.dumps(report(site, "E" * 500, 3)).encode()),
        "over-long case id": (updates, long_case_id_command()),
        "NUL": (raw_topic, json.dumps(report(site, f"{tag}-nul\u0000", 4)).encode()),
        "out-of-range time": (
            raw_topic,
            json.dumps(
                report(site, f"{tag}-old", 5, reported_at="0001-01-01T08:00:00+08:00")
            ).encode(),
        ),
    }
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap.split(","), acks="all", max_request_size=2_000_000
    )
    where: dict[tuple[str, int, int], str] = {}
    try:
        futures = []
        for i, (name, (topic, value)) in enumerate(poisons.items()):
            futures.append((None, producer.send(raw_topic, json.dumps(valid[i % 6]).encode())))
            futures.append((name, producer.send(topic, value)))
        producer.flush(timeout=30)
        for name, future in futures:
            meta = future.get(timeout=10)
            if name is not None:
                where[(names.catalogue(meta.topic), meta.partition, meta.offset)] = name
    finally:
        producer.close()
    want = {case_id_for("hotline_12345", str(r["external_id"])) for r in valid}

    # poison -> its distinct letters (a retried batch re-sends the same letter, same id)
    letters: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
    assigned: Counter[str] = Counter()
    reader = KafkaConsumer(
        names.topic(DEADLETTER.name),
        names.topic(CASE_EVENTS.name),
        bootstrap_servers=kafka_bootstrap.split(","),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=4_000_000,
        max_partition_fetch_bytes=4_000_000,
    )
    groups = {
        names.group("intake"): [raw_topic],
        names.group("router"): [updates, names.topic(CASES_RECEIVED.name)],
    }
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            for proc in workers.values():
                assert proc.poll() is None, "a processor exited"
            for batch in reader.poll(timeout_ms=500).values():
                for m in batch:
                    data = json.loads(m.value)
                    if data["type"] == "case.assigned":
                        assigned[data["case_id"]] += 1
                    elif data["type"] == "message.rejected":
                        o = data["payload"]["original"]
                        name = where.get((o["topic"], o["partition"], o["offset"]))
                        if name is not None:
                            letters[name][data["event_id"]] = data["payload"]
            done = set(letters) == set(poisons) and set(assigned) >= want
            if done and all(lag(kafka_bootstrap, g, t) == 0 for g, t in groups.items()):
                break
        else:
            raise AssertionError(
                f"after {TIMEOUT_S:.0f}s: letters for {sorted(letters)}, "
                f"{len(set(assigned) & want)} of {len(want)} assigned"
            )
        for batch in reader.poll(timeout_ms=1000).values():  # a late duplicate, if any
            for m in batch:
                data = json.loads(m.value)
                if data["type"] == "case.assigned":
                    assigned[data["case_id"]] += 1
    finally:
        reader.close()
    assert {name: len(ids) for name, ids in letters.items()} == dict.fromkeys(poisons, 1)
    assert {c: n for c, n in assigned.items() if c in want} == dict.fromkeys(want, 1)
    [big] = letters["oversized output"].values()
    assert big["reason"] == RejectionReason.UNPUBLISHABLE.value
    assert "broker refused its case.received output" in str(big["message"])
    [huge] = letters["oversized dead letter"].values()
    cut = huge["original"]["cut"]  # type: ignore[index]
    assert cut["size"] == HUGE + 1 and cut["stored"] == "source_topic"  # intake has no database
    assert 0 < len(huge["original"]["text"]) < HUGE  # type: ignore[index]

"""The Kafka side of the runtime on a real broker: the sink publishes and waits for the
ack, a source in a consumer group reads from the start, commits hold across
consumers of the group, and a rewind reads a batch again.

Each test runs on both clients (``GRIDFLOW_KAFKA_CLIENT``: kafka-python and confluent),
through the same factory the worker uses; and a key lands on the same partition
whichever client wrote it (the case order on a partition depends on it).

The broker's topics are shared with other tests and runs, so each test writes dead
letters keyed by case ids of its own and looks only for those. The dead-letter
topic is used because the only processor that reads it (the archive) merely files
what it finds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from kafka.partitioner.default import murmur2

from schemas.catalogue import Site
from schemas.codec import decode, reject
from schemas.deadletter import MessageRejected, RejectionReason
from schemas.topics import DEADLETTER, Emit, Record
from services.runtime.clients import make_sink, make_source
from services.settings import KafkaClient
from services.topics import create_topics, site_topics
from tests.support.sites import SHANGHAI

pytestmark = pytest.mark.kafka

NOW = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)
TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str, site: Site) -> str:
    create_topics(kafka_bootstrap, site_topics(site))
    return kafka_bootstrap


Sink = Any
Source = Any


@pytest.fixture(params=list(KafkaClient))
def client(request: pytest.FixtureRequest) -> KafkaClient:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def sink(bootstrap: str, client: KafkaClient) -> Iterator[Sink]:
    s = make_sink(client, bootstrap, client_id="gridflow-test-sink")
    yield s
    s.close()


def unique(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:10].upper()
    return [f"KT-{tag}-{i}" for i in range(n)]


def letters(case_ids: list[str]) -> list[Emit]:
    out = []
    for i, case_id in enumerate(case_ids):
        bad = Record(
            topic="gridflow.test.input", value=f"<{case_id}>".encode(), offset=i, timestamp=NOW
        )
        letter = reject(
            bad,
            processor="kafka-test",
            reason=RejectionReason.NOT_JSON,
            message="test letter",
            now=NOW,
            case_id=case_id,
        )
        out.append(Emit(DEADLETTER.name, case_id, letter))
    return out


def source(bootstrap: str, group: str, client: KafkaClient) -> Source:
    return make_source(
        client,
        bootstrap,
        group,
        [DEADLETTER.name],
        max_records=500,
        poll_timeout_ms=300,
        client_id=f"gridflow-test-{group}",
        tz=SHANGHAI,
    )


def ours(records: list[Record], case_ids: list[str]) -> list[Record]:
    wanted = {c.encode() for c in case_ids}
    return [r for r in records if r.key in wanted]


def poll_until(src: Source, case_ids: list[str]) -> list[Record]:
    """Everything polled until each of ``case_ids`` was seen (else fail)."""
    polled: list[Record] = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        polled += src.poll()
        if len(ours(polled, case_ids)) >= len(case_ids):
            return polled
    raise AssertionError(f"not all of {case_ids} read within {TIMEOUT_S:.0f}s")


def drain(src: Source) -> list[Record]:
    """Poll until the consumer is caught up (an empty poll once it has partitions)."""
    polled: list[Record] = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        batch = src.poll()
        if not batch and src.consumer.assignment():
            return polled
        polled += batch
    raise AssertionError(f"still reading after {TIMEOUT_S:.0f}s")


def group() -> str:
    return f"gridflow-test-{uuid.uuid4().hex[:10]}"


def test_what_the_sink_sends_a_fresh_group_reads(
    bootstrap: str, sink: Sink, client: KafkaClient
) -> None:
    case_ids = unique(3)
    sent = letters(case_ids)
    sink.send(sent)
    sink.flush()  # acknowledged: a fresh group must see them
    src = source(bootstrap, group(), client)
    try:
        mine = ours(poll_until(src, case_ids), case_ids)
    finally:
        src.close()
    assert sorted(r.key or b"" for r in mine) == sorted(c.encode() for c in case_ids)
    by_key = {e.key: e.message for e in sent}
    for r in mine:
        back = decode(DEADLETTER, r.value)
        assert isinstance(back, MessageRejected)
        assert back == by_key[(r.key or b"").decode()]
        assert r.topic == DEADLETTER.name
        assert r.timestamp is not None and r.timestamp.tzinfo is not None


def test_committed_records_are_not_read_again_by_the_group(
    bootstrap: str, sink: Sink, client: KafkaClient
) -> None:
    name = group()
    first_ids = unique(2)
    sink.send(letters(first_ids))
    sink.flush()
    first = source(bootstrap, name, client)
    try:
        first.commit(poll_until(first, first_ids))
    finally:
        first.close()

    later_ids = unique(1)
    sink.send(letters(later_ids))
    sink.flush()
    second = source(bootstrap, name, client)  # e.g. the processor restarted
    try:
        polled = poll_until(second, later_ids)
        polled += drain(second)
        assert ours(polled, first_ids) == []
        assert DEADLETTER.name in second.lag()
    finally:
        second.close()


def test_a_rewind_reads_the_batch_again(bootstrap: str, sink: Sink, client: KafkaClient) -> None:
    case_ids = unique(2)
    sink.send(letters(case_ids))
    sink.flush()
    src = source(bootstrap, group(), client)
    try:
        polled = poll_until(src, case_ids)
        src.rewind(polled)  # the batch failed: retry it
        again = poll_until(src, case_ids)
    finally:
        src.close()
    positions = {(r.partition, r.offset) for r in ours(polled, case_ids)}
    assert {(r.partition, r.offset) for r in ours(again, case_ids)} == positions


def test_creating_the_topics_again_creates_nothing(bootstrap: str, site: Site) -> None:
    topics = site_topics(site)
    created, existing = create_topics(bootstrap, topics)
    assert (created, existing) == (0, len(topics))


def test_a_key_lands_on_the_same_partition_with_both_clients(bootstrap: str) -> None:
    """confluent's sink partitions keys with murmur2 as kafka-python's and Java's do
    (librdkafka's own default would not): a case's records keep one partition, so
    their order, whichever client a processor runs on."""
    case_ids = unique(40)
    sinks = {c: make_sink(c, bootstrap, client_id=f"gridflow-test-{c}") for c in KafkaClient}
    try:
        for s in sinks.values():
            s.send(letters(case_ids))
            s.flush()
    finally:
        for s in sinks.values():
            s.close()
    src = source(bootstrap, group(), KafkaClient.KAFKA_PYTHON)
    try:
        polled = poll_until(src, case_ids)
        deadline = time.monotonic() + TIMEOUT_S
        while len(ours(polled, case_ids)) < 2 * len(case_ids) and time.monotonic() < deadline:
            polled += src.poll()
        partitions = len(src.consumer.partitions_for_topic(DEADLETTER.name))
    finally:
        src.close()
    where: dict[bytes, set[int]] = {}
    for r in ours(polled, case_ids):
        where.setdefault(r.key or b"", set()).add(r.partition)
    assert len(ours(polled, case_ids)) == 2 * len(case_ids)  # each key once by each client
    expected = {c.encode(): {(murmur2(c.encode()) & 0x7FFFFFFF) % partitions} for c in case_ids}
    assert where == expected
    assert len({p for ps in where.values() for p in ps}) > 1  # the keys did spread

"""The in-memory broker of the embedded runtime behaves like the parts of Kafka we rely on:
topics exist before they are written, groups keep their own positions, commits
never go backwards, and a poll is bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from schemas.cases import CaseAccepted, StepPayload
from schemas.codec import decode
from schemas.topics import CASE_EVENTS, Emit, Record
from services.runtime.memory import MemoryBroker, MemorySink, MemorySource, UnknownTopicError
from tests.support.sites import SHANGHAI

AT = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)


@pytest.fixture
def broker() -> MemoryBroker:
    b = MemoryBroker()
    b.create_topics(["a", "b"])
    return b


def fill(broker: MemoryBroker, topic: str, n: int) -> None:
    for i in range(n):
        broker.append(topic, None, f"{topic}{i}".encode(), AT)


def values(records: Sequence[Record]) -> list[bytes]:
    return [r.value for r in records]


def test_a_topic_must_exist_before_it_is_written(broker: MemoryBroker) -> None:
    with pytest.raises(UnknownTopicError):
        broker.append("c", None, b"x", AT)
    assert broker.read("c") == []
    broker.create_topics(["c"])
    assert broker.append("c", b"k", b"x", AT).offset == 0
    assert broker.topics() == ["a", "b", "c"]


def test_creating_a_topic_again_keeps_its_records(broker: MemoryBroker) -> None:
    fill(broker, "a", 2)
    broker.create_topics(["a"])
    assert values(broker.read("a")) == [b"a0", b"a1"]


def test_records_get_consecutive_offsets_and_keep_key_and_time(broker: MemoryBroker) -> None:
    first = broker.append("a", b"k1", b"v1", AT)
    second = broker.append("a", None, b"v2", AT)
    assert (first.offset, second.offset) == (0, 1)
    assert (first.topic, first.key, first.timestamp, first.partition) == ("a", b"k1", AT, 0)
    assert broker.read("a", start=1) == [second]


def test_groups_keep_independent_positions(broker: MemoryBroker) -> None:
    fill(broker, "a", 5)
    one = MemorySource(broker, "g1", ["a"], 3)
    two = MemorySource(broker, "g2", ["a"], 10)
    one.commit(one.poll())
    assert values(one.poll()) == [b"a3", b"a4"]
    assert values(two.poll()) == [b"a0", b"a1", b"a2", b"a3", b"a4"]
    assert (one.lag(), two.lag()) == ({"a": 2}, {"a": 5})


def test_polling_without_commit_reads_the_same_records_again(broker: MemoryBroker) -> None:
    fill(broker, "a", 3)
    source = MemorySource(broker, "g", ["a"], 2)
    assert values(source.poll()) == values(source.poll()) == [b"a0", b"a1"]
    source.rewind(source.poll())  # nothing to do: the positions move on commit alone
    assert values(source.poll()) == [b"a0", b"a1"]


def test_commit_is_monotonic(broker: MemoryBroker) -> None:
    fill(broker, "a", 5)
    source = MemorySource(broker, "g", ["a"], 5)
    batch = source.poll()
    source.commit(batch)
    assert broker.committed("g", "a") == 5
    source.commit(batch[:2])  # a late commit of older records does not rewind
    broker.commit("g", "a", 1)
    assert broker.committed("g", "a") == 5
    assert source.poll() == []
    assert source.lag() == {"a": 0}


def test_poll_respects_max_records_across_topics(broker: MemoryBroker) -> None:
    fill(broker, "a", 3)
    fill(broker, "b", 4)
    source = MemorySource(broker, "g", ["a", "b"], 5)
    first = source.poll()
    assert values(first) == [b"a0", b"a1", b"a2", b"b0", b"b1"]
    source.commit(first)
    assert values(source.poll()) == [b"b2", b"b3"]
    assert MemorySource(broker, "g", ["a", "b"], 0).poll() == []


def test_lag_counts_unread_records_of_the_groups_topics_only(broker: MemoryBroker) -> None:
    fill(broker, "a", 3)
    fill(broker, "b", 4)
    assert MemorySource(broker, "g", ["a"]).lag() == {"a": 3}
    assert broker.lag("g", ["a", "b"]) == 7


def test_the_sink_encodes_keys_and_messages(broker: MemoryBroker) -> None:
    broker.create_topics([CASE_EVENTS.name])
    event = CaseAccepted.derive(
        StepPayload(unit_id="u", seq=1, at=AT), producer="router", now=AT, case_id="GF-1"
    )
    sink = MemorySink(broker, lambda: AT)
    sink.send([Emit(CASE_EVENTS.name, "GF-1", event), Emit(CASE_EVENTS.name, None, event)])
    sink.flush()
    first, second = broker.read(CASE_EVENTS.name)
    assert (first.key, second.key) == (b"GF-1", None)
    assert decode(CASE_EVENTS, first.value) == event
    with pytest.raises(UnknownTopicError):
        sink.send([Emit("gridflow.nowhere", None, event)])

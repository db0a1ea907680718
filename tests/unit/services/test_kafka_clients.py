"""The Kafka clients of the runtime notice a broker's return within about a second, and the
lag metric never holds the loop for the request timeout (tests/e2e/test_kafka_outage.py:
with kafka-python 3's defaults, reconnects backed off up to 30 s and a lag query while the
broker was away blocked the loop 30 s, so work resumed ~34 s after the broker's return)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.topics import CASES_RECEIVED
from services.runtime import kafka as runtime_kafka
from services.runtime.kafka import KafkaSink, KafkaSource


class FakeConsumer:
    def __init__(self, **config: Any) -> None:
        self.config = config
        self.timeouts: list[int | None] = []

    def partitions_for_topic(self, _topic: str) -> set[int]:
        return {0}

    def subscribe(self, _topics: list[str]) -> None:
        pass

    def assignment(self) -> set[Any]:
        from kafka import TopicPartition

        return {TopicPartition("gridflow.cases.received", 0)}

    def end_offsets(self, partitions: list[Any], timeout_ms: int | None = None) -> dict[Any, int]:
        self.timeouts.append(timeout_ms)
        return {tp: 5 for tp in partitions}

    def position(self, _tp: Any) -> int:
        return 2


class FakeProducer:
    def __init__(self, **config: Any) -> None:
        self.config = config


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_kafka, "KafkaConsumer", FakeConsumer)
    monkeypatch.setattr(runtime_kafka, "KafkaProducer", FakeProducer)


def _source() -> KafkaSource:
    return KafkaSource(
        "127.0.0.1:1", "g", [CASES_RECEIVED.name], 10, 200, "c", ZoneInfo("Asia/Shanghai")
    )


@pytest.mark.usefixtures("fakes")
def test_both_clients_reconnect_at_most_a_second_apart() -> None:
    consumer = _source().consumer
    producer = KafkaSink("127.0.0.1:1", "c").producer
    assert isinstance(consumer, FakeConsumer) and isinstance(producer, FakeProducer)
    assert consumer.config["reconnect_backoff_max_ms"] <= 1000
    assert producer.config["reconnect_backoff_max_ms"] <= 1000


@pytest.mark.usefixtures("fakes")
def test_the_lag_query_is_bounded_well_below_the_request_timeout() -> None:
    source = _source()
    assert source.lag() == {CASES_RECEIVED.name: 3}
    consumer = source.consumer
    assert isinstance(consumer, FakeConsumer)
    [timeout] = consumer.timeouts
    assert timeout is not None and timeout <= 5000

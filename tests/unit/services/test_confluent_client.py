"""The confluent-kafka (librdkafka) side of the runtime, without a broker: the same
security settings, the partitioner kafka-python and Java use, and the latency and
reconnect settings of the kafka-python clients (tests/integration/services/
test_kafka_runtime.py runs both clients on a real broker)."""

from __future__ import annotations

import uuid

import confluent_kafka
import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from services.runtime import confluent
from services.runtime.batch import Outgoing
from services.runtime.clients import make_sink
from services.runtime.kafka import KafkaSink
from services.runtime.security import SaslMechanism, SecurityProtocol, sasl_kwargs
from services.settings import KafkaClient, Settings


def test_the_setting_chooses_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().kafka_client is KafkaClient.KAFKA_PYTHON
    monkeypatch.setenv("GRIDFLOW_KAFKA_CLIENT", "confluent")
    assert Settings().kafka_client is KafkaClient.CONFLUENT
    monkeypatch.setenv("GRIDFLOW_KAFKA_CLIENT", "java")
    with pytest.raises(ValueError):
        Settings()


@pytest.mark.parametrize("partitions", [1, 3, 6, 12])
def test_librdkafka_murmur2_puts_a_key_where_kafka_python_does(partitions: int) -> None:
    for i in range(500):
        key = f"GF-{uuid.uuid4().hex[:12].upper()}-{i}".encode()
        ours = (murmur2(key) & 0x7FFFFFFF) % partitions
        assert confluent_kafka.murmur2(key, partitions) == ours


def test_the_sink_is_idempotent_and_partitions_as_java_does() -> None:
    sink = make_sink(KafkaClient.CONFLUENT, "127.0.0.1:1", "c")
    try:
        assert isinstance(sink, confluent.ConfluentSink)
        config = sink._config
        assert config["partitioner"] == "murmur2_random"
        assert config["enable.idempotence"] is True and config["acks"] == "all"
        assert config["reconnect.backoff.max.ms"] <= 1000
        assert config["linger.ms"] <= 5
    finally:
        sink.producer.flush(0)


def test_both_sinks_let_the_same_sizes_through() -> None:
    """The kafka-python sink's limit is its producer's max_request_size default, its
    size the record batch estimate (a KafkaSink would wait 30 s for a broker here)."""
    ours = confluent.ConfluentSink("127.0.0.1:1", "c")
    try:
        message = Outgoing("gridflow.cases.received", b"GF-1", b"x" * 5000)
        assert ours.size(message) == KafkaSink.size(None, message)  # type: ignore[arg-type]
        assert ours.limit() == KafkaProducer.DEFAULT_CONFIG["max_request_size"]
    finally:
        ours.producer.flush(0)


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [
        (SecurityProtocol.SASL_PLAINTEXT, SaslMechanism.SCRAM_SHA_512),
        (SecurityProtocol.SASL_PLAINTEXT, SaslMechanism.SCRAM_SHA_256),
        (SecurityProtocol.SASL_SSL, SaslMechanism.PLAIN),
    ],
)
def test_the_security_settings_in_librdkafka_names(
    protocol: SecurityProtocol, mechanism: SaslMechanism
) -> None:
    out = confluent.librdkafka_security(sasl_kwargs("gridflow.router", "pw", protocol, mechanism))
    assert out["security.protocol"] == str(protocol)
    assert out["sasl.mechanism"] == str(mechanism)
    assert (out["sasl.username"], out["sasl.password"]) == ("gridflow.router", "pw")
    if protocol is SecurityProtocol.SASL_SSL:
        assert out["ssl.ca.location"] == "probe"
    confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:1", **out}).flush(0)  # accepted


def test_plaintext_needs_no_security_and_an_unknown_key_is_refused() -> None:
    assert confluent.librdkafka_security({}) == {}
    with pytest.raises(ValueError, match="no librdkafka setting"):
        confluent.librdkafka_security({"sasl_oauth_token_provider": object()})

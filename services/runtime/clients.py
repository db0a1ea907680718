"""Which Kafka client the runtime runs on: ``GRIDFLOW_KAFKA_CLIENT``.

Both implement the same ports (:class:`~services.runtime.loop.Source`,
:class:`~services.runtime.batch.Sink`), so the batch loop never knows which runs:
kafka-python (:mod:`services.runtime.kafka`, pure Python) or confluent-kafka
(:mod:`services.runtime.confluent`, librdkafka). The composition code asks here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Any

from services.runtime.names import Names
from services.settings import KafkaClient


def make_source(
    client: KafkaClient,
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    max_records: int,
    poll_timeout_ms: int,
    client_id: str,
    tz: tzinfo,
    names: Names | None = None,
    instance_id: str | None = None,
    session_timeout_ms: int = 10_000,
    security: Mapping[str, Any] | None = None,
) -> Any:
    """A consumer-group source on ``client``."""
    if client is KafkaClient.CONFLUENT:
        from services.runtime.confluent import ConfluentSource as Chosen
    else:
        from services.runtime.kafka import KafkaSource as Chosen  # type: ignore[assignment]
    return Chosen(
        bootstrap,
        group,
        topics,
        max_records,
        poll_timeout_ms,
        client_id,
        tz,
        names,
        instance_id,
        session_timeout_ms,
        security,
    )


def make_sink(
    client: KafkaClient,
    bootstrap: str,
    client_id: str,
    names: Names | None = None,
    security: Mapping[str, Any] | None = None,
) -> Any:
    """An idempotent producer sink on ``client``."""
    if client is KafkaClient.CONFLUENT:
        from services.runtime.confluent import ConfluentSink as Sink
    else:
        from services.runtime.kafka import KafkaSink as Sink  # type: ignore[assignment]
    return Sink(bootstrap, client_id, names, security)


def fatal_errors() -> tuple[type[BaseException], ...]:
    """Errors after which retrying a batch cannot help (another live process has this
    static member's instance id, say): the worker stops on them."""
    from kafka.errors import FencedInstanceIdError

    from services.runtime.confluent import ClientFatal

    return (FencedInstanceIdError, ClientFatal)

"""The Kafka side of the runtime: a consumer group as a batch source, a producer as
a sink. kafka-python is used directly (not faust) so the checkpoint order in
:mod:`services.runtime.batch` is explicit and shared with the embedded runtime.

Both translate between the catalogue's topic names, which the logic uses, and
the broker's, which carry the namespace (:class:`~services.runtime.names.Names`).
A record's time is its broker timestamp (topics are created with
``LogAppendTime``), in the site's timezone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.structs import OffsetAndMetadata, TopicPartition

from schemas.codec import encode
from schemas.topics import Emit, Record
from services.runtime.names import Names

log = logging.getLogger(__name__)


def _positions(records: Sequence[Record], names: Names) -> dict[TopicPartition, tuple[int, int]]:
    """(first, last) offset per broker partition in ``records``."""
    out: dict[TopicPartition, tuple[int, int]] = {}
    for r in records:
        tp = TopicPartition(names.topic(r.topic), r.partition)
        first, last = out.get(tp, (r.offset, r.offset))
        out[tp] = (min(first, r.offset), max(last, r.offset))
    return out


class KafkaSource:
    """One consumer in the group ``<namespace>.<processor>``; offsets committed by hand."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: Sequence[str],
        max_records: int,
        poll_timeout_ms: int,
        client_id: str,
        tz: tzinfo,
        names: Names | None = None,
    ) -> None:
        self._max = max_records
        self._timeout = poll_timeout_ms
        self._tz = tz
        self._names = names or Names()
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            isolation_level="read_committed",
            metadata_max_age_ms=30_000,
            # a batch may wait on slow webhooks (the notifier: timeouts and retries)
            max_poll_interval_ms=900_000,
            # co-partitioning: partition p of every case topic goes to the same member
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        physical = [self._names.topic(t) for t in topics]
        # Know every topic's partitions before joining the group: a member that joins
        # without them is assigned nothing until the next metadata refresh.
        missing = [t for t in physical if not self.consumer.partitions_for_topic(t)]
        if missing:
            raise RuntimeError(
                f"topics missing on the broker: {missing}; run gridflow topics create"
            )
        self.consumer.subscribe(physical)

    def poll(self) -> list[Record]:
        batches = self.consumer.poll(timeout_ms=self._timeout, max_records=self._max)
        records = [self._record(m) for batch in batches.values() for m in batch]
        records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return records

    def _record(self, m: Any) -> Record:
        # Kafka's message format v2 (every broker since 0.11) always has a timestamp
        millis = m.timestamp if m.timestamp is not None and m.timestamp >= 0 else 0
        return Record(
            topic=self._names.catalogue(m.topic),
            value=m.value,
            key=m.key,
            partition=m.partition,
            offset=m.offset,
            timestamp=datetime.fromtimestamp(millis / 1000, self._tz),
            headers=tuple((k, v if v is not None else b"") for k, v in (m.headers or ())),
        )

    def commit(self, records: Sequence[Record]) -> None:
        if not records:
            return
        offsets = {
            tp: OffsetAndMetadata(last + 1, "", -1)
            for tp, (_, last) in _positions(records, self._names).items()
        }
        self.consumer.commit(offsets)

    def rewind(self, records: Sequence[Record]) -> None:
        """Seek back to the first record of each partition still ours, to retry the batch.

        A partition lost in a rebalance is skipped: its new owner resumes from the
        last committed offset, which is before this batch.
        """
        owned = self.consumer.assignment()
        for tp, (first, _) in _positions(records, self._names).items():
            if tp in owned:
                self.consumer.seek(tp, first)

    def lag(self) -> dict[str, int]:
        """Records not yet consumed, per topic, for the partitions this consumer owns."""
        assigned = list(self.consumer.assignment())
        if not assigned:
            return {}
        ends = self.consumer.end_offsets(assigned)
        out: dict[str, int] = {}
        for tp in assigned:
            behind = max(0, ends.get(tp, 0) - self.consumer.position(tp))
            topic = self._names.catalogue(tp.topic)
            out[topic] = out.get(topic, 0) + behind
        return out

    def close(self) -> None:
        self.consumer.close(autocommit=False)


class KafkaSink:
    """An idempotent producer; ``flush`` returns once the broker acknowledged all."""

    def __init__(self, bootstrap: str, client_id: str, names: Names | None = None) -> None:
        self._names = names or Names()
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            # retry until delivered or two minutes pass: a new broker needs a while to
            # elect leaders for freshly created partitions (NotLeaderForPartition)
            delivery_timeout_ms=120_000,
        )
        self._pending: list[Any] = []

    def send(self, emits: Sequence[Emit]) -> None:
        for emit in emits:
            key = emit.key.encode() if emit.key is not None else None
            self._pending.append(
                self.producer.send(
                    self._names.topic(emit.topic), key=key, value=encode(emit.message)
                )
            )

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        self.producer.flush(timeout=30)
        for future in pending:
            future.get(timeout=0)  # raises the send's error, if any

    def close(self) -> None:
        self.producer.close(timeout=10)

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
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.structs import OffsetAndMetadata, TopicPartition

from schemas.topics import Emit, Record
from services.logs import error_fields
from services.runtime.batch import Outgoing, Refused, outgoing
from services.runtime.names import Names

log = logging.getLogger(__name__)

_REFUSALS = (
    MessageSizeTooLargeError,  # over max_request_size at send, or the topic's limit
    RecordListTooLargeError,
    InvalidRecordError,  # the broker's validation refused this record
    CorruptRecordError,  # also what a broker answers for some records over its limit
)
"""Errors that a record earns by what it is: sending it again cannot succeed."""
_PRODUCER_KEYS = frozenset(KafkaProducer.DEFAULT_CONFIG)
RECONNECT_BACKOFF_MAX_MS = 1000
"""The longest pause between two attempts to reach a broker that went away (kafka-python
3 defaults to 30 s; the Java client to 1 s): work resumes about a second after its return."""
LAG_TIMEOUT_MS = 2000
"""How long the lag metric may wait for the end offsets before it is skipped."""


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
        instance_id: str | None = None,
        session_timeout_ms: int = 10_000,
        security: Mapping[str, Any] | None = None,
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
            # kafka-python 3 backs off reconnects up to 30 s by default: after an outage
            # of the broker a worker would only notice its return up to 30 s late
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            # The broker answers a fetch at once when a partition has data, else holds
            # it this long. kafka-python keeps one fetch in flight per broker for all
            # the assigned partitions; with the default 500 ms a record arriving while
            # that fetch is held can wait out the whole hold, which put ~0.5 s on
            # every hop. 20 ms bounds the wait at ~50 idle fetches a second.
            fetch_max_wait_ms=20,
            # co-partitioning: partition p of every case topic goes to the same member
            partition_assignment_strategy=(RangePartitionAssignor,),
            # Static membership (services.runtime.instance): a member restarted with the
            # same id within the session timeout gets its partitions back at once. A
            # static member never leaves the group on close, so the session timeout is
            # also how long the partitions of an instance that died or was stopped for
            # good wait before they move (docs/ARCHITECTURE.md, "Recovery").
            group_instance_id=instance_id,
            session_timeout_ms=session_timeout_ms,
            # a fifth of the session: four heartbeats may be lost before it expires, and
            # a member learns of a rebalance within one
            heartbeat_interval_ms=session_timeout_ms // 5,
            # who this consumer is on a SASL broker (services.runtime.security)
            **dict(security or {}),
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
        self._subscribed = physical

    def poll(self, timeout_ms: int | None = None) -> list[Record]:
        # a caller with a timer to keep (the escalator's next due time) waits less
        wait = self._timeout if timeout_ms is None else max(0, min(timeout_ms, self._timeout))
        batches = self.consumer.poll(timeout_ms=wait, max_records=self._max)
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
        if not assigned:  # still a round trip: the worker's Kafka probe (/readyz) rests on it
            probe = TopicPartition(self._subscribed[0], 0)
            self.consumer.end_offsets([probe], timeout_ms=LAG_TIMEOUT_MS)
            return {}
        # bounded: the worker measures between batches, and the default (the request
        # timeout, 30 s) would hold its loop that long while the broker is away
        ends = self.consumer.end_offsets(assigned, timeout_ms=LAG_TIMEOUT_MS)
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

    def __init__(
        self,
        bootstrap: str,
        client_id: str,
        names: Names | None = None,
        security: Mapping[str, Any] | None = None,
    ) -> None:
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
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,  # as the consumer's
            # who this producer is on a SASL broker; _renew keeps it (a config key)
            **dict(security or {}),
        )
        self._pending: list[Any] = []
        self._messages: list[Outgoing] = []
        self._refused: dict[int, str] = {}
        self._prepared: list[str] = []

    def prepare(self, topics: Sequence[str]) -> None:
        """Learn the partitions of every topic this sink writes to, before the first batch.

        kafka-python learns a topic's partitions on its first send to it, and blocks
        that send for a metadata refresh; refreshes are at least ``retry_backoff_ms``
        (100 ms) apart. With a topic per unit, the router's first sends to each unit
        stalled it for seconds. Here every topic is tracked first, so that one
        refresh answers for all of them.
        """
        self._prepared = list(topics)
        physical = [self._names.topic(t) for t in topics]
        track = getattr(getattr(self.producer, "_sender", None), "add_topic", None)
        if track is not None:  # kafka-python 3.0's sender; otherwise one refresh each
            for topic in physical:
                track(topic)
        for topic in physical:
            self.producer.partitions_for(topic)

    def limit(self) -> int:
        """The producer's ``max_request_size``: it refuses a larger record at send."""
        return int(self.producer.config["max_request_size"])

    def size(self, message: Outgoing) -> int:
        """The size kafka-python checks against ``max_request_size`` (record format v2,
        every broker since 0.11), so a message the runner lets through is not refused."""
        return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(message.key, message.value, []))

    def send(self, messages: Sequence[Outgoing | Emit]) -> None:
        """Send each message (an Emit, from a tool or test, is serialised first).

        A message the producer refuses for what it is is remembered by its position,
        and :meth:`flush` raises :class:`Refused` for it with the rest.
        """
        for item in messages:
            message = outgoing(item)
            position = len(self._pending)
            self._messages.append(message)
            try:
                future = self._send(message)
            except _REFUSALS as exc:
                self._refused[position] = type(exc).__name__
                future = None
            self._pending.append(future)

    def flush(self) -> None:
        """Wait for every ack. A record the broker refused for what it is (too large, an
        invalid record) is raised as :class:`Refused`, naming its position; any other
        error (the broker away, a timeout, a leader moving) is raised as it is, and the
        whole batch is retried.

        kafka-python's idempotent producer takes a refusal by the broker as fatal: it
        fails every batch in flight with the same error, and every send after it. So
        after one the producer is replaced, and each message that failed so is sent
        again alone, on the new producer: only those refused again are :class:`Refused`.
        """
        pending, self._pending = self._pending, []
        messages, self._messages = self._messages, []
        refused, self._refused = self._refused, {}
        self.producer.flush(timeout=30)
        failure: BaseException | None = None
        suspects: list[int] = []
        for position, future in enumerate(pending):
            if future is None:
                continue
            try:
                future.get(timeout=0)  # raises the send's error, if any
            except _REFUSALS:
                suspects.append(position)
            except Exception as exc:
                failure = failure or exc
        if suspects or (failure is not None and self._broken()):
            self._renew()
        if failure is not None:
            raise failure
        for position in suspects:  # one at a time: a refusal breaks the producer again
            try:
                self._send(messages[position]).get(timeout=30)
            except _REFUSALS as exc:
                refused[position] = type(exc).__name__
                self._renew()
        if refused:
            log.warning(
                "records refused by the broker",
                extra={"refused": len(refused), "errors": sorted(set(refused.values()))},
            )
            raise Refused(refused)

    def _send(self, message: Outgoing) -> Any:
        topic = self._names.topic(message.topic)
        return self.producer.send(topic, key=message.key, value=message.value)

    def _broken(self) -> bool:
        """Whether the producer failed for good (kafka-python's fatal error state)."""
        manager = getattr(self.producer, "_transaction_manager", None)
        return bool(manager is not None and manager.has_fatal_error())

    def _renew(self) -> None:
        """Replace the producer with a new one of the same configuration."""
        config = {k: v for k, v in self.producer.config.items() if k in _PRODUCER_KEYS}
        old, self.producer = self.producer, KafkaProducer(**config)
        try:
            old.close(timeout=0)
        except Exception:  # a failed producer may fail to close; it is dropped either way
            log.warning("failed producer not closed cleanly", extra=error_fields())
        if self._prepared:
            self.prepare(self._prepared)

    def close(self) -> None:
        self.producer.close(timeout=10)

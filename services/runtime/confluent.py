"""The Kafka side of the runtime on confluent-kafka (librdkafka), behind the same ports as
:mod:`services.runtime.kafka` (kafka-python): a consumer group as a batch source, an
idempotent producer as a sink. ``GRIDFLOW_KAFKA_CLIENT`` chooses one
(:mod:`services.runtime.clients`); the batch loop does not know which runs.

Everything :mod:`services.runtime.kafka` promises holds here too, with librdkafka's
names for it:

- offsets committed by hand (synchronously) once the batch's outputs are acknowledged
  and its transaction committed (the checkpoint order of :mod:`services.runtime.batch`);
- a rebalance is left to the client, as kafka-python's source leaves it: on revoke the
  partitions are given up and the records fetched for them dropped, a commit for a
  partition no longer owned fails (the batch is retried), and :meth:`rewind` skips the
  partitions lost;
- a record's time is its broker timestamp (``LogAppendTime``) in the site's timezone;
- the namespace (:class:`~services.runtime.names.Names`) on every topic and group;
- a record refused for what it is (too large, invalid) is raised as
  :class:`~services.runtime.batch.Refused` after a retry alone; transient errors (the
  broker away, a timeout) are raised as they are, and the batch is retried;
- the keyed partitioner is ``murmur2_random``, Java's and kafka-python's default
  (librdkafka's own default, ``consistent_random``, is CRC-32 based and would put a key
  on another partition): a case's records land on the same partition whichever client
  wrote them, so their order holds across a change of client;
- SASL (SCRAM-SHA-512/256, PLAIN over SSL) from the settings :mod:`~services.runtime.security`
  reads, translated into librdkafka's configuration names.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from kafka.record.default_records import DefaultRecordBatchBuilder

from schemas.topics import Emit, Record
from services.logs import error_fields
from services.runtime.batch import Outgoing, Refused, outgoing
from services.runtime.kafka import LAG_TIMEOUT_MS, RECONNECT_BACKOFF_MAX_MS
from services.runtime.names import Names

log = logging.getLogger(__name__)

_REFUSALS = frozenset(
    {
        # over the topic's max.message.bytes, or over message.max.bytes at produce
        # (librdkafka's own check, raised by produce() itself)
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,  # the broker's validation refused this record
        KafkaError.INVALID_MSG,  # CORRUPT_MESSAGE: also answered for some records over the limit
    }
)
"""Error codes that a record earns by what it is: sending it again cannot succeed (the
four refusals of :data:`services.runtime.kafka._REFUSALS`, in librdkafka's names)."""
MAX_MESSAGE_BYTES = 1_048_576
"""The producer's ``message.max.bytes``: kafka-python's ``max_request_size`` default, so
both clients refuse (and the runner cuts dead letters to) the same size."""
FETCH_WAIT_MS = 20
"""``fetch.wait.max.ms``: how long the broker holds a fetch while no assigned partition
has data (librdkafka's default 500 ms). librdkafka keeps a fetch in flight per broker,
so a record arriving during a held fetch could wait out the whole hold on every hop;
20 ms bounds that, as :mod:`services.runtime.kafka` does for kafka-python."""
LINGER_MS = 5
"""``linger.ms``, as the kafka-python sink's: the batch's flush sends at once anyway."""
FLUSH_TIMEOUT_S = 30.0


def _wait_for_records(consumer: Consumer, seconds: float) -> Message | None:
    """The first record within ``seconds``, else None: the one blocking wait of a poll,
    a function of its own so that a profile (bench/run.py) tells waiting from work."""
    return consumer.poll(seconds)


class ClientFatal(RuntimeError):
    """librdkafka raised a fatal error (a static member fenced by another live process with
    its instance id, a producer fenced): the client is unusable, retrying cannot help."""


def librdkafka_security(security: Mapping[str, Any] | None) -> dict[str, Any]:
    """The kafka-python security kwargs (:func:`~services.runtime.security.client_security`)
    in librdkafka's names: one set of settings secures both clients alike."""
    if not security:
        return {}
    names = {
        "security_protocol": "security.protocol",
        "sasl_mechanism": "sasl.mechanism",
        "sasl_plain_username": "sasl.username",
        "sasl_plain_password": "sasl.password",
        "ssl_cafile": "ssl.ca.location",
    }
    unknown = set(security) - set(names)
    if unknown:
        raise ValueError(f"no librdkafka setting for {sorted(unknown)}")
    out = {names[k]: v for k, v in security.items()}
    if out.get("security.protocol") == "SASL_SSL" and "ssl.ca.location" not in out:
        out["ssl.ca.location"] = "probe"  # the system's CA bundle, as kafka-python uses
    return out


def _positions(records: Sequence[Record], names: Names) -> dict[tuple[str, int], tuple[int, int]]:
    """(first, last) offset per broker partition in ``records``."""
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for r in records:
        tp = (names.topic(r.topic), r.partition)
        first, last = out.get(tp, (r.offset, r.offset))
        out[tp] = (min(first, r.offset), max(last, r.offset))
    return out


def _common(bootstrap: str, client_id: str, security: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        # after an outage a client notices the broker's return within about a second
        "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
        # kafka-python sets TCP_NODELAY; librdkafka leaves Nagle on unless told
        "socket.nagle.disable": True,
        "logger": log,
        **librdkafka_security(security),
    }


class ConfluentSource:
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
        self._fatal: KafkaError | None = None
        config: dict[str, Any] = {
            **_common(bootstrap, client_id, security),
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "topic.metadata.refresh.interval.ms": 30_000,
            "fetch.wait.max.ms": FETCH_WAIT_MS,
            "fetch.error.backoff.ms": 100,
            # co-partitioning: partition p of every case topic goes to the same member
            # (the same "range" protocol as kafka-python's RangePartitionAssignor)
            "partition.assignment.strategy": "range",
            "session.timeout.ms": session_timeout_ms,
            # a fifth of the session, as the kafka-python source's
            "heartbeat.interval.ms": session_timeout_ms // 5,
            "error_cb": self._error,
        }
        if instance_id is not None:  # static membership (services.runtime.instance)
            config["group.instance.id"] = instance_id
        self.consumer = Consumer(config)
        physical = [self._names.topic(t) for t in topics]
        # Know every topic before joining the group, as the kafka-python source does.
        meta = self.consumer.list_topics(timeout=30)
        missing = [
            t
            for t in physical
            if t not in meta.topics
            or meta.topics[t].error is not None
            or not meta.topics[t].partitions
        ]
        if missing:
            self.consumer.close()
            raise RuntimeError(
                f"topics missing on the broker: {missing}; run gridflow topics create"
            )
        self.consumer.subscribe(physical)
        self._subscribed = physical

    def _error(self, err: KafkaError) -> None:
        """librdkafka's error callback (served inside poll): only a fatal one matters,
        the others (a broker away) it recovers from by itself."""
        if err.fatal():
            self._fatal = err
        else:
            log.debug("kafka client error", extra={"error": err.name()})

    def _check(self) -> None:
        if self._fatal is not None:
            raise ClientFatal(f"{self._fatal.name()}: {self._fatal.str()}")

    def poll(self, timeout_ms: int | None = None) -> list[Record]:
        # a caller with a timer to keep (the escalator's next due time) waits less
        wait = self._timeout if timeout_ms is None else max(0, min(timeout_ms, self._timeout))
        # consume(n, t) waits until it has n records or t is over, so a lone record would
        # wait out the whole timeout: wait for the first, then take what is already here
        first = _wait_for_records(self.consumer, wait / 1000)
        self._check()
        if first is None:
            return []
        messages = [first]
        if self._max > 1:
            messages += self.consumer.consume(self._max - 1, 0)
        records = []
        for m in messages:
            err = m.error()
            if err is None:
                records.append(self._record(m))
            elif err.fatal():
                raise ClientFatal(f"{err.name()}: {err.str()}")
            else:  # a partition's fetch failed (a topic deleted, ...): librdkafka retries it
                log.warning("consumer error", extra={"error": err.name(), "topic": m.topic()})
        self._check()
        records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return records

    def _record(self, m: Message) -> Record:
        _kind, millis = m.timestamp()
        if millis is None or millis < 0:  # message format v2 always has one
            millis = 0
        return Record(
            topic=self._names.catalogue(m.topic()),  # type: ignore[arg-type]
            value=m.value() or b"",
            key=m.key(),  # type: ignore[arg-type]
            partition=m.partition(),  # type: ignore[arg-type]
            offset=m.offset(),  # type: ignore[arg-type]
            timestamp=datetime.fromtimestamp(millis / 1000, self._tz),
            headers=tuple(
                (k, v if isinstance(v, bytes) else (v or b"").encode())  # type: ignore[union-attr]
                for k, v in (m.headers() or ())
            ),
        )

    def commit(self, records: Sequence[Record]) -> None:
        if not records:
            return
        offsets = [
            TopicPartition(topic, partition, last + 1)
            for (topic, partition), (_, last) in _positions(records, self._names).items()
        ]
        done = self.consumer.commit(offsets=offsets, asynchronous=False) or []
        failed = [tp for tp in done if tp.error is not None]
        if failed:  # a partition lost in a rebalance, say: the batch is retried
            raise KafkaException(failed[0].error)

    def rewind(self, records: Sequence[Record]) -> None:
        """Seek back to the first record of each partition still ours, to retry the batch.

        A partition lost in a rebalance is skipped: its new owner resumes from the
        last committed offset, which is before this batch.
        """
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        for (topic, partition), (first, _) in _positions(records, self._names).items():
            if (topic, partition) in owned:
                self.consumer.seek(TopicPartition(topic, partition, first))

    def lag(self) -> dict[str, int]:
        """Records not yet consumed, per topic, for the partitions this consumer owns.

        One round trip to the broker each time (the worker's Kafka probe for /readyz rests
        on it), bounded by :data:`~services.runtime.kafka.LAG_TIMEOUT_MS`; the other
        partitions' end offsets are the ones the fetches last brought (librdkafka keeps
        them), asked of the broker only for a partition not fetched yet.
        """
        timeout = LAG_TIMEOUT_MS / 1000
        assigned = self.consumer.assignment()
        if not assigned:
            self.consumer.get_watermark_offsets(
                TopicPartition(self._subscribed[0], 0), timeout=timeout
            )
            return {}
        self.consumer.get_watermark_offsets(assigned[0], timeout=timeout)  # the probe
        positions = self.consumer.position(assigned)
        unknown = [tp for tp in positions if tp.offset == OFFSET_INVALID]
        committed: dict[tuple[str, int], int] = {}
        if unknown:  # nothing consumed there yet: it resumes from the committed offset
            for tp in self.consumer.committed(unknown, timeout=timeout):
                committed[(tp.topic, tp.partition)] = max(tp.offset, 0)
        out: dict[str, int] = {}
        for tp in positions:
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high is None or high < 0:
                _low, high = self.consumer.get_watermark_offsets(tp, timeout=timeout)
            at = tp.offset if tp.offset >= 0 else committed.get((tp.topic, tp.partition), 0)
            topic = self._names.catalogue(tp.topic)
            out[topic] = out.get(topic, 0) + max(0, high - at)
        return out

    def close(self) -> None:
        self.consumer.close()  # auto-commit is off: it commits nothing


class ConfluentSink:
    """An idempotent producer (acks=all); ``flush`` returns once the broker acknowledged all."""

    def __init__(
        self,
        bootstrap: str,
        client_id: str,
        names: Names | None = None,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self._names = names or Names()
        self._config: dict[str, Any] = {
            **_common(bootstrap, client_id, security),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": LINGER_MS,
            # retry until delivered or two minutes pass, as the kafka-python sink: a new
            # broker needs a while to elect leaders for fresh partitions
            "delivery.timeout.ms": 120_000,
            "message.max.bytes": MAX_MESSAGE_BYTES,
            # Java's and kafka-python's default for keyed records (murmur2, positive
            # hash modulo the partitions); random for records without a key
            "partitioner": "murmur2_random",
            "error_cb": self._error,
        }
        self.producer = Producer(self._config)
        self._generation = 0  # a late delivery report of an abandoned flush is ignored
        self._messages: list[Outgoing] = []
        self._errors: dict[int, KafkaError] = {}
        self._refused: dict[int, str] = {}
        self._fatal: KafkaError | None = None
        self._prepared: list[str] = []

    def _error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
        else:
            log.debug("kafka client error", extra={"error": err.name()})

    def prepare(self, topics: Sequence[str]) -> None:
        """Learn the partitions of every topic this sink writes to, before the first batch.

        librdkafka does not block a send to a topic it does not know yet, but holds the
        record until that topic's metadata comes: the first record to each unit's topic
        would wait a metadata round trip. Asking for each topic here makes the producer
        know them all (as :meth:`services.runtime.kafka.KafkaSink.prepare` does).
        """
        self._prepared = list(topics)
        for topic in topics:
            self.producer.list_topics(topic=self._names.topic(topic), timeout=10)

    def limit(self) -> int:
        """The producer's ``message.max.bytes``: it refuses a larger record at send."""
        return MAX_MESSAGE_BYTES

    def size(self, message: Outgoing) -> int:
        """A record's size as one record batch of format v2 (every broker since 0.11): at
        least what librdkafka counts against :meth:`limit`, and the same figure the
        kafka-python sink gives, so both let the same messages through."""
        return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(message.key, message.value, []))

    def send(self, messages: Sequence[Outgoing | Emit]) -> None:
        """Send each message (an Emit, from a tool or test, is serialised first).

        A message the producer refuses for what it is is remembered by its position,
        and :meth:`flush` raises :class:`Refused` for it with the rest.
        """
        for item in messages:
            message = outgoing(item)
            position = len(self._messages)
            self._messages.append(message)
            try:
                self._produce(
                    message, functools.partial(self._delivered, self._generation, position)
                )
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() not in _REFUSALS:
                    raise
                self._refused[position] = err.name()

    def _produce(self, message: Outgoing, report: Any) -> None:
        topic = self._names.topic(message.topic)
        for _ in range(1000):  # bounded: the local queue full (BufferError) waits for acks
            try:
                self.producer.produce(topic, message.value, message.key, on_delivery=report)
                return
            except BufferError:
                self.producer.poll(0.1)
        raise TimeoutError("the producer's queue stayed full")

    def _delivered(self, generation: int, position: int, err: KafkaError | None, _m: Any) -> None:
        if err is not None and generation == self._generation:
            self._errors[position] = err

    def flush(self) -> None:
        """Wait for every ack. A record the broker refused for what it is (too large, an
        invalid record) is raised as :class:`Refused`, naming its position; any other
        error (the broker away, a timeout, a leader moving) is raised as it is, and the
        whole batch is retried.

        The broker refuses a record batch whole, so the records sharing a batch with one
        too large fail with it: each record that failed so is sent again alone, and only
        those refused again are :class:`Refused`. A producer in librdkafka's fatal state
        is replaced by one of the same configuration.
        """
        messages, self._messages = self._messages, []
        refused, self._refused = self._refused, {}
        try:
            left = self.producer.flush(FLUSH_TIMEOUT_S)
            errors, self._errors = self._errors, {}
        finally:
            self._generation += 1  # reports still to come belong to an abandoned flush
        if self._fatal is not None:
            fatal, self._fatal = self._fatal, None
            self._renew()
            raise ClientFatal(f"producer failed: {fatal.name()}: {fatal.str()}")
        if left:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{left} records not acked"))
        suspects = sorted(p for p, err in errors.items() if err.code() in _REFUSALS)
        failure = next((err for err in errors.values() if err.code() not in _REFUSALS), None)
        if failure is not None:
            raise KafkaException(failure)
        for position in suspects:  # one at a time, each in a record batch of its own
            err = self._send_alone(messages[position])
            if err is not None and err.code() in _REFUSALS:
                refused[position] = err.name()
            elif err is not None:
                raise KafkaException(err)
        if refused:
            log.warning(
                "records refused by the broker",
                extra={"refused": len(refused), "errors": sorted(set(refused.values()))},
            )
            raise Refused(refused)

    def _send_alone(self, message: Outgoing) -> KafkaError | None:
        """Send ``message`` and wait for its ack; its error, if any."""
        found: list[KafkaError | None] = []

        def report(err: KafkaError | None, _m: Any) -> None:
            found.append(err)

        try:
            self._produce(message, report)
        except KafkaException as exc:
            return exc.args[0]  # type: ignore[no-any-return]
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while not found and time.monotonic() < deadline:
            self.producer.flush(max(0.0, deadline - time.monotonic()))
        if not found:
            return KafkaError(KafkaError._TIMED_OUT, "record not acked")
        return found[0]

    def _renew(self) -> None:
        """Replace the producer with a new one of the same configuration."""
        old, self.producer = self.producer, Producer(self._config)
        try:
            old.flush(0)
        except Exception:  # a failed producer may fail to close; it is dropped either way
            log.warning("failed producer not closed cleanly", extra=error_fields())
        if self._prepared:
            self.prepare(self._prepared)

    def close(self) -> None:
        self.producer.flush(10)

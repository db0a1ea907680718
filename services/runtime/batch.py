"""One processor, one batch: decode, de-duplicate, act, publish, commit.

The order of a checkpoint matters, and is the same in both runtimes:

1. decode each record; skip an envelope whose event id is in the inbox; call
   the processor's logic; a message it refuses becomes a dead letter;
2. publish every output and flush the producer (wait for the broker's ack);
3. commit the database transaction: the processor's state and the inbox rows;
4. the caller commits the consumer offsets.

A crash after step 2 repeats the batch: the logic is deterministic, so the same
event ids come out again and downstream inboxes drop them. A crash after step 3
re-reads the batch and the inbox skips it. Nothing is lost, and nothing inside
gridflow is done twice. What leaves it (a webhook) can be repeated after a crash,
with the same Idempotency-Key.

A batch whose logic raises unexpectedly is rolled back and re-run one record per
transaction, so one poison message cannot hold back the others; a record that
fails alone is dead-lettered (policy ``deadletter``) or stops the processor
(policy ``stop``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.codec import DecodeError, decode, reject
from schemas.deadletter import MessageRejected, Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.topics import DEADLETTER, Emit, Record, topic_named
from services.logs import error_fields
from services.metrics import Metrics, topic_label
from services.runtime.clock import Clock
from services.runtime.processor import Processor
from services.settings import ErrorPolicy
from services.storage.db import Inbox, Transaction

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where outputs are published: the in-memory broker or a Kafka producer."""

    def send(self, emits: Sequence[Emit]) -> None: ...

    def flush(self) -> None:
        """Return once everything sent is acknowledged; raise if any send failed."""
        ...


class ProcessingFailed(RuntimeError):
    """The logic raised on a record: a bug or a state it cannot handle."""

    def __init__(self, record: Record, cause: BaseException, case_id: str | None = None) -> None:
        super().__init__(f"{type(cause).__name__} on {record.topic}[{record.partition}]")
        self.record = record
        self.cause = cause
        self.case_id = case_id


@dataclass
class BatchResult:
    records: int = 0
    emitted: int = 0
    dead_letters: int = 0
    duplicates: int = 0


class BatchRunner:
    """Runs one processor's logic over batches, inside one transaction per batch."""

    def __init__(
        self,
        processor: Processor,
        tx: Transaction,
        sink: Sink,
        clock: Clock,
        metrics: Metrics,
        on_error: ErrorPolicy = ErrorPolicy.DEADLETTER,
    ) -> None:
        self.processor = processor
        self.tx = tx
        self.sink = sink
        self.clock = clock
        self.metrics = metrics
        self.on_error = on_error
        self.inbox = Inbox(tx, processor.name)

    def run_batch(self, records: Sequence[Record]) -> BatchResult:
        """Steps 1-3 of the checkpoint for ``records``; the caller commits offsets."""
        name = self.processor.name
        started = time.perf_counter()
        now = self.clock.now()
        try:
            result = self._transact(records, now)
        except ProcessingFailed as failed:
            self.metrics.failures.labels(name, "isolated").inc()
            log.warning(
                "batch failed, isolating records",
                extra={"processor": name, "error": str(failed), "records": len(records)},
            )
            result = BatchResult()
            for record in records:
                one = self._isolated(record, now)
                result.records += one.records
                result.emitted += one.emitted
                result.dead_letters += one.dead_letters
                result.duplicates += one.duplicates
        for record in records:
            self.metrics.consumed.labels(name, topic_label(record.topic)).inc()
        self.metrics.batch_seconds.labels(name).observe(time.perf_counter() - started)
        return result

    def run_tick(self, max_rounds: int = 10_000) -> BatchResult:
        """Let time pass for the processor (deadlines) until nothing more is due.

        The processor bounds the work of one ``tick`` (the escalator: 1000 lapses),
        so a backlog is worked through in several transactions, one per round, at
        the same ``now``, until a round emits nothing.
        """
        now = self.clock.now()
        self.metrics.clock.labels(self.processor.name).set(now.timestamp())
        result = BatchResult()
        for _ in range(max_rounds):
            with self.tx.begin():
                emits = self.processor.tick(now)
                self._publish(emits)
            if not emits:
                break
            result.emitted += len(emits)
        return result

    # --- inside ----------------------------------------------------------------------

    def _transact(self, records: Sequence[Record], now: datetime) -> BatchResult:
        result = BatchResult(records=len(records))
        emits: list[Emit] = []
        with self.tx.begin():
            for record in records:
                emits.extend(self._process(record, now, result))
            self._publish(emits)
        result.emitted = len(emits)
        if result.duplicates:  # counted once committed: a failed batch is re-run alone
            self.metrics.duplicates.labels(self.processor.name).inc(result.duplicates)
        return result

    def _isolated(self, record: Record, now: datetime) -> BatchResult:
        try:
            return self._transact([record], now)
        except ProcessingFailed as failed:
            if self.on_error is ErrorPolicy.STOP:
                raise
            log.error(
                "record failed alone, dead-lettering it",
                extra={
                    "processor": self.processor.name,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                }
                | error_fields(failed.cause),
            )
            letter = reject(
                record,
                processor=self.processor.name,
                reason=RejectionReason.PROCESSING_ERROR,
                message=f"{self.processor.name} failed on this message: "
                f"{type(failed.cause).__name__}",
                now=now,
                case_id=failed.case_id,
            )
            with self.tx.begin():
                self._publish([Emit(DEADLETTER.name, failed.case_id, letter)])
            return BatchResult(records=1, emitted=1, dead_letters=1)

    def _process(self, record: Record, now: datetime, result: BatchResult) -> list[Emit]:
        try:
            message = decode(topic_named(record.topic), record.value)
        except DecodeError as exc:
            letter = self._dead_letter(record, exc.reason, exc.message, now, result, exc.errors)
            return [letter]
        except KeyError as exc:  # a topic outside the catalogue
            reason = RejectionReason.UNKNOWN_TYPE
            return [self._dead_letter(record, reason, str(exc), now, result)]
        except Exception as exc:  # decoding itself broke on these bytes: never jam the partition
            message = f"could not decode ({type(exc).__name__})"
            return [self._dead_letter(record, RejectionReason.INVALID, message, now, result)]
        case_id = message.case_id if isinstance(message, Envelope) else None
        if isinstance(message, Envelope) and not self.inbox.first_time(message.event_id, now):
            result.duplicates += 1
            return []
        try:
            return self.processor.handle(message, now)
        except Rejected as refused:
            return [
                self._dead_letter(
                    record, refused.reason, refused.message, now, result, refused.errors, case_id
                )
            ]
        except Exception as exc:
            raise ProcessingFailed(record, exc, case_id) from exc

    def _dead_letter(
        self,
        record: Record,
        reason: RejectionReason,
        message: str,
        now: datetime,
        result: BatchResult,
        errors: Sequence[object] = (),
        case_id: str | None = None,
    ) -> Emit:
        result.dead_letters += 1
        log.info(
            "message rejected",
            extra={
                "processor": self.processor.name,
                "reason": reason.value,
                "topic": record.topic,
                "offset": record.offset,
                "case_id": case_id,
            },
        )
        letter = reject(
            record,
            processor=self.processor.name,
            reason=reason,
            message=message,
            now=now,
            errors=errors,  # type: ignore[arg-type]
            case_id=case_id,
        )
        return Emit(DEADLETTER.name, case_id, letter)

    def _publish(self, emits: Sequence[Emit]) -> None:
        if not emits:
            return
        self.sink.send(emits)
        self.sink.flush()
        for emit in emits:
            kind = getattr(emit.message, "type", type(emit.message).__name__)
            self.metrics.produced.labels(self.processor.name, topic_label(emit.topic), kind).inc()
            if isinstance(emit.message, MessageRejected):  # counted when sent, not when decided
                reason = emit.message.payload.reason.value
                self.metrics.dead_letters.labels(self.processor.name, reason).inc()

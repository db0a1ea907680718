"""One processor, one batch: decode, de-duplicate, act, publish, commit.

The order of a checkpoint matters, and is the same in both runtimes:

1. decode every record of the batch, once; bytes that do not decode become
   dead letters;
2. check and record the batch's event ids in the inbox, with one statement; an
   envelope already there (or twice in the batch) is skipped;
3. hand the rest to the logic as one batch (``Processor.handle``), each message
   with the time of its record (the time rule in :mod:`schemas.processing`); a
   refusal becomes a dead letter;
4. publish every output and flush the producer (wait for the broker's ack);
5. commit the database transaction: the processor's state and the inbox rows;
6. the caller commits the consumer offsets (:class:`services.runtime.loop.Loop`).

A crash after step 4 repeats the batch: the records carry the same times, so the
logic gives the same outputs, byte for byte, with the same ids, and downstream
inboxes drop them. A crash after step 5 re-reads the batch and the inbox skips
it. Nothing is lost, and nothing inside gridflow is done twice.

A processor that keeps no state (intake) runs without a transaction: steps 2
and 5 are skipped, and it never needs the database.

A batch whose logic raises unexpectedly is rolled back and re-run one record per
transaction, so one poison message cannot hold back the others; a record that
fails alone is dead-lettered (policy ``deadletter``) or stops the processor
(policy ``stop``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.codec import DecodeError, decode, reject
from schemas.deadletter import MessageRejected, Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.topics import DEADLETTER, Emit, Record, topic_named
from services.logs import error_fields
from services.metrics import Metrics, topic_label
from services.runtime.processor import Processor
from services.settings import ErrorPolicy
from storage.db import Inbox, Transaction

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where outputs are published: the in-memory broker or a Kafka producer."""

    def send(self, emits: Sequence[Emit]) -> None: ...

    def flush(self) -> None:
        """Return once everything sent is acknowledged; raise if any send failed."""
        ...


class ProcessingFailed(RuntimeError):
    """The logic raised on a batch or a record: a bug or a state it cannot handle."""

    def __init__(self, cause: BaseException, record: Record | None = None) -> None:
        where = f" on {record.topic}[{record.partition}]" if record is not None else ""
        super().__init__(f"{type(cause).__name__}{where}")
        self.cause = cause
        self.record = record


@dataclass
class BatchResult:
    records: int = 0
    emitted: int = 0
    dead_letters: int = 0
    duplicates: int = 0

    def add(self, other: BatchResult) -> None:
        self.records += other.records
        self.emitted += other.emitted
        self.dead_letters += other.dead_letters
        self.duplicates += other.duplicates


@dataclass
class _Work:
    """What one batch makes, in record order: a slot per record."""

    outputs: list[list[Emit]]
    dead_letters: int = 0
    duplicates: int = 0


class BatchRunner:
    """Runs one processor's logic over batches, inside one transaction per batch.

    ``tx`` is None for a processor without state: it then never opens the database.
    """

    def __init__(
        self,
        processor: Processor,
        tx: Transaction | None,
        sink: Sink,
        metrics: Metrics,
        on_error: ErrorPolicy = ErrorPolicy.DEADLETTER,
    ) -> None:
        self.processor = processor
        self.tx = tx
        self.sink = sink
        self.metrics = metrics
        self.on_error = on_error
        self.inbox = Inbox(tx, processor.name) if tx is not None else None

    def run_batch(self, records: Sequence[Record]) -> BatchResult:
        """Steps 1-5 of the checkpoint for ``records``; the caller commits offsets."""
        name = self.processor.name
        started = time.perf_counter()
        try:
            result = self._transact(records)
        except ProcessingFailed as failed:
            self.metrics.failures.labels(name, "isolated").inc()
            log.warning(
                "batch failed, isolating records",
                extra={"processor": name, "records": len(records)} | error_fields(failed.cause),
            )
            result = BatchResult()
            for record in records:
                result.add(self._isolated(record))
        for record in records:
            self.metrics.consumed.labels(name, topic_label(record.topic)).inc()
        self.metrics.batch_seconds.labels(name).observe(time.perf_counter() - started)
        return result

    def run_tick(self, now: datetime, max_rounds: int = 10_000) -> BatchResult:
        """Let time pass for the processor (deadlines) until nothing more is due.

        The processor bounds the work of one ``tick``, so a backlog is worked
        through in several transactions, one per round, at the same ``now``, until
        a round emits nothing.
        """
        self.metrics.clock.labels(self.processor.name).set(now.timestamp())
        result = BatchResult()
        for _ in range(max_rounds):
            with self._begin():
                emits = self.processor.tick(now)
                self._publish(emits)
            if not emits:
                break
            result.emitted += len(emits)
        return result

    # --- inside ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _begin(self) -> Iterator[None]:
        if self.tx is None:
            yield
            return
        with self.tx.begin():
            yield

    def _transact(self, records: Sequence[Record]) -> BatchResult:
        with self._begin():
            work = self._work(records)
            emits = [emit for slot in work.outputs for emit in slot]
            self._publish(emits)
        if work.duplicates:  # counted once committed: a failed batch is re-run alone
            self.metrics.duplicates.labels(self.processor.name).inc(work.duplicates)
        return BatchResult(len(records), len(emits), work.dead_letters, work.duplicates)

    def _work(self, records: Sequence[Record]) -> _Work:
        """Steps 1-3: every record's outputs (or dead letter), in record order."""
        work = _Work(outputs=[[] for _ in records])
        decoded: list[tuple[int, Record, object]] = []
        for i, record in enumerate(records):
            message = self._decode(record)
            if isinstance(message, Emit):
                work.outputs[i] = [message]
                work.dead_letters += 1
            else:
                decoded.append((i, record, message))
        fresh = self._first_times(decoded)
        todo: list[tuple[int, Record, Inbound]] = []
        for i, record, message in decoded:
            if isinstance(message, Envelope):
                if message.event_id not in fresh:
                    work.duplicates += 1
                    continue
                fresh.discard(message.event_id)  # a second copy in this batch is a duplicate
            todo.append((i, record, Inbound(message, record.timestamp)))  # type: ignore[arg-type]
        if not todo:
            return work
        try:
            outcomes = self.processor.handle([item for _, _, item in todo])
        except Exception as exc:
            raise ProcessingFailed(exc, records[0] if len(records) == 1 else None) from exc
        if len(outcomes) != len(todo):
            bug = RuntimeError(f"{len(outcomes)} outcomes for {len(todo)} messages")
            raise ProcessingFailed(bug, records[0] if len(records) == 1 else None)
        for (i, record, item), outcome in zip(todo, outcomes, strict=True):
            if isinstance(outcome, Rejected):
                case_id = item.message.case_id if isinstance(item.message, Envelope) else None
                work.outputs[i] = [
                    self._dead_letter(
                        record, outcome.reason, outcome.message, outcome.errors, case_id
                    )
                ]
                work.dead_letters += 1
            else:
                work.outputs[i] = outcome
        return work

    def _first_times(self, decoded: Sequence[tuple[int, Record, object]]) -> set[str]:
        ids = [m.event_id for _, _, m in decoded if isinstance(m, Envelope)]
        if not ids:
            return set()
        if self.inbox is None:
            return set(ids)
        latest = max(record.timestamp for _, record, _ in decoded)
        return self.inbox.first_times(ids, latest)

    def _decode(self, record: Record) -> object:
        """The record's message, or the Emit of its dead letter."""
        try:
            return decode(topic_named(record.topic), record.value)
        except DecodeError as exc:
            return self._dead_letter(record, exc.reason, exc.message, exc.errors)
        except KeyError as exc:  # a topic outside the catalogue
            return self._dead_letter(record, RejectionReason.UNKNOWN_TYPE, str(exc))
        except Exception as exc:  # decoding itself broke on these bytes: never jam the partition
            message = f"could not decode ({type(exc).__name__})"
            return self._dead_letter(record, RejectionReason.INVALID, message)

    def _isolated(self, record: Record) -> BatchResult:
        try:
            return self._transact([record])
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
            message = f"{self.processor.name} failed on this message: {type(failed.cause).__name__}"
            letter = self._dead_letter(
                record, RejectionReason.PROCESSING_ERROR, message, case_id=_case_id_of(record)
            )
            with self._begin():
                self._publish([letter])
            return BatchResult(records=1, emitted=1, dead_letters=1)

    def _dead_letter(
        self,
        record: Record,
        reason: RejectionReason,
        message: str,
        errors: Sequence[object] = (),
        case_id: str | None = None,
    ) -> Emit:
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
            now=record.timestamp,
            errors=errors,  # type: ignore[arg-type]
            case_id=case_id,
        )
        return Emit(DEADLETTER.name, case_id, letter)

    def _publish(self, emits: Sequence[Emit]) -> None:
        emits = [e for e in emits if not self._would_loop(e)]
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

    def _would_loop(self, emit: Emit) -> bool:
        """A dead letter about a record of the dead-letter topic is not published: it
        would come back to its reader, and fail there again, for ever. The record stays
        on the dead-letter topic; the refusal goes to the log and a metric."""
        message = emit.message
        if not isinstance(message, MessageRejected):
            return False
        if message.payload.original.topic != DEADLETTER.name:
            return False
        reason = message.payload.reason.value
        self.metrics.unpublished_dead_letters.labels(self.processor.name, reason).inc()
        log.error(
            "a dead letter could not be processed; it stays on the dead-letter topic",
            extra={
                "processor": self.processor.name,
                "reason": reason,
                "partition": message.payload.original.partition,
                "offset": message.payload.original.offset,
            },
        )
        return True


def _case_id_of(record: Record) -> str | None:
    """The case a failing record is about, when it decodes to an envelope."""
    try:
        message = decode(topic_named(record.topic), record.value)
    except Exception:
        return None
    return message.case_id if isinstance(message, Envelope) else None

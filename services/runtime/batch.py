"""One processor, one batch: decode, de-duplicate, act, serialise, publish, commit.

The order of a checkpoint matters, and is the same in both runtimes:

1. decode every record of the batch, once; bytes that do not decode become
   dead letters;
2. check and record the batch's event ids in the inbox, with one statement; an
   envelope already there (or twice in the batch) is skipped;
3. hand the rest to the logic as one batch (``Processor.handle``), each message
   with the time of its record (the time rule in :mod:`schemas.processing`); a
   refusal becomes a dead letter;
4. serialise every record's outputs (value, key, and the size the sink counts
   against its limit) while it is still known which record made them; nothing
   has been sent yet;
5. publish every output and flush the producer (wait for the broker's ack);
6. commit the database transaction: the processor's state and the inbox rows;
7. the caller commits the consumer offsets (:class:`services.runtime.loop.Loop`).

A crash after step 5 repeats the batch: the records carry the same times, so the
logic gives the same outputs, byte for byte, with the same ids, and downstream
inboxes drop them. A crash after step 6 re-reads the batch and the inbox skips
it. Nothing is lost, and nothing inside gridflow is done twice.

A processor that keeps no state (intake) runs without a transaction: steps 2
and 6 are skipped, and it never needs the database.

Every failure belongs to the record that caused it:

- A batch whose logic raises unexpectedly is rolled back and re-run one record
  per transaction, so one poison message cannot hold back the others; a record
  that fails alone is dead-lettered (policy ``deadletter``) or stops the
  processor (policy ``stop``).
- A record whose outputs cannot be serialised, keyed, or are larger than the
  sink accepts (step 4), or that the broker refuses for what it is at step 5
  (too large, an invalid record: :class:`Refused`), is *unpublishable*. The
  transaction is rolled back and the batch run again with that record set
  aside: it gets one dead letter (reason ``unpublishable``) instead of its
  outputs, and the logic never sees it, so the state the rest commit is the
  state their outputs describe. A refusal at step 5 may leave the others'
  outputs on the broker; the re-run publishes the same bytes again, which
  downstream inboxes drop. Errors of the transport itself (the broker away, a
  timeout) still fail the batch, and the caller retries it whole.
- A dead letter larger than the sink accepts is cut down to fit (a prefix of
  the original value, its size and SHA-256: :class:`schemas.deadletter.Cut`).
  The full bytes go to ``dead_letter_bodies`` in the batch's transaction; a
  processor without a database says they are only in the source topic.
- A dead letter about a record of the dead-letter topic is never published
  (:meth:`BatchRunner._would_loop`): it would come back to its reader for ever.
- A batch that keeps failing says so: ``gridflow_partition_failed_attempts`` counts the
  consecutive failed attempts per partition, and each attempt is logged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.codec import (
    DecodeError,
    EncodeError,
    cut,
    decode,
    digest,
    encode,
    encode_key,
    reject,
)
from schemas.deadletter import BodyStore, MessageRejected, Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.topics import DEADLETTER, Emit, Record, topic_named
from services.logs import error_fields
from services.metrics import Metrics, topic_label
from services.runtime.processor import Processor
from services.settings import ErrorPolicy
from storage.db import Inbox, Transaction, keep_dead_letter_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message serialised for the broker. The runner checks these bytes against the
    sink's limit and the sink sends the same bytes: both see one serialisation."""

    topic: str
    key: bytes | None
    value: bytes


def outgoing(item: Outgoing | Emit) -> Outgoing:
    """``item`` serialised, for callers that send an :class:`Emit` directly (tools and
    tests); the runner serialises itself, record by record, before it sends."""
    if isinstance(item, Outgoing):
        return item
    return Outgoing(item.topic, encode_key(item.key), encode(item.message))


class Refused(Exception):
    """The broker refused some messages for what they are (too large, an invalid
    record): sending them again as they are can never succeed.

    ``refused`` maps each one's position among the messages sent since the last
    flush to the name of the broker's error.
    """

    def __init__(self, refused: Mapping[int, str]) -> None:
        super().__init__(f"{len(refused)} message(s) refused: {sorted(set(refused.values()))}")
        self.refused = dict(refused)


class Sink(Protocol):
    """Where outputs are published: the in-memory broker or a Kafka producer."""

    def limit(self) -> int | None:
        """The largest :meth:`size` the sink accepts; None for no limit."""
        ...

    def size(self, message: Outgoing) -> int:
        """What ``message`` counts against :meth:`limit`."""
        ...

    def send(self, messages: Sequence[Outgoing]) -> None: ...

    def flush(self) -> None:
        """Return once everything sent is acknowledged. Raise :class:`Refused` when the
        broker refused messages for what they are, anything else for a failure worth
        retrying (the broker away, a timeout)."""
        ...


class PublishFailed(RuntimeError):
    """A batch still had unpublishable records after every re-run allowed."""


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


@dataclass(frozen=True)
class _SetAside:
    """A record whose outputs cannot be published: why, and whether its dead letter
    itself was refused (then it is cut down to the least it can say)."""

    why: str | None
    least: bool = False


class _Unpublishable(Exception):
    """Raised while a batch's outputs are serialised or sent: these records, set aside."""

    def __init__(self, found: Mapping[int, _SetAside]) -> None:
        super().__init__(f"{len(found)} record(s) unpublishable")
        self.found = dict(found)


class _Unfit(Exception):
    """One output cannot be sent: ``why`` names its topic and type, never its content."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


_ATTEMPTS = 4
"""Runs of one batch while records are found unpublishable: each run sets aside
the records found so far; a refused dead letter takes one more to cut it down."""
_LOG_EVERY = (1, 2, 3, 5, 10, 20, 50, 100)
"""Consecutive failures of a batch at which it is logged, then every 100th."""


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
        self.failed: list[Record] = []
        """The records of the last batch that raised: the caller retries them."""
        self._failing: dict[tuple[str, str], int] = {}
        """Consecutive failed attempts per (topic, partition) of the batches in hand."""

    def run_batch(self, records: Sequence[Record]) -> BatchResult:
        """Steps 1-6 of the checkpoint for ``records``; the caller commits offsets.

        If it raises, :attr:`failed` holds ``records``, for the caller to retry.
        """
        name = self.processor.name
        started = time.perf_counter()
        self.failed = []
        try:
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
        except Exception:
            self.failed = list(records)
            self._stuck(records)
            raise
        self._unstuck(records)
        for record in records:
            self.metrics.consumed.labels(name, topic_label(record.topic)).inc()
        self.metrics.batch_seconds.labels(name).observe(time.perf_counter() - started)
        self.metrics.batch_records.labels(name).observe(len(records))
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
                self._send(self._tick_outputs(emits))
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
        aside: dict[int, _SetAside] = {}
        for _ in range(_ATTEMPTS):
            try:
                with self._begin():
                    work = self._work(records, aside)
                    sent = self._serialise(records, work.outputs, aside)
                    self._send(sent)
                break
            except _Unpublishable as found:  # rolled back: run again without them
                for i, new in found.found.items():
                    before = aside.get(i)
                    why = new.why or (before.why if before is not None else None)
                    aside[i] = _SetAside(why, new.least or (before is not None and before.least))
                log.warning(
                    "records unpublishable, running the batch again without them",
                    extra={"processor": self.processor.name, "records": len(found.found)}
                    | _where(records[i] for i in found.found),
                )
        else:
            raise PublishFailed(
                f"{self.processor.name}: unpublishable records after {_ATTEMPTS} runs"
            )
        if work.duplicates:  # counted once committed: a failed batch is re-run alone
            self.metrics.duplicates.labels(self.processor.name).inc(work.duplicates)
        return BatchResult(len(records), len(sent), work.dead_letters, work.duplicates)

    def _work(self, records: Sequence[Record], aside: Mapping[int, _SetAside]) -> _Work:
        """Steps 1-3: every record's outputs (or dead letter), in record order.

        A record set aside as unpublishable gets its dead letter instead: the logic
        and the inbox never see it.
        """
        work = _Work(outputs=[[] for _ in records])
        decoded: list[tuple[int, Record, object]] = []
        for i, record in enumerate(records):
            why = aside[i].why if i in aside else None
            message = self._decode(record) if why is None else self._unpublishable(record, why)
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
            todo.append((i, record, Inbound(message, record.timestamp, record.topic)))  # type: ignore[arg-type]
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
                    ),
                    *outcome.replies,
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
        limit = getattr(self.processor, "value_limit", None)  # intake's size limit, if any
        try:
            topic = topic_named(record.topic)
            return decode(topic, record.value, limit(record.topic) if limit else None)
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
            least = False
            for _ in range(2):  # a refused letter is cut down to the least it can say
                try:
                    with self._begin():
                        sent = self._serialise([record], [[letter]], {0: _SetAside(None, least)})
                        self._send(sent)
                    break
                except _Unpublishable:
                    least = True
            else:
                raise PublishFailed(f"{self.processor.name}: a dead letter was refused")
            return BatchResult(records=1, emitted=len(sent), dead_letters=1)

    def _unpublishable(self, record: Record, why: str) -> Emit:
        message = f"{self.processor.name} could not publish what it made of this message: {why}"
        return self._dead_letter(
            record, RejectionReason.UNPUBLISHABLE, message, case_id=_case_id_of(record)
        )

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

    # --- steps 4 and 5: serialise, then send ------------------------------------------

    def _serialise(
        self,
        records: Sequence[Record],
        outputs: Sequence[Sequence[Emit]],
        aside: Mapping[int, _SetAside],
    ) -> list[tuple[int, Emit, Outgoing]]:
        """Step 4: every slot's outputs as the bytes to send, with the slot they came from.

        Raises :class:`_Unpublishable` for the records whose outputs cannot be sent,
        before anything is. A dead letter is always made to fit (see
        :meth:`_fit_letter`).
        """
        sent: list[tuple[int, Emit, Outgoing]] = []
        found: dict[int, _SetAside] = {}
        for i, (record, slot) in enumerate(zip(records, outputs, strict=True)):
            for emit in slot:
                if self._would_loop(emit):
                    continue
                if isinstance(emit.message, MessageRejected):
                    least = i in aside and aside[i].least
                    sent.append((i, emit, self._fit_letter(record, emit, least)))
                    continue
                try:
                    sent.append((i, emit, self._serialised(emit)))
                except _Unfit as unfit:
                    found[i] = _SetAside(unfit.why)
                    break
        if found:
            raise _Unpublishable(found)
        return sent

    def _serialised(self, emit: Emit) -> Outgoing:
        kind = getattr(emit.message, "type", type(emit.message).__name__)
        what = f"its {kind} output to {topic_label(emit.topic)}"
        try:
            value = encode(emit.message)
        except EncodeError:
            raise _Unfit(f"{what} cannot be serialised (text that is not Unicode)") from None
        try:
            key = encode_key(emit.key)
        except EncodeError:
            raise _Unfit(f"the key of {what} cannot be encoded as UTF-8") from None
        message = Outgoing(emit.topic, key, value)
        limit = self.sink.limit()
        if limit is not None and (size := self.sink.size(message)) > limit:
            raise _Unfit(f"{what} is {size} bytes, over the limit of {limit}")
        return message

    def _fit_letter(self, record: Record, emit: Emit, least: bool = False) -> Outgoing:
        """A dead letter as bytes that fit the sink: whole when it fits, else cut down
        to a prefix of the original value (``least``: to nothing of it, nor its key,
        headers or field errors), its full bytes kept in the database when there is one.
        """
        letter = emit.message
        assert isinstance(letter, MessageRejected)
        try:
            whole = Outgoing(emit.topic, encode_key(emit.key), encode(letter))
        except EncodeError:  # reject() escapes its own text; should it still fail, say less
            letter = self._bare(record, letter)
            emit = Emit(emit.topic, None, letter)
            whole = Outgoing(emit.topic, None, encode(letter))
        limit = self.sink.limit()
        if not least and (limit is None or self.sink.size(whole) <= limit):
            return whole
        stored = self._keep_body(record)
        key = whole.key

        def attempt(prefix: int, omit: tuple[str, ...]) -> Outgoing:
            shortened = cut(letter, record, prefix=prefix, stored=stored, omit=omit)
            return Outgoing(emit.topic, key, encode(shortened))

        def fits(message: Outgoing) -> bool:
            return limit is None or self.sink.size(message) <= limit

        everything = ("errors", "headers", "key")
        omit: tuple[str, ...] = everything if least else ()
        if not fits(attempt(0, omit)):
            omit = everything
        smallest = attempt(0, omit)
        if not fits(smallest):
            raise RuntimeError(f"a dead letter cannot fit the sink's limit of {limit} bytes")
        best = smallest
        if not least:  # the longest prefix that fits: the letter grows with the prefix
            low, high = 0, len(record.value or b"")
            while low < high:
                middle = (low + high + 1) // 2
                candidate = attempt(middle, omit)
                if fits(candidate):
                    low, best = middle, candidate
                else:
                    high = middle - 1
        self.metrics.dead_letters_cut.labels(self.processor.name).inc()
        log.warning(
            "dead letter cut down to fit",
            extra={
                "processor": self.processor.name,
                "reason": letter.payload.reason.value,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "size": len(whole.value),
                "limit": limit,
                "stored": stored.value,
            },
        )
        return best

    def _bare(self, record: Record, letter: MessageRejected) -> MessageRejected:
        reason = letter.payload.reason
        message = f"{reason.value}: the dead letter's own text could not be serialised"
        return reject(
            record,
            processor=self.processor.name,
            reason=reason,
            message=message,
            now=record.timestamp,
        )

    def _keep_body(self, record: Record) -> BodyStore:
        """Keep the record's bytes in the batch's transaction; where they are kept."""
        if self.tx is None:
            return BodyStore.SOURCE_TOPIC
        keep_dead_letter_body(
            self.tx.conn,
            digest=digest(record.value),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=record.headers,
            at=record.timestamp,
        )
        return BodyStore.DATABASE

    def _tick_outputs(self, emits: Sequence[Emit]) -> list[tuple[int, Emit, Outgoing]]:
        """A tick's outputs as bytes. They come from no record, so there is none to
        dead-letter: one that cannot be sent is logged and counted, and left out."""
        out: list[tuple[int, Emit, Outgoing]] = []
        for emit in emits:
            try:
                out.append((0, emit, self._serialised(emit)))
            except _Unfit as unfit:
                self.metrics.unpublishable_ticks.labels(self.processor.name).inc()
                log.error(
                    "a tick's output cannot be published; left out",
                    extra={"processor": self.processor.name, "why": unfit.why},
                )
        return out

    def _send(self, sent: Sequence[tuple[int, Emit, Outgoing]]) -> None:
        """Step 5: send and flush; a refusal names the slots whose outputs were refused."""
        if not sent:
            return
        self.sink.send([message for _, _, message in sent])
        try:
            self.sink.flush()
        except Refused as refused:
            found: dict[int, _SetAside] = {}
            for position, error in refused.refused.items():
                i, emit, _ = sent[position]
                if isinstance(emit.message, MessageRejected):
                    found[i] = _SetAside(None, least=True)
                else:
                    kind = getattr(emit.message, "type", type(emit.message).__name__)
                    why = f"the broker refused its {kind} output to {topic_label(emit.topic)}"
                    found.setdefault(i, _SetAside(f"{why} ({error})"))
            raise _Unpublishable(found) from None
        for _, emit, _ in sent:
            kind = getattr(emit.message, "type", type(emit.message).__name__)
            self.metrics.produced.labels(self.processor.name, topic_label(emit.topic), kind).inc()
            self.metrics.published(self.processor.name, emit.topic, emit.message)
            if isinstance(emit.message, MessageRejected):  # counted when sent, not when decided
                reason = emit.message.payload.reason.value
                self.metrics.dead_letters.labels(self.processor.name, reason).inc()

    # --- a batch that keeps failing ----------------------------------------------------

    def _stuck(self, records: Sequence[Record]) -> None:
        worst = 0
        for topic, partition in _partitions(records):
            attempts = self._failing[(topic, partition)] = (
                self._failing.get((topic, partition), 0) + 1
            )
            worst = max(worst, attempts)
            label = (self.processor.name, topic_label(topic), partition)
            self.metrics.stuck.labels(*label).set(attempts)
        if worst in _LOG_EVERY or worst % 100 == 0:
            log.error(
                "batch keeps failing; its partitions make no progress",
                extra={"processor": self.processor.name, "attempts": worst}
                | _where(records)
                | error_fields(),
            )

    def _unstuck(self, records: Sequence[Record]) -> None:
        for topic, partition in _partitions(records):
            if self._failing.pop((topic, partition), None) is not None:
                label = (self.processor.name, topic_label(topic), partition)
                self.metrics.stuck.labels(*label).set(0)

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


def _partitions(records: Sequence[Record]) -> list[tuple[str, str]]:
    return sorted({(r.topic, str(r.partition)) for r in records})


def _where(records: Iterator[Record] | Sequence[Record]) -> dict[str, object]:
    """Log fields naming where some records sit: topics, partitions, first offset."""
    found = list(records)
    if not found:
        return {}
    return {
        "topics": sorted({r.topic for r in found}),
        "partitions": sorted({r.partition for r in found}),
        "offset": min(r.offset for r in found),
    }


def _case_id_of(record: Record) -> str | None:
    """The case a failing record is about, when it decodes to an envelope."""
    try:
        message = decode(topic_named(record.topic), record.value)
    except Exception:
        return None
    return message.case_id if isinstance(message, Envelope) else None

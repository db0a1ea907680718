"""BatchRunner: the checkpoint of one processor over one batch, on the memory broker and
SQLite. A small fake processor writes a row per command it accepts, so what was
committed and what was rolled back can be read back from the database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, func, insert, select

from schemas.cases import CaseAccepted, StepPayload
from schemas.codec import decode, encode
from schemas.commands import AcceptCase
from schemas.deadletter import FieldError, MessageRejected, Rejected, RejectionReason
from schemas.envelope import SHANGHAI, Model
from schemas.topics import CASE_EVENTS, CASE_UPDATES, CATALOGUE, DEADLETTER, Emit, Record
from services.metrics import Metrics
from services.runtime.batch import BatchRunner, ProcessingFailed
from services.runtime.clock import SimulatedClock
from services.runtime.memory import MemoryBroker, MemorySink
from services.settings import ErrorPolicy
from services.storage.db import Transaction, inbox, make_engine, metadata

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
NAME = "fake"

_own = MetaData()
fake_state = Table(  # not on the shared metadata: the migrations must not see it
    "fake_state",
    _own,
    Column("case_id", String(64), primary_key=True),
    Column("note", String(64), nullable=False),
)


class FakeProcessor:
    """Accepts AcceptCase: writes a row, emits CaseAccepted. Notes steer it:
    'boom' raises after writing, 'refuse' raises Rejected before writing."""

    name = NAME
    topics = (CASE_UPDATES.name,)

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.seen: list[str] = []
        self.due: list[Emit] = []

    def handle(self, message: Model, now: datetime) -> list[Emit]:
        assert isinstance(message, AcceptCase)
        note = message.payload.note or ""
        self.seen.append(message.event_id)
        if note == "refuse":
            error = FieldError(loc="payload.note", msg="not accepted here", type="conflict")
            raise Rejected(RejectionReason.CONFLICT, "case held elsewhere", [error])
        self.tx.conn.execute(insert(fake_state).values(case_id=message.case_id, note=note))
        if note == "boom":
            raise RuntimeError("the logic broke")
        event = CaseAccepted.derive(
            message.payload, producer=NAME, now=now, case_id=message.case_id, cause=message
        )
        return [Emit(CASE_EVENTS.name, message.case_id, event)]

    def tick(self, now: datetime) -> list[Emit]:
        return self.due


class BrokenSink:
    """Sends, then fails to get the broker's acknowledgement."""

    def __init__(self) -> None:
        self.sent: list[Emit] = []

    def send(self, emits: Sequence[Emit]) -> None:
        self.sent.extend(emits)

    def flush(self) -> None:
        raise ConnectionError("no ack from the broker")


class Harness:
    def __init__(self, engine: Engine, on_error: ErrorPolicy = ErrorPolicy.DEADLETTER) -> None:
        _own.create_all(engine)
        self.engine = engine
        self.broker = MemoryBroker()
        self.broker.create_topics(t.name for t in CATALOGUE)
        self.clock = SimulatedClock(NOW)
        self.metrics = Metrics()
        self.tx = Transaction(engine)
        self.processor = FakeProcessor(self.tx)
        self.runner = BatchRunner(
            self.processor,
            self.tx,
            MemorySink(self.broker, self.clock.now),
            self.clock,
            self.metrics,
            on_error,
        )

    def published(self, topic: str) -> list[tuple[bytes | None, Model]]:
        from schemas.topics import topic_named

        return [(r.key, decode(topic_named(topic), r.value)) for r in self.broker.read(topic)]

    def letters(self) -> list[MessageRejected]:
        return [m for _, m in self.published(DEADLETTER.name)]  # type: ignore[misc]

    def state(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(fake_state.c.case_id, fake_state.c.note)).all())

    def inbox(self) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(inbox.c.event_id).where(inbox.c.processor == NAME))
            return set(rows.scalars())

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def h(sqlite_engine: Engine) -> Harness:
    return Harness(sqlite_engine)


def command(case_id: str, note: str = "ok", *, event_id: str | None = None) -> AcceptCase:
    step = StepPayload(unit_id="zs.urban", seq=1, at=NOW, note=note)
    cmd = AcceptCase.derive(step, producer="unit", now=NOW, case_id=case_id, key=(note,))
    return cmd.model_copy(update={"event_id": event_id}) if event_id else cmd


def rec(value: bytes | Model, offset: int, partition: int = 2, topic: str = "") -> Record:
    raw = value if isinstance(value, bytes) else encode(value)
    return Record(
        topic=topic or CASE_UPDATES.name, value=raw, key=b"k", partition=partition, offset=offset
    )


# --- the good path -----------------------------------------------------------------


def test_a_good_record_is_acted_on_published_and_committed(h: Harness) -> None:
    cmd = command("GF-1")
    result = h.runner.run_batch([rec(cmd, 0)])
    assert (result.records, result.emitted, result.dead_letters, result.duplicates) == (1, 1, 0, 0)
    [(key, event)] = h.published(CASE_EVENTS.name)
    assert key == b"GF-1"
    assert isinstance(event, CaseAccepted)
    assert (event.causation_id, event.occurred_at) == (cmd.event_id, NOW)
    assert h.state() == {"GF-1": "ok"}
    assert h.inbox() == {cmd.event_id}
    assert h.letters() == []


def test_the_same_envelope_twice_is_processed_once(h: Harness) -> None:
    cmd = command("GF-1")
    result = h.runner.run_batch([rec(cmd, 0), rec(cmd, 1)])  # redelivered in one batch
    assert (result.emitted, result.duplicates) == (1, 1)
    later = h.runner.run_batch([rec(cmd, 7, partition=5)])  # and again, much later
    assert (later.emitted, later.duplicates) == (0, 1)
    assert h.processor.seen == [cmd.event_id]
    assert len(h.published(CASE_EVENTS.name)) == 1
    assert h.metric("gridflow_duplicates_skipped_total", processor=NAME) == 2


# --- dead letters ------------------------------------------------------------------


def only_letter(h: Harness) -> MessageRejected:
    [letter] = h.letters()
    return letter


def test_undecodable_bytes_become_one_dead_letter_kept_as_base64(h: Harness) -> None:
    value = b"\xff\xfe{not text"
    result = h.runner.run_batch([rec(value, 11, partition=4)])
    assert (result.dead_letters, result.emitted) == (1, 1)
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.NOT_UTF8
    assert letter.payload.processor == NAME
    original = letter.payload.original
    assert original.text is None
    assert original.base64 is not None and base64.b64decode(original.base64) == value
    assert (original.topic, original.partition, original.offset) == (CASE_UPDATES.name, 4, 11)
    assert h.processor.seen == []


def test_a_type_the_topic_does_not_carry_is_one_dead_letter_kept_as_text(h: Harness) -> None:
    wrong = CaseAccepted.derive(command("GF-1").payload, producer="x", now=NOW, case_id="GF-1")
    value = encode(wrong)
    h.runner.run_batch([rec(value, 3)])
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.UNKNOWN_TYPE
    assert letter.payload.original.text == value.decode()
    assert (letter.payload.original.partition, letter.payload.original.offset) == (2, 3)


def test_a_topic_outside_the_catalogue_is_dead_lettered(h: Harness) -> None:
    h.broker.create_topics(["elsewhere"])
    h.runner.run_batch([rec(command("GF-1"), 0, topic="elsewhere")])
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.UNKNOWN_TYPE
    assert letter.payload.original.topic == "elsewhere"


def test_invalid_json_is_dead_lettered_with_field_errors(h: Harness) -> None:
    data = json.loads(encode(command("GF-1")))
    data["payload"]["seq"] = 0
    h.runner.run_batch([rec(json.dumps(data).encode(), 0)])
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.INVALID
    assert [e.loc for e in letter.payload.errors] == ["payload.seq"]


def test_a_refusal_by_the_logic_is_one_dead_letter_with_its_reason(h: Harness) -> None:
    cmd = command("GF-7", "refuse")
    result = h.runner.run_batch([rec(cmd, 5), rec(command("GF-8"), 6)])
    assert (result.dead_letters, result.emitted) == (1, 2)
    [(key, letter)] = h.published(DEADLETTER.name)
    assert key == b"GF-7"
    assert isinstance(letter, MessageRejected)
    assert letter.payload.reason is RejectionReason.CONFLICT
    assert letter.payload.message == "case held elsewhere"
    assert [e.loc for e in letter.payload.errors] == ["payload.note"]
    assert letter.case_id == "GF-7"
    assert letter.payload.original.text == encode(cmd).decode()
    assert letter.payload.original.offset == 5
    assert h.state() == {"GF-8": "ok"}
    # refused once is processed: a redelivery is a duplicate, not a second dead letter
    h.runner.run_batch([rec(cmd, 9)])
    assert len(h.letters()) == 1


def test_dead_letter_ids_are_stable_for_the_same_record(sqlite_engine: Engine) -> None:
    bad = [rec(b"not json", 3), rec(command("GF-2", "refuse"), 4)]
    other = make_engine("sqlite://")  # e.g. a replica replaying the topic from the start
    metadata.create_all(other)
    first, second = Harness(sqlite_engine), Harness(other)
    first.runner.run_batch(bad)
    second.runner.run_batch(bad)
    ids = [m.event_id for m in first.letters()]
    assert len(set(ids)) == 2
    assert [m.event_id for m in second.letters()] == ids
    first.runner.run_batch([rec(b"not json", 30)])  # same bytes elsewhere: a new letter
    assert first.letters()[-1].event_id not in ids


# --- a record the logic fails on -----------------------------------------------------


def batch_with_poison() -> list[Record]:
    notes = ["ok", "ok", "boom", "ok", "ok"]
    return [rec(command(f"GF-{i}", note), i) for i, note in enumerate(notes)]


def test_a_poison_record_is_isolated_and_the_rest_committed(h: Harness) -> None:
    records = batch_with_poison()
    result = h.runner.run_batch(records)
    assert (result.records, result.dead_letters) == (5, 1)
    assert h.state() == {"GF-0": "ok", "GF-1": "ok", "GF-3": "ok", "GF-4": "ok"}  # no GF-2
    good = {decode(CASE_UPDATES, r.value).event_id for i, r in enumerate(records) if i != 2}
    assert h.inbox() == good
    events = [m for _, m in h.published(CASE_EVENTS.name)]
    assert sorted(e.case_id or "" for e in events) == ["GF-0", "GF-1", "GF-3", "GF-4"]
    [(key, letter)] = h.published(DEADLETTER.name)
    assert isinstance(letter, MessageRejected)
    assert letter.payload.reason is RejectionReason.PROCESSING_ERROR
    assert "RuntimeError" in letter.payload.message
    assert letter.payload.original.text == records[2].value.decode()
    assert letter.payload.original.offset == 2
    assert (letter.case_id, key) == ("GF-2", b"GF-2")  # the case is known: keyed by it


def test_metrics_count_what_happened_once(h: Harness) -> None:
    records = [rec(b"<xml/>", 0), *batch_with_poison()[1:4]]  # not JSON, ok, boom, ok
    h.runner.run_batch(records)
    m = h.metric
    assert m("gridflow_records_consumed_total", processor=NAME, topic=CASE_UPDATES.name) == 4
    assert m("gridflow_batch_failures_total", processor=NAME, kind="isolated") == 1
    assert m("gridflow_dead_letters_total", processor=NAME, reason="not_json") == 1
    assert m("gridflow_dead_letters_total", processor=NAME, reason="processing_error") == 1
    produced = {"processor": NAME, "topic": CASE_EVENTS.name, "type": CaseAccepted.TYPE}
    assert m("gridflow_messages_produced_total", **produced) == 2
    dead = {"processor": NAME, "topic": DEADLETTER.name, "type": MessageRejected.TYPE}
    assert m("gridflow_messages_produced_total", **dead) == len(h.letters()) == 2
    assert m("gridflow_batch_seconds_count", processor=NAME) == 1


def test_a_duplicate_in_a_failed_batch_is_counted_once(h: Harness) -> None:
    cmd = command("GF-1")
    h.runner.run_batch([rec(cmd, 0)])
    h.runner.run_batch([rec(cmd, 1), rec(command("GF-2", "boom"), 2)])
    assert h.metric("gridflow_duplicates_skipped_total", processor=NAME) == 1


def test_with_policy_stop_the_failure_propagates(sqlite_engine: Engine) -> None:
    h = Harness(sqlite_engine, ErrorPolicy.STOP)
    records = batch_with_poison()
    with pytest.raises(ProcessingFailed) as info:
        h.runner.run_batch(records)
    assert info.value.record == records[2]
    assert isinstance(info.value.cause, RuntimeError)
    assert h.letters() == []
    assert "GF-2" not in h.state()
    # what came before it alone is committed; a restart re-reads and skips it
    assert set(h.state()) == {"GF-0", "GF-1"}


# --- the at-least-once guarantee -------------------------------------------------------


def test_a_failed_flush_leaves_the_transaction_uncommitted(h: Harness) -> None:
    broken = BrokenSink()
    h.runner.sink = broken
    records = [rec(command("GF-1"), 0), rec(command("GF-2"), 1), rec(b"junk", 2)]
    with pytest.raises(ConnectionError):
        h.runner.run_batch(records)
    assert h.state() == {}
    assert h.inbox() == set()
    assert len(broken.sent) == 3  # maybe on the broker: the retry re-sends the same ids
    h.runner.sink = MemorySink(h.broker, h.clock.now)
    result = h.runner.run_batch(records)
    assert (result.emitted, result.dead_letters) == (3, 1)
    assert set(h.state()) == {"GF-1", "GF-2"}
    retried = [m.event_id for _, m in h.published(CASE_EVENTS.name)]
    retried += [m.event_id for m in h.letters()]
    assert sorted(retried) == sorted(e.message.event_id for e in broken.sent)  # type: ignore[attr-defined]


def test_a_tick_publishes_what_the_logic_returns(h: Harness) -> None:
    event = CaseAccepted.derive(command("GF-1").payload, producer=NAME, now=NOW, case_id="GF-1")
    h.processor.due = [Emit(CASE_EVENTS.name, "GF-1", event)]
    assert h.runner.run_tick().emitted == 1
    assert [m for _, m in h.published(CASE_EVENTS.name)] == [event]
    assert h.metric("gridflow_clock_seconds", processor=NAME) == NOW.timestamp()


def test_a_tick_whose_flush_fails_commits_nothing(h: Harness) -> None:
    class Writing(FakeProcessor):
        def tick(self, now: datetime) -> list[Emit]:
            self.tx.conn.execute(insert(fake_state).values(case_id="GF-T", note="tick"))
            return [Emit(CASE_EVENTS.name, None, command("GF-T"))]

    h.runner.processor = Writing(h.tx)
    h.runner.sink = BrokenSink()
    with pytest.raises(ConnectionError):
        h.runner.run_tick()
    with h.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fake_state)).scalar() == 0

"""BatchRunner when things fail: a poison record is isolated, policy stop stops, a failed
flush commits nothing (at least once), and the metrics count each thing once.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, func, insert, select

from schemas.cases import CaseAccepted
from schemas.codec import decode
from schemas.deadletter import MessageRejected, RejectionReason
from schemas.topics import CASE_EVENTS, CASE_UPDATES, DEADLETTER, Emit, Record
from services.runtime.batch import ProcessingFailed
from services.runtime.memory import MemorySink
from services.settings import ErrorPolicy
from tests.unit.services.batch_support import (
    NAME,
    NOW,
    BrokenSink,
    FakeProcessor,
    Harness,
    command,
    fake_state,
    rec,
)

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
    retried = [r.value for r in h.broker.read(CASE_EVENTS.name)]
    retried += [r.value for r in h.broker.read(DEADLETTER.name)]
    assert sorted(retried) == sorted(m.value for m in broken.sent)  # the same bytes


def test_a_tick_publishes_what_the_logic_returns(h: Harness) -> None:
    event = CaseAccepted.derive(command("GF-1").payload, producer=NAME, now=NOW, case_id="GF-1")
    h.processor.due = [Emit(CASE_EVENTS.name, "GF-1", event)]
    assert h.runner.run_tick(NOW).emitted == 1
    assert [m for _, m in h.published(CASE_EVENTS.name)] == [event]
    assert h.metric("gridflow_clock_timestamp_seconds", processor=NAME) == NOW.timestamp()


def test_a_tick_whose_flush_fails_commits_nothing(h: Harness) -> None:
    class Writing(FakeProcessor):
        def tick(self, now: datetime) -> list[Emit]:
            self.tx.conn.execute(insert(fake_state).values(case_id="GF-T", note="tick"))
            return [Emit(CASE_EVENTS.name, None, command("GF-T"))]

    h.runner.processor = Writing(h.tx)
    h.runner.sink = BrokenSink()
    with pytest.raises(ConnectionError):
        h.runner.run_tick(NOW)
    with h.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fake_state)).scalar() == 0


def test_a_tick_works_through_a_backlog_larger_than_one_round(h: Harness) -> None:
    events = [
        CaseAccepted.derive(command(f"GF-{n}").payload, producer=NAME, now=NOW, case_id=f"GF-{n}")
        for n in range(7)
    ]
    h.processor.due = [Emit(CASE_EVENTS.name, e.case_id, e) for e in events]
    h.processor.tick_limit = 3  # rounds of 3, 3, 1, then an empty one
    assert h.runner.run_tick(NOW).emitted == 7
    assert [m for _, m in h.published(CASE_EVENTS.name)] == events


def test_a_dead_letter_that_fails_is_not_dead_lettered_again(h: Harness) -> None:
    """A record of the dead-letter topic that cannot be processed would come back to its
    reader as a new dead letter, for ever: it is logged and counted, not published."""
    result = h.runner.run_batch([rec(b"not a letter", 0, topic=DEADLETTER.name)])
    assert result.dead_letters == 1
    assert h.letters() == []
    reason = {"processor": NAME, "reason": "not_json"}
    assert h.metric("gridflow_dead_letters_unpublished_total", **reason) == 1

"""The Kafka worker's step, without Kafka: clock ticks move the escalator's tick clock
(never backwards), other records go through the batch runner, a bad tick is
dead-lettered, and offsets are committed only after the batch is done. The worker
is built from its parts, as :func:`services.runtime.worker.build_worker` does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta

import pytest

from schemas.clock import ClockTicked, TickPayload
from schemas.codec import encode
from schemas.topics import CLOCK, Record, report_topic
from services.metrics import Metrics
from services.processors import PROCESSORS, cluster_ports, metrics_port
from services.runtime.batch import BatchResult
from services.runtime.clock import SimulatedClock, SystemClock
from services.runtime.loop import Loop
from services.runtime.worker import IDLE_GAP, RETRY_PAUSE, TICK_ROUNDS, Ticking, Worker
from services.settings import ClockMode, Settings
from tests.support.sites import SHANGHAI

REPORTS = report_topic("channel.web").name

T0 = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)


class Runner:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.batches: list[list[Record]] = []
        self.ticks: list[datetime] = []
        self.rounds: list[int] = []
        self.emitting = 0  # what each tick reports it emitted
        self.failing: list[str] = []  # what raises next: "batch" or "tick", once each
        self.failed: list[Record] = []

    def run_batch(self, records: Sequence[Record]) -> BatchResult:
        self.log.append("batch")
        if "batch" in self.failing:
            self.failing.remove("batch")
            self.failed = list(records)
            raise ConnectionError("database away")
        self.batches.append(list(records))
        return BatchResult(records=len(records))

    def run_tick(self, now: datetime, max_rounds: int = 10_000) -> BatchResult:
        self.log.append("tick")
        if "tick" in self.failing:
            self.failing.remove("tick")
            raise ConnectionError("database away")
        self.ticks.append(now)
        self.rounds.append(max_rounds)
        return BatchResult(emitted=self.emitting)


class Source:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.waiting: list[Record] = []
        self.committed: list[Record] = []
        self.timeouts: list[int | None] = []

    def poll(self, timeout_ms: int | None = None) -> list[Record]:
        self.timeouts.append(timeout_ms)
        out, self.waiting = self.waiting, []
        return out

    def commit(self, records: Sequence[Record]) -> None:
        if records:
            self.log.append("commit")
        self.committed += records

    def rewind(self, records: Sequence[Record]) -> None:
        self.waiting = list(records) + self.waiting


def worker(ticks: bool = True) -> tuple[Worker, Runner, Source, list[str]]:
    log: list[str] = []
    runner, source = Runner(log), Source(log)
    loop = Loop(runner, source, aside=lambda r: r.topic == CLOCK.name)  # type: ignore[arg-type]
    clock = SimulatedClock(T0)
    ticking = Ticking(clock, 30, clock if ticks else None)
    return Worker("escalator", loop, Metrics(), ExitStack(), ticking), runner, source, log


def tick(at: datetime, offset: int) -> Record:
    message = ClockTicked.derive(TickPayload(now=at), producer="test", now=at, case_id=None)
    return Record(topic=CLOCK.name, value=encode(message), offset=offset, timestamp=T0)


def test_ticks_move_the_clock_and_work_goes_to_the_runner_before_the_commit() -> None:
    w, runner, source, log = worker()
    report = Record(topic=REPORTS, value=b"{}", offset=7, timestamp=T0)
    later = T0 + timedelta(days=3)
    source.waiting = [tick(later, 0), report, tick(T0 + timedelta(days=1), 1)]
    records = list(source.waiting)
    assert w.step() == records
    assert runner.batches == [[report]]
    assert log == ["batch", "commit", "tick", "commit"]  # the clock's after its tick
    assert runner.ticks == [later]  # not back to day 1
    assert source.committed == [report, *records[::2]]


def test_a_failed_tick_is_run_again_and_its_clock_record_committed_only_then() -> None:
    w, runner, source, _ = worker()
    later = T0 + timedelta(days=3)
    clock = tick(later, 0)
    source.waiting = [clock]
    runner.failing = ["tick"]
    with pytest.raises(ConnectionError):
        w.step()
    assert source.committed == []  # a crash now reads the tick again on restart
    w.step()  # nothing new polled: the tick is still due
    assert runner.ticks == [later]
    assert source.committed == [clock]
    w.step()
    assert runner.ticks == [later]  # once done, not again


def test_a_tick_polled_with_a_failing_batch_is_kept_and_run_after_the_retry() -> None:
    w, runner, source, _ = worker()
    report = Record(topic=REPORTS, value=b"{}", offset=7, timestamp=T0)
    later = T0 + timedelta(days=3)
    clock = tick(later, 0)
    source.waiting = [clock, report]
    runner.failing = ["batch"]
    with pytest.raises(ConnectionError):
        w.step()
    assert runner.ticks == [] and source.committed == []
    w._rewind(runner.failed)  # what Worker.run does: the batch again, not the clock record
    assert source.waiting == [report]
    w.step()
    assert runner.batches == [[report]]
    assert runner.ticks == [later]
    assert source.committed == [report, clock]


def test_retry_pauses_are_short_and_capped() -> None:
    assert RETRY_PAUSE[0] <= 0.1
    assert max(RETRY_PAUSE) == RETRY_PAUSE[-1] <= 1.0


def test_an_old_tick_does_not_advance_and_no_tick_is_due() -> None:
    w, runner, source, _ = worker()
    source.waiting = [tick(T0 - timedelta(hours=1), 0)]
    w.step()
    assert runner.ticks == []


def test_an_undecodable_tick_is_handed_to_the_runner_to_dead_letter() -> None:
    w, runner, source, _ = worker()
    bad = Record(topic=CLOCK.name, value=b"tick tock", offset=3, timestamp=T0)
    source.waiting = [bad]
    w.step()
    assert runner.batches == [[bad]]
    assert source.committed == [bad]
    assert runner.ticks == []


def test_with_the_system_clock_a_tick_is_due_after_tick_seconds() -> None:
    w, runner, _, _ = worker(ticks=False)
    w.step()  # the first tick is due at once
    w.step()  # the next only after tick_seconds
    assert len(runner.ticks) == 1
    w._last_tick = time.monotonic() - 31
    w.step()
    assert len(runner.ticks) == 2


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDFLOW_CLOCK", "ticks")
    monkeypatch.setenv("GRIDFLOW_ON_ERROR", "stop")
    monkeypatch.setenv("GRIDFLOW_NAMESPACE", "bench-1")
    monkeypatch.delenv("GRIDFLOW_METRICS_PORT", raising=False)
    s = Settings()
    assert s.clock is ClockMode.TICKS
    assert s.on_error == "stop"
    assert s.namespace == "bench-1"
    assert [metrics_port(p, s.metrics_port) for p in ("intake", "archive")] == [9401, 9405]
    assert metrics_port("router", 9600) == 9600


def test_a_cluster_gives_each_processor_its_own_port() -> None:
    assert cluster_ports(None) == dict(zip(PROCESSORS, range(9401, 9406), strict=True))
    assert cluster_ports(9500)["archive"] == 9504
    assert set(cluster_ports(0).values()) == {0}


def test_a_simulated_clock_never_goes_back() -> None:
    clock = SimulatedClock(T0)
    assert clock.set(T0 - timedelta(days=1)) == T0
    assert clock.advance(timedelta(hours=2)) == T0 + timedelta(hours=2)
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 3, 2))
    assert SystemClock(SHANGHAI).now().tzinfo is SHANGHAI


# --- the timer: the system clock, with the processor's next due time ---------------------


class Store:
    """The next due time a timed worker reads, and how often it read it."""

    def __init__(self) -> None:
        self.due: datetime | None = None
        self.reads = 0
        self.failing = False

    def next_due(self) -> datetime | None:
        self.reads += 1
        if self.failing:
            raise ConnectionError("database away")
        return self.due


def timed() -> tuple[Worker, Runner, Source, SimulatedClock, Store]:
    """A worker on a clock the test moves, ticking when ``Store.due`` says so."""
    log: list[str] = []
    runner, source, store = Runner(log), Source(log), Store()
    loop = Loop(runner, source)  # type: ignore[arg-type]
    clock = SimulatedClock(T0)
    ticking = Ticking(clock, 30, None, next_due=store.next_due)
    return Worker("escalator", loop, Metrics(), ExitStack(), ticking), runner, source, clock, store


def test_the_timer_ticks_at_the_due_time_never_before_and_polls_no_longer() -> None:
    w, runner, source, clock, store = timed()
    store.due = T0 + timedelta(seconds=10)
    w.step()  # the first tick is due at once: after a restart, overdue work goes first
    assert runner.ticks == [T0] and store.reads == 1
    w.step()
    assert len(runner.ticks) == 1
    assert source.timeouts[-1] == 10_000  # the poll waits until the due time, no longer
    clock.advance(timedelta(seconds=10) - timedelta(microseconds=1))
    w.step()
    assert len(runner.ticks) == 1  # a microsecond early: not yet
    assert source.timeouts[-1] == 1  # rounded up to the next millisecond
    clock.advance(timedelta(microseconds=1))
    w.step()
    assert runner.ticks == [T0, store.due]  # at the due time exactly, and not before
    assert runner.rounds[-1] == TICK_ROUNDS


def test_a_batch_that_arms_an_earlier_deadline_brings_the_timer_forward() -> None:
    w, runner, source, clock, store = timed()
    store.due = T0 + timedelta(hours=1)
    w.step()
    reads = store.reads
    w.step()  # nothing polled: the due time is not read again
    assert store.reads == reads
    store.due = T0 + timedelta(seconds=2)  # what the batch armed
    source.waiting = [Record(topic=REPORTS, value=b"{}", offset=1, timestamp=T0)]
    w.step()
    assert store.reads == reads + 1
    w.step()
    assert source.timeouts[-1] == 2_000
    clock.advance(timedelta(seconds=2))
    w.step()
    assert runner.ticks[-1] == T0 + timedelta(seconds=2)


def test_a_backlog_is_ticked_through_at_once_in_bounded_steps() -> None:
    w, runner, source, _clock, store = timed()
    store.due = T0 - timedelta(days=2)  # overdue: the escalator was down
    runner.emitting = 2 * 1000 * TICK_ROUNDS  # each tick stops at its round bound
    for _ in range(3):
        w.step()
    assert len(runner.ticks) == 3  # one a step, polling in between
    assert source.timeouts[1:] == [0, 0]
    runner.emitting = 0
    store.due = None  # all done
    w.step()
    w.step()
    assert len(runner.ticks) == 4
    assert source.timeouts[-1] == 30_000  # nothing armed: the bound


def test_a_tick_that_finds_nothing_due_is_not_repeated_in_a_busy_loop() -> None:
    w, runner, source, _clock, store = timed()
    store.due = T0 - timedelta(seconds=1)  # the store says due, the tick takes nothing
    w.step()
    w.step()
    assert len(runner.ticks) == 1  # held for IDLE_GAP
    assert 0 < source.timeouts[-1] <= IDLE_GAP * 1000
    w._hold = time.monotonic() - 1
    w.step()
    assert len(runner.ticks) == 2


def test_a_next_due_that_fails_falls_back_to_the_bound_within_a_second() -> None:
    w, runner, source, _clock, store = timed()
    store.failing = True
    w.step()  # the tick ran; the read after it failed, and is not fatal
    assert len(runner.ticks) == 1 and w._due is None
    assert source.timeouts == [0]
    w.step()
    assert 0 < (source.timeouts[-1] or 0) <= 1_000

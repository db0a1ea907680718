"""The Kafka worker's step, without Kafka: clock ticks move the escalator's tick clock
(never backwards), other records go through the batch runner, a bad tick is
dead-lettered, and offsets are committed only after the batch is done."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from schemas.clock import ClockTicked, TickPayload
from schemas.codec import encode
from schemas.envelope import SHANGHAI
from schemas.topics import CLOCK, REPORTS_RAW, Record
from services.runtime.batch import BatchResult
from services.runtime.clock import SimulatedClock, SystemClock
from services.runtime.worker import Worker
from services.settings import ClockMode, Settings

T0 = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)


class Runner:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.batches: list[list[Record]] = []

    def run_batch(self, records: Sequence[Record]) -> BatchResult:
        self.log.append("batch")
        self.batches.append(list(records))
        return BatchResult(records=len(records))


class Source:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.committed: list[Record] = []

    def commit(self, records: Sequence[Record]) -> None:
        self.log.append("commit")
        self.committed += records


def worker(ticking: bool = True) -> tuple[Worker, Runner, Source, list[str]]:
    w = Worker.__new__(Worker)  # the parts _step uses, without a broker or a database
    log: list[str] = []
    w.runner, w.source = Runner(log), Source(log)  # type: ignore[assignment]
    w.tick_clock = SimulatedClock(T0) if ticking else None
    w.settings = Settings(tick_seconds=30)
    return w, w.runner, w.source, log  # type: ignore[return-value]


def tick(at: datetime, offset: int) -> Record:
    message = ClockTicked.derive(TickPayload(now=at), producer="test", now=at, case_id=None)
    return Record(topic=CLOCK.name, value=encode(message), offset=offset)


def test_ticks_move_the_clock_and_work_goes_to_the_runner_before_the_commit() -> None:
    w, runner, source, log = worker()
    report = Record(topic=REPORTS_RAW.name, value=b"{}", offset=7)
    later = T0 + timedelta(days=3)
    records = [tick(later, 0), report, tick(T0 + timedelta(days=1), 1)]
    assert w._step(records) is True
    assert w.tick_clock is not None and w.tick_clock.now() == later  # not back to day 1
    assert runner.batches == [[report]]
    assert log == ["batch", "commit"]
    assert source.committed == records
    assert w._tick_due(True, 0.0) is True


def test_an_old_tick_does_not_advance_and_no_tick_is_due() -> None:
    w, _, _, _ = worker()
    assert w._step([tick(T0 - timedelta(hours=1), 0)]) is False
    assert w.tick_clock is not None and w.tick_clock.now() == T0
    assert w._tick_due(False, 0.0) is False


def test_an_undecodable_tick_is_handed_to_the_runner_to_dead_letter() -> None:
    w, runner, source, _ = worker()
    bad = Record(topic=CLOCK.name, value=b"tick tock", offset=3)
    assert w._step([bad]) is False
    assert runner.batches == [[bad]]
    assert source.committed == [bad]


def test_with_the_system_clock_a_tick_is_due_after_tick_seconds() -> None:
    w, _, _, _ = worker(ticking=False)
    assert w._tick_due(False, time.monotonic() - 31) is True
    assert w._tick_due(False, time.monotonic()) is False


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDFLOW_CLOCK", "ticks")
    monkeypatch.setenv("GRIDFLOW_ON_ERROR", "stop")
    monkeypatch.delenv("GRIDFLOW_METRICS_PORT", raising=False)
    s = Settings()
    assert s.clock is ClockMode.TICKS
    assert s.on_error == "stop"
    assert [s.metrics_port_for(p) for p in ("intake", "archive")] == [9401, 9405]
    assert Settings(metrics_port=0).metrics_port_for("router") == 0


def test_a_simulated_clock_never_goes_back() -> None:
    clock = SimulatedClock(T0)
    assert clock.set(T0 - timedelta(days=1)) == T0
    assert clock.advance(timedelta(hours=2)) == T0 + timedelta(hours=2)
    with pytest.raises(ValueError):
        SimulatedClock(datetime(2026, 3, 2))
    assert SystemClock(SHANGHAI).now().tzinfo is SHANGHAI

"""The escalator's timer on the system clock, with the real worker, escalator and SQL
store (SQLite and PostgreSQL): deadlines due within a few seconds, at odd
microseconds, lapse and warn never before their time and within a second of it.

The source is a stand-in for Kafka's that waits out the poll timeout it is given, as
a consumer with nothing to read does. What each test measured is printed; the bounds
asserted are generous (never early, under 2 s late): bench/deadlines.py reports the
real figures under load.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.ports import Deadline
from escalator.sql import SqlDeadlineStore
from schemas.cases import DeadlineKind
from schemas.reports import Tier
from schemas.topics import DEADLINES, Record
from services.metrics import Metrics
from services.runtime.batch import BatchRunner, Outgoing
from services.runtime.clock import SystemClock
from services.runtime.loop import Loop
from services.runtime.worker import Ticking, Worker, _in_transaction
from storage.db import Transaction
from tests.support.sites import SHANGHAI, tiny_site

DEADLINES_ARMED = 120
WITHIN_S = 2.0
"""The tests' bound on lateness; the target, and what the bench measures, is 1 s."""


class IdleSource:
    """Nothing to read: a poll waits its timeout (at most the poll timeout, 500 ms)."""

    def __init__(self) -> None:
        self.waits: list[int | None] = []

    def poll(self, timeout_ms: int | None = None) -> list[Record]:
        self.waits.append(timeout_ms)
        time.sleep(min(500 if timeout_ms is None else timeout_ms, 500) / 1000)
        return []

    def commit(self, records: Sequence[Record]) -> None: ...

    def rewind(self, records: Sequence[Record]) -> None: ...

    def lag(self) -> dict[str, int]:
        return {}

    def close(self) -> None: ...


class StampingSink:
    """Keeps each message on the deadlines topic with the wall time it was flushed."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.flushed: list[tuple[float, dict[str, object]]] = []

    def limit(self) -> int | None:
        return None

    def size(self, message: Outgoing) -> int:
        return len(message.value)

    def send(self, messages: Sequence[Outgoing]) -> None:
        self.sent += [m for m in messages if m.topic == DEADLINES.name]

    def flush(self) -> None:
        now = time.time()
        self.flushed += [(now, json.loads(m.value)) for m in self.sent]
        self.sent = []


def _deadlines(start: datetime, n: int) -> list[Deadline]:
    """``n`` deadlines due 0.5-4 s after ``start`` at random microseconds; every third
    with a warning 0.3 s before its due time."""
    rng = random.Random(8)
    out = []
    for i in range(n):
        due = start + timedelta(seconds=0.5 + rng.random() * 3.5)
        out.append(
            Deadline(
                case_id=f"c{i:04d}",
                kind=DeadlineKind.ACCEPT,
                seq=1,
                unit_id="s-a.station",
                tier=Tier.COMMUNITY,
                due_at=due,
                warn_at=due - timedelta(seconds=0.3) if i % 3 == 0 else None,
                working_days=0,
                correlation_id=f"corr-{i}",
                started_at=start - timedelta(hours=1),
            )
        )
    return out


def _moment(doc: dict[str, object]) -> datetime:
    """When the message says it happened: its due (lapse) or warning time."""
    return datetime.fromisoformat(str(doc["occurred_at"]))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_timers_fire_never_early_and_within_a_second(
    backend: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(f"{backend}_engine")
    tx = Transaction(engine)
    escalator = Escalator(tiny_site(), WorkingCalendar(), SqlDeadlineStore(tx))
    sink, source = StampingSink(), IdleSource()
    runner = BatchRunner(escalator, tx, sink, Metrics())  # type: ignore[arg-type]
    ticking = Ticking(SystemClock(SHANGHAI), 5.0, next_due=_in_transaction(tx, escalator.next_due))
    worker = Worker("escalator", Loop(runner, source), Metrics(), ExitStack(), ticking)
    worker.step()  # the first tick, at once: the provisional pass (nothing)
    armed = _deadlines(datetime.now(SHANGHAI), DEADLINES_ARMED)
    with tx.begin():
        SqlDeadlineStore(tx).write([], armed)
    worker._refresh()  # what a batch that armed them does
    expected = DEADLINES_ARMED + sum(d.warn_at is not None for d in armed)
    stop = time.monotonic() + 10
    while len(sink.flushed) < expected and time.monotonic() < stop:
        worker.step()
    late = sorted(at - _moment(doc).timestamp() for at, doc in sink.flushed)
    print(
        f"\n{backend}: {len(late)} warnings and lapses, late by min {late[0] * 1000:.1f} ms, "
        f"median {late[len(late) // 2] * 1000:.1f} ms, max {late[-1] * 1000:.1f} ms; "
        f"{len(source.waits)} polls"
    )
    assert len(sink.flushed) == expected
    assert {str(doc["type"]) for _, doc in sink.flushed} == {"deadline.warning", "deadline.lapsed"}
    assert late[0] >= 0, "a timer fired early"
    assert late[-1] < WITHIN_S
    assert len(source.waits) < 3 * expected  # a wake per due time or so: no busy loop

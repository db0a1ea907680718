"""Escalator figures: 100k deadlines in a SQLite store worked through by tick(), and
the cost of one WorkingCalendar.due() call. Prints figures; asserts nothing.

Run from the repository root: ``.venv/bin/python bench/bench_escalator.py [count]``.
Each tick runs in its own transaction, as the runtime does.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.ports import Deadline
from escalator.sql import SqlDeadlineStore
from schemas.cases import DeadlineKind
from schemas.catalogue import Deadlines, Site, TierDeadlines
from schemas.envelope import SHANGHAI
from schemas.reports import Tier
from services.storage.db import Transaction, make_engine, metadata

BASE = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)


def bare_site() -> Site:
    """Tick() reads only the deadline policy and the timezone off the site."""
    limits = TierDeadlines(accept=0, resolve=3, refer=1)
    return Site(
        id="bench",
        name="bench",
        timezone="Asia/Shanghai",
        deadlines=Deadlines(tiers=dict.fromkeys(Tier, limits)),
        jurisdictions=[],
        units=[],
        categories=[],
    )


def deadlines(count: int) -> list[Deadline]:
    """Due 1 h after BASE onwards, 0.1 s apart; every warning moment is before BASE."""
    out = []
    for i in range(count):
        due = BASE + timedelta(hours=1, seconds=i * 0.1)
        warn = min(due - timedelta(hours=4), BASE)
        out.append(
            Deadline(
                f"case-{i:07d}",
                DeadlineKind.RESOLVE,
                1,
                "street-unit",
                Tier.STREET,
                due,
                warn,
                5,
                f"corr-{i}",
            )
        )
    return out


def drain(escalator: Escalator, tx: Transaction, now: datetime) -> tuple[int, int, float, float]:
    """Tick at ``now`` until nothing comes out: (messages, ticks, seconds, slowest tick)."""
    total, ticks, slowest, start = 0, 0, 0.0, time.perf_counter()
    while True:
        t0 = time.perf_counter()
        with tx.begin():
            out = escalator.tick(now)
        slowest = max(slowest, time.perf_counter() - t0)
        ticks += 1
        total += len(out)
        if not out:
            return total, ticks, time.perf_counter() - start, slowest


def bench_store(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        metadata.create_all(engine)
        tx = Transaction(engine)
        store = SqlDeadlineStore(tx)
        rows = deadlines(count)
        t0 = time.perf_counter()
        with tx.begin():
            for d in rows:
                store.put(d)
        put_s = time.perf_counter() - t0
        print(f"put {count:,} deadlines (one transaction): {put_s:.2f} s, {count / put_s:,.0f}/s")
        escalator = Escalator(bare_site(), WorkingCalendar(), store, batch=1000)
        for label, now in (("warnings", BASE), ("lapses", BASE + timedelta(hours=5))):
            n, ticks, secs, slowest = drain(escalator, tx, now)
            print(
                f"tick() through {n:,} {label}: {ticks} ticks, {secs:.2f} s, "
                f"{n / secs:,.0f}/s, {secs / max(n, 1) * 1e6:.0f} us each, "
                f"slowest tick {slowest * 1000:.0f} ms"
            )
        engine.dispose()


def bench_calendar(calls: int) -> None:
    """Starts in 2025-01-01 .. 2026-11-21, so no period leaves the calendar's data."""
    rng = random.Random(7)
    starts = [
        datetime(2025, 1, 1, tzinfo=SHANGHAI) + timedelta(minutes=rng.randrange(690 * 1440))
        for _ in range(calls)
    ]
    days = [rng.choice((0, 1, 3, 5)) for _ in range(calls)]
    t0 = time.perf_counter()
    for i, (start, n) in enumerate(zip(starts[:2000], days, strict=False)):
        if i % 20 == 0:
            cal = WorkingCalendar()  # a fresh calendar: most days looked up for the first time
        cal.due(start, n)
    print(f"calendar.due() x2,000, cold cache: {(time.perf_counter() - t0) / 2000 * 1e6:.2f} us")
    cal = WorkingCalendar()
    t0 = time.perf_counter()
    for start, n in zip(starts, days, strict=True):
        cal.due(start, n)
    secs = time.perf_counter() - t0
    print(f"calendar.due() x{calls:,}, one calendar: {secs / calls * 1e6:.2f} us per call")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    bench_store(count)
    bench_calendar(100_000)

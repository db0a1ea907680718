"""Escalator figures: 100k deadlines in a SQL store worked through by tick(), the case
story handled a batch at a time, and the cost of one WorkingCalendar.due() call.
Prints figures; asserts nothing.

Run from the repository root::

    .venv/bin/python bench/bench_escalator.py [count] [--url URL] [--batch 500]

Without ``--url`` the store is a SQLite file in a temporary directory. A PostgreSQL
URL is used inside a schema of its own, created for the run and dropped after, so
the database may hold other things. Each tick, and each batch of ``--batch``
messages, runs in its own transaction, as the runtime does.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.ports import Deadline
from escalator.sql import SqlDeadlineStore
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseAssignedPayload,
    CaseClosed,
    ClosedPayload,
    DeadlineKind,
    StepPayload,
)
from schemas.catalogue import Deadlines, Site, TierDeadlines
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.reports import CaseFacts, Channel, Tier, Urgency
from storage.db import MAX_ROWS, Transaction, make_engine, metadata

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the bundled site's timezone

BASE = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)


def bare_site() -> Site:
    """The escalator reads only the deadline policy and the timezone off the site."""
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


@contextmanager
def database(url: str | None) -> Iterator[Engine]:
    """An engine on empty tables: a SQLite file, or a throwaway PostgreSQL schema."""
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            metadata.create_all(engine)
            yield engine
            engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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


def bench_ticks(engine: Engine, count: int) -> None:
    tx = Transaction(engine)
    store = SqlDeadlineStore(tx)
    rows = deadlines(count)
    t0 = time.perf_counter()
    with tx.begin():
        for start in range(0, count, MAX_ROWS):
            store.write([], rows[start : start + MAX_ROWS])
    secs = time.perf_counter() - t0
    print(f"write {count:,} deadlines (one transaction): {secs:.2f} s, {count / secs:,.0f}/s")
    escalator = Escalator(bare_site(), WorkingCalendar(), store, batch=1000)
    for label, now in (("warnings", BASE), ("lapses", BASE + timedelta(hours=5))):
        n, ticks, secs, slowest = drain(escalator, tx, now)
        print(
            f"tick() through {n:,} {label}: {ticks} ticks, {secs:.2f} s, "
            f"{n / secs:,.0f}/s, {secs / max(n, 1) * 1e6:.0f} us each, "
            f"slowest tick {slowest * 1000:.0f} ms"
        )


def story(cases: int) -> list[tuple[str, Callable[[int], Envelope]]]:
    """Three phases over ``cases`` cases: assigned (arms accept and resolve), accepted
    (the accept goes), closed (the resolve goes)."""

    def case_id(i: int) -> str:
        return f"story-{i:07d}"

    def assigned(i: int) -> Envelope:
        when = BASE + timedelta(seconds=i)
        facts = CaseFacts(
            case_id=case_id(i),
            channel=Channel.GRID_APP,
            external_id=f"ext-{i}",
            reported_at=when,
            received_at=when,
            category="env.litter",
            grid_id="g1",
            urgency=Urgency.NORMAL,
        )
        a = Assignment(
            unit_id="street-unit",
            unit_name="unit",
            tier=Tier.STREET,
            owner_tier=Tier.STREET,
            jurisdiction_id="s",
            seq=1,
            reason=AssignmentReason.INITIAL,
            assigned_at=when,
        )
        payload = CaseAssignedPayload(assignment=a, case=facts)
        return CaseAssigned.derive(payload, producer="router", now=when, case_id=case_id(i))

    def accepted(i: int) -> Envelope:
        when = BASE + timedelta(hours=1, seconds=i)
        payload = StepPayload(unit_id="street-unit", seq=1, at=when)
        return CaseAccepted.derive(payload, producer="router", now=when, case_id=case_id(i))

    def closed(i: int) -> Envelope:
        when = BASE + timedelta(hours=2, seconds=i)
        payload = ClosedPayload(
            at=when, unit_id="street-unit", tier=Tier.STREET, escalations=0, on_time=True
        )
        return CaseClosed.derive(payload, producer="router", now=when, case_id=case_id(i))

    return [("assigned", assigned), ("accepted", accepted), ("closed", closed)]


def bench_handle(engine: Engine, cases: int, batch: int) -> None:
    tx = Transaction(engine)
    escalator = Escalator(bare_site(), WorkingCalendar(), SqlDeadlineStore(tx))
    for label, make in story(cases):
        items = [Inbound(message=m, now=m.occurred_at) for m in map(make, range(cases))]
        secs, slowest = handle_all(escalator, tx, items, batch)
        print(
            f"handle() {cases:,} {label}, batches of {batch}: {secs:.2f} s, "
            f"{cases / secs:,.0f} messages/s, slowest batch {slowest * 1000:.0f} ms"
        )


def handle_all(
    escalator: Escalator, tx: Transaction, items: Sequence[Inbound], batch: int
) -> tuple[float, float]:
    slowest, start = 0.0, time.perf_counter()
    for i in range(0, len(items), batch):
        t0 = time.perf_counter()
        with tx.begin():
            escalator.handle(items[i : i + batch])
        slowest = max(slowest, time.perf_counter() - t0)
    return time.perf_counter() - start, slowest


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("count", type=int, nargs="?", default=100_000, help="deadlines to tick")
    ap.add_argument("--url", help="SQLAlchemy URL; default: a SQLite file in a temp dir")
    ap.add_argument("--batch", type=int, default=500, help="messages a handle() batch")
    ap.add_argument("--cases", type=int, default=50_000, help="cases in the handled story")
    args = ap.parse_args()
    with database(args.url) as engine:
        print(f"database: {engine.dialect.name}")
        bench_ticks(engine, args.count)
        bench_handle(engine, args.cases, args.batch)
    bench_calendar(100_000)


if __name__ == "__main__":
    main()

"""Benchmark: archive synthetic case histories into SQL through the Archive processor.

    .venv/bin/python bench/bench_archive.py [--events 50000] [--batch 500] [--url URL] [--inbox]

Without ``--url`` the database is a SQLite file in a temporary directory. Each
batch of ``--batch`` events is one transaction, as the runtime does; ``--inbox``
also records each event id in the inbox, as the runtime does before calling the
processor. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive.core import Archive
from archive.report import render
from archive.sql import SqlArchiveStore
from schemas import cases as c
from schemas.deadlines import DeadlineLapsed, DeadlinePayload, DeadlineWarning
from schemas.envelope import Envelope
from schemas.notifications import (
    DeliveryStatus,
    NotificationChannel,
    NotificationPayload,
    NotificationRecorded,
)
from schemas.reports import Case, Channel, Reporter, Tier, Urgency
from storage.db import Inbox, Transaction, make_engine, metadata

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the bundled site's timezone

T0 = datetime(2024, 3, 4, 8, 0, tzinfo=SHANGHAI)
TIERS = (Tier.GRID, Tier.COMMUNITY, Tier.STREET, Tier.DISTRICT)


def one_case(n: int, rng: random.Random) -> list[Envelope]:
    """One case's story: the loop, sometimes a warning or an escalation, notifications."""
    t = T0 + timedelta(minutes=3 * n)
    cid = f"case-{n:07d}"
    case = Case(
        case_id=cid,
        channel=rng.choice(list(Channel)),
        external_id=f"ext-{n}",
        reported_at=t,
        received_at=t,
        category=f"cat.{n % 33}",
        grid_id=f"grid-{n % 133:03d}",
        title="t",
        description="d",
        urgency=Urgency.NORMAL,
        reporter=Reporter(name="张三", phone="13800138000"),
    )
    out: list[Envelope] = []

    def add(cls: type[Envelope], payload: object, producer: str = "router") -> None:
        nonlocal t
        t += timedelta(minutes=20)
        out.append(
            cls.derive(
                payload, producer=producer, now=t, case_id=cid, cause=out[-1] if out else None
            )
        )

    def assign(seq: int, tier: Tier, reason: c.AssignmentReason) -> None:
        unit = f"unit-{tier.value}-{n % 7}"
        a = c.Assignment(
            unit_id=unit,
            unit_name=unit,
            tier=tier,
            owner_tier=Tier.GRID,
            jurisdiction_id="j",
            seq=seq,
            reason=reason,
            assigned_at=t,
        )
        add(c.CaseAssigned, c.CaseAssignedPayload(assignment=a, case=case))
        note = NotificationPayload(
            notification_id=f"n-{cid}-{seq}",
            channel=NotificationChannel.WEBHOOK,
            recipient=unit,
            template="assignment",
            source_event_id=out[-1].event_id,
            source_type=out[-1].type,
            status=DeliveryStatus.DELIVERED if rng.random() < 0.97 else DeliveryStatus.FAILED,
            attempts=1,
        )
        add(NotificationRecorded, note, producer="notifier")

    add(c.CaseReceived, case, producer="intake")
    tier, seq = Tier.GRID, 1
    assign(seq, tier, c.AssignmentReason.INITIAL)
    unit = f"unit-{tier.value}-{n % 7}"
    if rng.random() < 0.15:  # a lapsed accept deadline: up one tier
        dl = DeadlinePayload(
            kind=c.DeadlineKind.ACCEPT, unit_id=unit, tier=tier, seq=seq, due_at=t, working_days=0
        )
        add(DeadlineWarning, dl, producer="escalator")
        add(DeadlineLapsed, dl, producer="escalator")
        up = TIERS[TIERS.index(tier) + 1]
        esc = c.EscalatedPayload(
            from_unit_id=unit,
            from_tier=tier,
            to_unit_id=f"unit-{up.value}-{n % 7}",
            to_tier=up,
            reason=c.AssignmentReason.ESCALATED,
        )
        add(c.CaseEscalated, esc)
        tier, seq = up, 2
        assign(seq, tier, c.AssignmentReason.ESCALATED)
        unit = f"unit-{tier.value}-{n % 7}"
    step = c.StepPayload(unit_id=unit, seq=seq, at=t)
    add(c.CaseAccepted, step)
    add(c.CaseHandled, step)
    add(c.CaseVerified, c.VerifiedPayload(**step.model_dump(), passed=True))
    rating = rng.choices((5, 4, 3, 2, 1), weights=(80, 12, 4, 2, 2))[0]
    add(c.CaseRated, c.RatedPayload(at=t, rating=rating))
    closed = c.ClosedPayload(
        at=t, unit_id=unit, tier=tier, escalations=seq - 1, on_time=seq == 1, rating=rating
    )
    add(c.CaseClosed, closed)
    return out


def synthetic(events: int, seed: int = 0) -> list[Envelope]:
    rng = random.Random(seed)
    out: list[Envelope] = []
    n = 0
    while len(out) < events:
        out.extend(one_case(n, rng))
        n += 1
    return out[:events]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--url", help="SQLAlchemy URL; default: a SQLite file in a temp dir")
    ap.add_argument("--inbox", action="store_true", help="also record inbox rows")
    args = ap.parse_args()

    started = time.perf_counter()
    events = synthetic(args.events)
    print(f"generated {len(events)} events in {time.perf_counter() - started:.1f}s")

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'archive.db'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        tx = Transaction(engine)
        archive, inbox = Archive(SqlArchiveStore(tx)), Inbox(tx, "archive")
        now = datetime.now(SHANGHAI)
        started = lap = time.perf_counter()
        for i in range(0, len(events), args.batch):
            with tx.begin():
                for event in events[i : i + args.batch]:
                    if not args.inbox or inbox.first_time(event.event_id, now):
                        archive.handle(event, now)
            done = i + args.batch
            if done % 10_000 == 0:  # does the rate hold as the tables grow?
                print(f"  {done:>7} events: {10_000 / (time.perf_counter() - lap):,.0f} events/s")
                lap = time.perf_counter()
        elapsed = time.perf_counter() - started
        print(f"database: {engine.url.render_as_string(hide_password=True)}")
        print(
            f"archived {len(events)} events in {elapsed:.2f}s: {len(events) / elapsed:,.0f} "
            f"events/s (batches of {args.batch}, inbox {'on' if args.inbox else 'off'})"
        )
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            with tx.begin():
                report = archive.store.report()
            timings.append(time.perf_counter() - started)
        print(
            f"report query: median {statistics.median(timings) * 1000:.1f} ms, "
            f"best {min(timings) * 1000:.1f} ms (5 runs)"
        )
        if url.startswith("sqlite:///"):
            print(f"sqlite file: {(Path(tmp) / 'archive.db').stat().st_size / 1e6:.1f} MB")
        print(render(report))
        engine.dispose()


if __name__ == "__main__":
    main()

"""The archive into PostgreSQL, beside a raw COPY of the same rows, and the KPIs over a
million cases, on the PostgreSQL server that ``make servers`` starts.

1. **archive throughput**: ``--cases`` cases (20,000) of the bundled site walked
   through the real router in memory (received, accepted, handled, verified, rated,
   closed), and what the archive reads of them (the cases, the commands, the story)
   archived by the real processor through the real batch runner (decode, inbox, one
   transaction per batch of ``--batch`` records) into a schema of its own: events per
   second, wall clock, commit included;
2. **raw COPY**: the same ``archive_events`` rows, as CSV prepared beforehand, COPYed
   into a table made ``LIKE archive_events INCLUDING ALL`` (its keys and indexes) in
   the same run: rows per second, the floor the archive is measured against;
3. **KPI query time**: ``--kpi-cases`` (1,000,000) synthetic case rows (their handling
   days stamped as the archive stamps them) COPYed into ``archive_cases``, then
   ``archive.sql.kpi_figures`` (counted by PostgreSQL) by unit and month, by all and
   day, by tier and week: seconds for each, and the read of every row alone; with
   ``--compare``, the Python reference ``archive.kpi.compute`` over every row streamed
   by ``services.api.queries.all_cases`` by unit and month too (minutes), and whether
   the two agree.

Writes ``bench/results/<date>-archive.json`` and prints it. Asserts nothing. Usage:
``python bench/archive.py [--cases 20000] [--kpi-cases 1000000] [--compare]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sys
import time
import uuid
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from archive.core import Archive  # noqa: E402
from archive.kpi import By, HandlingClock, Period, compute  # noqa: E402
from archive.ports import ArchivedEvent  # noqa: E402
from archive.projection import CaseRow  # noqa: E402
from archive.sql import SqlArchiveStore, kpi_figures  # noqa: E402
from bench.run import machine, schema  # noqa: E402
from escalator.clocks import site_calendar  # noqa: E402
from router.core import Router  # noqa: E402
from router.memory import MemoryCaseStore  # noqa: E402
from schemas.cases import CaseReceived, RatedPayload, StepPayload, VerifiedPayload  # noqa: E402
from schemas.catalogue import load_site  # noqa: E402
from schemas.codec import encode  # noqa: E402
from schemas.commands import AcceptCase, RateCase, ReportHandled, VerifyCase  # noqa: E402
from schemas.envelope import Envelope  # noqa: E402
from schemas.processing import Inbound  # noqa: E402
from schemas.reports import Case, Channel, Urgency  # noqa: E402
from schemas.topics import CASE_EVENTS, CASE_UPDATES, CASES_RECEIVED, CATALOGUE, Record  # noqa: E402
from services.api.queries import all_cases  # noqa: E402
from services.metrics import Metrics  # noqa: E402
from services.runtime.batch import BatchRunner  # noqa: E402
from services.runtime.memory import MemoryBroker, MemorySink  # noqa: E402
from services.storage.migrate import upgrade  # noqa: E402
from storage.db import Transaction, make_engine  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql+psycopg2://gridflow:gridflow@127.0.0.1:55432/gridflow"
UNIT, VERIFIER, CHANNEL = "zs.urban", "zs.verify", "channel.hotline-12345"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _command(kind: type[Envelope], case_id: str, payload: Any, sender: str) -> Envelope:
    return kind(
        event_id=str(uuid.uuid4()),
        type=kind.TYPE,
        case_id=case_id,
        occurred_at=payload.at,
        producer=sender,
        correlation_id=case_id,
        payload=payload,
        sender=sender,
    )


def stories(n: int) -> list[tuple[str, Envelope]]:
    """(topic, message) as the archive reads them, for ``n`` cases worked to closure."""
    router = Router(load_site(), MemoryCaseStore())
    out: list[tuple[str, Envelope]] = []
    for i in range(n):
        at = T0 + timedelta(seconds=i)
        case = Case(
            case_id=f"GF-B{i:08d}",
            channel=Channel.HOTLINE_12345,
            external_id=f"WO-{i:08d}",
            reported_at=at - timedelta(minutes=2),
            received_at=at - timedelta(minutes=1),
            category="urban.garbage",
            grid_id="zs-xzl-g03",
            title="小区门口垃圾未清运",
            description="垃圾桶已满三天。",
            urgency=Urgency.NORMAL,
        )
        cid = case.case_id
        steps: list[tuple[str, Envelope]] = [
            (CASES_RECEIVED.name, CaseReceived.derive(case, producer="intake", now=at, case_id=cid))
        ]
        step = StepPayload(unit_id=UNIT, seq=1, at=at)
        steps += [
            (CASE_UPDATES.name, _command(AcceptCase, cid, step, UNIT)),
            (CASE_UPDATES.name, _command(ReportHandled, cid, step, UNIT)),
            (
                CASE_UPDATES.name,
                _command(
                    VerifyCase,
                    cid,
                    VerifiedPayload(unit_id=UNIT, seq=1, at=at, passed=True),
                    VERIFIER,
                ),
            ),
            (CASE_UPDATES.name, _command(RateCase, cid, RatedPayload(at=at, rating=5), CHANNEL)),
        ]
        for topic, message in steps:
            out.append((topic, message))
            [result] = router.handle([Inbound(message, at)])
            assert isinstance(result, list), result
            out += [(CASE_EVENTS.name, e.message) for e in result if e.topic == CASE_EVENTS.name]  # type: ignore[misc]
    return out


def archive_throughput(
    url: str, messages: list[tuple[str, Envelope]], batch: int
) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    records = [
        Record(topic=t, value=encode(m), timestamp=now, key=(m.case_id or "").encode(), offset=i)
        for i, (t, m) in enumerate(messages)
    ]
    broker = MemoryBroker()
    broker.create_topics(t.name for t in CATALOGUE)
    tx = Transaction(engine)
    site = load_site()
    archive = Archive(
        SqlArchiveStore(tx),
        HandlingClock(site_calendar(site), site.tz, site.deadlines.business_hours_end),
    )
    runner = BatchRunner(archive, tx, MemorySink(broker, lambda: now), Metrics())
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        runner.run_batch(records[i : i + batch])
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM archive_events")).scalar_one()
        cases = conn.execute(text("SELECT count(*) FROM archive_cases")).scalar_one()
    assert stored == len(records), (stored, len(records))
    rows = [ArchivedEvent.of(m, now) for _, m in messages]
    copy = raw_copy(engine, rows)
    engine.dispose()
    return {
        "events": len(records),
        "cases": cases,
        "batch": batch,
        "seconds": round(seconds, 2),
        "events_per_second": round(len(records) / seconds),
        "raw_copy": copy,
        "archive_vs_copy": round((len(records) / seconds) / copy["rows_per_second"], 3),
    }


def raw_copy(engine: Any, rows: list[ArchivedEvent]) -> dict[str, Any]:
    """The same rows COPYed into a twin of archive_events (its keys and indexes)."""
    names = [f.name for f in fields(ArchivedEvent)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for r in rows:
        writer.writerow(
            [
                json.dumps(getattr(r, n), ensure_ascii=False)
                if n == "payload"
                else ("" if getattr(r, n) is None else getattr(r, n))
                for n in names
            ]
        )
    data = buffer.getvalue()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("CREATE TABLE raw_events (LIKE archive_events INCLUDING ALL)")
        raw.commit()
        started = time.perf_counter()
        cur.copy_expert(
            f"COPY raw_events ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)",
            io.StringIO(data),
        )
        raw.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
    return {
        "rows": len(rows),
        "seconds": round(seconds, 2),
        "rows_per_second": round(len(rows) / seconds),
        "csv_mib": round(len(data.encode()) / 2**20, 1),
    }


def synthetic_rows(n: int, seed: int = 10) -> list[CaseRow]:
    """``n`` case rows over 60 units and a quarter of 2026, a mix of every stage."""
    rng = random.Random(seed)
    site = load_site()
    clock = HandlingClock(site_calendar(site), site.tz, site.deadlines.business_hours_end)
    units = [f"u{u:02d}" for u in range(60)]
    tiers = ["grid", "community", "street", "district"]
    channels = ["hotline_12345", "grid_app", "web"]
    out = []
    for i in range(n):
        received = T0 + timedelta(minutes=rng.randrange(90 * 24 * 60))
        assigned = received + timedelta(minutes=2)
        accepted = assigned + timedelta(hours=rng.choice([1, 3, 20, 30]))
        handled = accepted + timedelta(days=rng.randrange(1, 9))
        closed = rng.random() < 0.8
        rating = rng.choice([5, 5, 5, 4, 3, 1]) if closed else None
        out.append(
            clock.stamp(
                CaseRow(
                    case_id=f"GF-K{i:09d}",
                    channel=rng.choice(channels),
                    category=f"cat.{rng.randrange(30)}",
                    grid_id="g",
                    stage="closed" if closed else rng.choice(["assigned", "accepted", "handled"]),
                    stage_at=handled,
                    unit_id=rng.choice(units),
                    tier=rng.choice(tiers),
                    owner_tier="street",
                    seq=1,
                    received_at=received,
                    reported_at=received,
                    assigned_at=assigned,
                    accepted_at=accepted,
                    first_accepted_at=accepted,
                    accept_due_at=assigned + timedelta(hours=24),
                    due_at=assigned + timedelta(days=5),
                    handled_at=handled if closed else None,
                    closed_at=handled + timedelta(days=1) if closed else None,
                    rated_at=handled + timedelta(days=1) if closed else None,
                    rating=rating,
                    followed_up_at=handled + timedelta(hours=20) if closed else None,
                    responded=rng.random() < 0.95 if closed else None,
                    resolved=rng.random() < 0.85 if closed else None,
                    escalations=rng.choice([0, 0, 0, 1]),
                    referrals=0,
                    supervisions=rng.choice([0, 0, 1]),
                    reopenings=rng.choice([0, 0, 0, 0, 1]),
                    external_id=f"WO-{i}",
                )
            )
        )
    return out


def kpi_time(url: str, n: int, compare: bool = False) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    names = [f.name for f in fields(CaseRow)]
    started = time.perf_counter()
    rows = synthetic_rows(n)
    made = time.perf_counter() - started
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for start in range(0, n, 200_000):
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for r in rows[start : start + 200_000]:
                writer.writerow(["" if getattr(r, c) is None else getattr(r, c) for c in names])
            buffer.seek(0)
            cur.copy_expert(
                f"COPY archive_cases ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)", buffer
            )
        raw.commit()
        cur.execute("ANALYZE archive_cases")
        raw.commit()
    finally:
        raw.close()
    loaded = time.perf_counter() - started - made
    del rows
    site = load_site()
    as_of = T0 + timedelta(days=100)
    out: dict[str, Any] = {
        "cases": n,
        "generate_seconds": round(made, 1),
        "copy_seconds": round(loaded, 1),
    }
    with engine.connect() as conn:
        t = time.perf_counter()
        count = sum(1 for _ in all_cases(conn))
        out["read_seconds"] = round(time.perf_counter() - t, 2)
        assert count == n
    found = {}
    for by, period in ((By.UNIT, Period.MONTH), (By.ALL, Period.DAY), (By.TIER, Period.WEEK)):
        with engine.connect() as conn:
            t = time.perf_counter()
            found[by, period] = kpi_figures(conn, by, period, as_of, site.tz)
            out[f"{by}_{period}_seconds"] = round(time.perf_counter() - t, 2)
            out[f"{by}_{period}_groups"] = len(found[by, period])
    out["cases_per_second_unit_month"] = round(n / out["unit_month_seconds"])
    if compare:
        with engine.connect() as conn:
            t = time.perf_counter()
            python = compute(all_cases(conn), By.UNIT, Period.MONTH, as_of, site.tz)
            out["python_unit_month_seconds"] = round(time.perf_counter() - t, 2)
        out["sql_equals_python"] = python == found[By.UNIT, Period.MONTH]
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--kpi-cases", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--compare", action="store_true", help="also count in Python and compare (minutes)"
    )
    args = parser.parse_args()
    pg = os.environ.get("GRIDFLOW_DATABASE_URL", DEFAULT_PG)
    result: dict[str, Any] = {"date": date.today().isoformat(), "machine": machine("-", pg)}
    result["load_average_at_start"] = [round(x, 1) for x in os.getloadavg()]
    t = time.perf_counter()
    messages = stories(args.cases)
    result["stories_seconds"] = round(time.perf_counter() - t, 1)
    with schema(pg, "bench_archive_") as url:
        result["archive"] = archive_throughput(url, messages, args.batch)
    del messages
    with schema(pg, "bench_kpi_") as url:
        result["kpi"] = kpi_time(url, args.kpi_cases, args.compare)
    result["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{result['date']}-archive.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Whole-pipeline figures in one process: N valid raw reports through intake, router,
escalator, notifier and archive (the embedded runtime, a simulated clock), then ten
days in one go so every deadline lapses and every case escalates. Prints figures;
asserts nothing.

    .venv/bin/python bench/bench_pipeline.py [--reports 5000] [--db FILE_OR_URL] [--batch 500]

Without ``--db`` the database is a SQLite file in a temporary directory; a URL
(``postgresql+psycopg2://...``) should name a fresh, empty database. The notifier
has no subscribers, so no HTTP is measured.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from escalator.calendar import WorkingCalendar
from notifier.subscriptions import Subscriptions
from schemas.catalogue import load_site
from schemas.envelope import SHANGHAI
from schemas.topics import REPORTS_RAW
from services.demo.scenario import Report, generate
from services.metrics import Metrics
from services.runtime.clock import SimulatedClock
from services.runtime.embedded import EmbeddedPipeline
from services.settings import PROCESSORS

START = date(2026, 3, 2)  # reports over Mon 2 .. Wed 11 March 2026: no holiday inside
CLOCK_START = datetime(2026, 3, 13, 9, 0, tzinfo=SHANGHAI)  # after every report
TEN_DAYS = timedelta(days=10)  # lands on Monday 23 March, 09:00


def valid_reports(count: int, seed: int) -> list[Report]:
    """``count`` valid reports of the demo scenario (its bad ones left out)."""
    site, calendar = load_site(), WorkingCalendar()
    made = generate(site, START, 8, int(count * 1.1) + 20, seed, calendar)
    return [r for r in made if r.valid][:count]


def batch_figures(metrics: Metrics) -> dict[str, tuple[float, float, float]]:
    """(seconds, batches, records) per processor, as the Metrics registry holds them."""
    get = metrics.registry.get_sample_value
    out = {}
    for name in PROCESSORS:
        seconds = get("gridflow_batch_seconds_sum", {"processor": name}) or 0.0
        batches = get("gridflow_batch_seconds_count", {"processor": name}) or 0.0
        records = sum(
            s.value
            for m in metrics.consumed.collect()
            for s in m.samples
            if s.name.endswith("_total") and s.labels["processor"] == name
        )
        out[name] = (seconds, batches, records)
    return out


def print_batches(
    before: dict[str, tuple[float, float, float]], after: dict[str, tuple[float, float, float]]
) -> None:
    print(f"  {'processor':<10} {'records':>8} {'batches':>8} {'total s':>8} {'ms/batch':>9}")
    for name in PROCESSORS:
        secs, batches, records = (a - b for a, b in zip(after[name], before[name], strict=True))
        per = secs / batches * 1000 if batches else 0.0
        print(f"  {name:<10} {records:>8.0f} {batches:>8.0f} {secs:>8.2f} {per:>9.1f}")


def archived(pipeline: EmbeddedPipeline) -> dict[str, int]:
    with pipeline.engine.connect() as conn:
        rows = conn.execute(text("SELECT type, count(*) FROM archive_events GROUP BY type"))
        counts = {str(t): int(n) for t, n in rows}
        counts["archive_cases"] = conn.execute(
            text("SELECT count(*) FROM archive_cases")
        ).scalar_one()
        counts["dead letters"] = conn.execute(
            text("SELECT count(*) FROM archive_dead_letters")
        ).scalar_one()
    return counts


def database_size(pipeline: EmbeddedPipeline, path: Path | None) -> str:
    if path is not None:
        files = [path, path.with_name(path.name + "-wal")]
        size = sum(f.stat().st_size for f in files if f.exists())
        return f"{size / 1e6:.1f} MB (SQLite file + WAL)"
    if pipeline.engine.dialect.name == "postgresql":
        with pipeline.engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        return f"{size / 1e6:.1f} MB (pg_database_size)"
    return "n/a"


def run(count: int, url: str, path: Path | None, batch: int, seed: int) -> None:
    t0 = time.perf_counter()
    reports = valid_reports(count, seed)
    print(f"generated {len(reports)} valid reports in {time.perf_counter() - t0:.1f} s")
    clock, metrics = SimulatedClock(CLOCK_START), Metrics()
    pipeline = EmbeddedPipeline(
        load_site(), clock, url, Subscriptions(), metrics=metrics, batch_size=batch
    )
    print(f"database: {pipeline.engine.url.render_as_string(hide_password=True)}, batch {batch}")
    for r in reports:
        pipeline.publish(REPORTS_RAW.name, r.value, r.key)

    before = batch_figures(metrics)
    t0 = time.perf_counter()
    result = pipeline.pump()
    secs = time.perf_counter() - t0
    print(
        f"\nreports end to end: {len(reports)} in {secs:.2f} s = {len(reports) / secs:,.0f} "
        f"reports/s ({result.records} records, {result.dead_letters} dead letters)"
    )
    after = batch_figures(metrics)
    print_batches(before, after)
    print(f"  archive: {archived(pipeline)}")

    clock.advance(TEN_DAYS)
    ticks, tick_s, pump_s = 0, 0.0, 0.0
    while True:  # what EmbeddedPipeline.tick() does, timed in two parts
        t0 = time.perf_counter()
        emitted = sum(stage.runner.run_tick().emitted for stage in pipeline.stages.values())
        t1 = time.perf_counter()
        pipeline.pump()
        tick_s, pump_s = tick_s + t1 - t0, pump_s + time.perf_counter() - t1
        if not emitted:  # a tick works through a bounded batch of deadlines: until quiet
            break
        ticks += 1
    counts = archived(pipeline)
    lapsed, secs = counts.get("deadline.lapsed", 0), tick_s + pump_s
    print(
        f"\nten days later: {ticks} ticks (+1 empty) lapse {lapsed} deadlines in {tick_s:.2f} s; "
        f"pumping the {counts.get('case.escalated', 0)} escalations they cause: {pump_s:.2f} s; "
        f"together {secs:.2f} s = {lapsed / secs:,.0f} lapses/s"
    )
    print_batches(after, batch_figures(metrics))
    print(f"  archive: {counts}")
    print(f"\npeak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"database size: {database_size(pipeline, path)}")
    pipeline.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=5000, help="valid raw reports to send")
    ap.add_argument("--db", help="SQLite file or SQLAlchemy URL; default: a temp SQLite file")
    ap.add_argument("--batch", type=int, default=500, help="most records per batch")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "pipeline.db")
        path = None if "://" in db else Path(db)
        if path is not None and path.exists():
            sys.exit(f"{path} exists; give a new file")
        url = f"sqlite:///{path}" if path is not None else db
        if url.startswith("sqlite:///") and path is None:
            path = Path(url.removeprefix("sqlite:///"))
        run(args.reports, url, path, args.batch, args.seed)


if __name__ == "__main__":
    main()

"""The deadline store at scale, and the escalator's timer under load, on the real
PostgreSQL server (and Kafka broker, for the lateness run) that ``make servers`` starts.

It loads ``--deadlines`` open deadlines (10 million by default) into
``escalator_deadlines`` in a schema of its own (COPY, then the table's own indexes,
as migrations make them), and reports:

1. **disk**: ``pg_total_relation_size`` of the table, and its heap and indexes apart;
2. **finding what is due**: ``due``, ``warnings_due`` (1000 rows, as a tick reads)
   and ``next_due`` at several moments (nothing due yet, and with 0.01%, 1% and 50%
   of the table due), median and max of repeated runs, plus the plans' index use;
3. **recovery after a restart**: a fresh process (``--recover``) over a backlog of
   ``--backlog`` overdue deadlines (100k): imports, the first connection, the first
   ``next_due``, the first tick round, and the whole backlog worked through, with its
   peak RSS (``VmHWM``), which does not grow with the table: nothing is loaded;
4. **lateness under load**: the real worker with its timer on the wall clock, over
   ``--timers`` deadlines (10k) due over ``--spread`` seconds (60), a third with a
   warning, published to Kafka in a namespace of its own (``--no-kafka``: to a
   counting sink): how late each warning and lapse went out after its time (the
   flush returned), in buckets <1 s, 1-10 s, 10-60 s, >60 s; never early is checked
   per message. Target: never early, 99.9% within one second.

It writes ``bench/results/<date>-deadlines.json``, prints the figures, and drops its
schema. It asserts nothing.

    .venv/bin/python bench/deadlines.py --deadlines 200000   # a quick look
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

STARTED = time.monotonic()  # before the imports: a fresh process's recovery counts them

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.run import schema  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql+psycopg2://gridflow:gridflow@127.0.0.1:55432/gridflow"
KINDS = ("accept", "resolve")
UNITS = 4
"""Units the synthetic deadlines are spread over. Few: each is a topic the lateness run
creates (and deletes after), and the shared broker leads every partition it has."""


# --- the schema and the load ------------------------------------------------------------


class Rows(io.TextIOBase):
    """COPY text for ``n`` open deadlines, made as psycopg2 reads it: due times spread
    from ``start`` over ``span``, a warning ``warn_before`` seconds earlier on resolve
    deadlines."""

    def __init__(
        self,
        n: int,
        start: datetime,
        span: timedelta,
        tag: str,
        seed: int,
        warn_before: float = 4 * 3600,
    ) -> None:
        self._n, self._i, self._tag, self._warn = n, 0, tag, warn_before
        self._start, self._span = start.timestamp(), span.total_seconds()
        self._rng = random.Random(seed)
        self._buf = ""

    def _line(self, i: int) -> str:
        kind = KINDS[i % 2]
        due = self._start + self._rng.random() * self._span
        due_at = datetime.fromtimestamp(due, UTC).isoformat()
        warn = (
            datetime.fromtimestamp(due - self._warn, UTC).isoformat()
            if kind == "resolve"
            else r"\N"
        )
        unit = f"bench.unit{i % UNITS:02d}"
        case = f"GF-{self._tag}{i // 2:09d}"
        return (
            f"{case}\t{kind}\t1\t{unit}\tcommunity\t{due_at}\t{warn}\t3\tcorr-{case}"
            f"\tf\tf\t{datetime.fromtimestamp(self._start - 3600, UTC).isoformat()}\n"
        )

    def read(self, size: int | None = -1) -> str:  # type: ignore[override]
        want = 1 << 20 if size is None or size < 0 else size
        parts = [self._buf]
        have = len(self._buf)
        while have < want and self._i < self._n:
            line = self._line(self._i)
            parts.append(line)
            have += len(line)
            self._i += 1
        out = "".join(parts)
        self._buf = out[want:]
        return out[:want]

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self.read(size)


COLUMNS = (
    "case_id, kind, seq, unit_id, tier, due_at, warn_at, working_days, correlation_id, "
    "warned, provisional, started_at"
)


def copy_in(url: str, rows: Rows) -> None:
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.copy_expert(f"COPY escalator_deadlines ({COLUMNS}) FROM STDIN", rows, size=1 << 20)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def load(url: str, n: int, start: datetime, span: timedelta) -> dict[str, float]:
    """The table as the migrations make it, its indexes built after the COPY (as a bulk
    load would); the seconds each took."""
    from escalator.sql import deadlines
    from storage.db import metadata

    engine = create_engine(url)
    metadata.create_all(engine, tables=[deadlines])
    indexes = list(deadlines.indexes)
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    engine.dispose()
    began = time.perf_counter()
    copy_in(url, Rows(n, start, span, "B", 8))
    copied = time.perf_counter() - began
    engine = create_engine(url)
    began = time.perf_counter()
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
        conn.execute(text("ANALYZE escalator_deadlines"))
    indexed = time.perf_counter() - began
    engine.dispose()
    return {
        "copy_s": round(copied, 1),
        "index_s": round(indexed, 1),
        "rows_per_s": round(n / copied),
    }


def disk(url: str) -> dict[str, float]:
    engine = create_engine(url)
    with engine.connect() as conn:
        total, heap, idx, rows = conn.execute(
            text(
                "SELECT pg_total_relation_size('escalator_deadlines'), "
                "pg_relation_size('escalator_deadlines'), "
                "pg_indexes_size('escalator_deadlines'), count(*) FROM escalator_deadlines"
            )
        ).one()
        each = dict(
            conn.execute(
                text(
                    "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) "
                    "FROM pg_index WHERE indrelid = 'escalator_deadlines'::regclass"
                )
            ).all()
        )
    engine.dispose()
    mib = 1024 * 1024
    return {
        "rows": rows,
        "total_mib": round(total / mib, 1),
        "heap_mib": round(heap / mib, 1),
        "indexes_mib": round(idx / mib, 1),
        "bytes_per_row": round(total / max(rows, 1)),
        "each_index_mib": {k: round(v / mib, 1) for k, v in each.items()},
    }


# --- finding what is due ----------------------------------------------------------------


def queries(url: str, start: datetime, span: timedelta, n: int) -> dict[str, Any]:
    """due / warnings_due (1000) and next_due at moments with 0, 0.01%, 1% and 50% due."""
    from escalator.sql import SqlDeadlineStore
    from storage.db import Transaction, make_engine

    engine = make_engine(url)
    tx = Transaction(engine)
    store = SqlDeadlineStore(tx)
    moments = {
        "none_due": start - timedelta(hours=5),
        "0.01%_due": start + span * 0.0001,
        "1%_due": start + span * 0.01,
        "50%_due": start + span * 0.5,
    }
    out: dict[str, Any] = {}
    for label, now in moments.items():
        figures: dict[str, Any] = {}
        for name, call in (
            ("due", lambda now=now: store.due(now, 1000)),
            ("warnings_due", lambda now=now: store.warnings_due(now, 1000)),
            ("next_due", store.next_due),
        ):
            times, got = [], None
            for _ in range(15):
                with tx.begin():
                    began = time.perf_counter()
                    got = call()
                    times.append((time.perf_counter() - began) * 1000)
            rows = len(got) if isinstance(got, list) else (1 if got is not None else 0)
            figures[name] = {
                "median_ms": round(statistics.median(times), 2),
                "max_ms": round(max(times), 2),
                "rows": rows,
            }
        out[label] = figures
    with engine.connect() as conn:
        plan = conn.execute(
            text(
                "EXPLAIN SELECT (SELECT min(due_at) FROM escalator_deadlines), "
                "(SELECT min(warn_at) FROM escalator_deadlines WHERE warned = false)"
            )
        ).all()
        out["next_due_plan"] = [r[0].strip() for r in plan]
    engine.dispose()
    return out


# --- recovery: a fresh process over an overdue backlog ----------------------------------


class CountingSink:
    """Publishes nothing; counts what would go to the broker."""

    def __init__(self) -> None:
        self.sent = 0

    def limit(self) -> int | None:
        return None

    def size(self, message: Any) -> int:
        return len(message.value)

    def send(self, messages: Sequence[Any]) -> None:
        self.sent += len(messages)

    def flush(self) -> None: ...


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def recover(url: str) -> dict[str, Any]:
    """What a restarted escalator does first, timed from the process's start."""
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks[what] = round(time.monotonic() - STARTED, 3)

    from escalator.clocks import site_calendar
    from escalator.core import Escalator
    from escalator.sql import SqlDeadlineStore
    from schemas.catalogue import load_site
    from services.metrics import Metrics
    from services.runtime.batch import BatchRunner
    from storage.db import Transaction, make_engine

    mark("imported_s")
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    mark("connected_s")
    site = load_site()
    tx = Transaction(engine)
    escalator = Escalator(site, site_calendar(site), SqlDeadlineStore(tx))
    sink = CountingSink()
    runner = BatchRunner(escalator, tx, sink, Metrics())  # type: ignore[arg-type]
    mark("built_s")
    with tx.begin():
        SqlDeadlineStore(tx).next_due()
    mark("first_next_due_s")
    now = datetime.now(UTC)
    first = runner.run_tick(now, max_rounds=1)  # the provisional pass, and 1000 lapses
    mark("first_round_s")
    rest = runner.run_tick(now)
    mark("backlog_done_s")
    lapsed = (first.emitted + rest.emitted) // 2  # each lapse goes to two topics
    took = marks["backlog_done_s"] - marks["first_next_due_s"]
    return marks | {
        "lapsed": lapsed,
        "lapses_per_s": round(lapsed / took) if took else None,
        "peak_rss_mib": peak_rss_mib(),
    }


def recovery(url: str, backlog: int) -> dict[str, Any]:
    copy_in(url, Rows(backlog, datetime.now(UTC) - timedelta(days=3), timedelta(days=2), "R", 9))
    done = subprocess.run(
        [sys.executable, __file__, "--recover", url],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        env=os.environ | {"GRIDFLOW_LOG_LEVEL": "WARNING"},
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return {"backlog": backlog} | json.loads(done.stdout.strip().splitlines()[-1])


# --- lateness: the timer on the wall clock, under load ----------------------------------


class IdleSource:
    """A consumer with nothing to read: a poll waits out its timeout (500 ms at most)."""

    def poll(self, timeout_ms: int | None = None) -> list[Any]:
        time.sleep(min(500 if timeout_ms is None else timeout_ms, 500) / 1000)
        return []

    def commit(self, records: Sequence[Any]) -> None: ...

    def rewind(self, records: Sequence[Any]) -> None: ...

    def lag(self) -> dict[str, int]:
        return {}

    def close(self) -> None: ...


class Stamping:
    """A sink that stamps each deadline message with the wall time its flush returned."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pending: list[bytes] = []
        self.stamped: list[tuple[float, bytes]] = []

    def limit(self) -> int | None:
        return self.inner.limit()

    def size(self, message: Any) -> int:
        return self.inner.size(message)

    def send(self, messages: Sequence[Any]) -> None:
        from schemas.topics import DEADLINES

        self.inner.send(messages)
        self.pending += [m.value for m in messages if m.topic == DEADLINES.name]

    def flush(self) -> None:
        self.inner.flush()
        now = time.time()
        self.stamped += [(now, v) for v in self.pending]
        self.pending = []


def drop_topics(bootstrap: str, topics: list[str]) -> None:
    """Delete the run's topics: a benchmark leaves nothing on the shared broker."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics(topics)
    finally:
        admin.close()


BUCKETS = (("<1s", 1.0), ("1-10s", 10.0), ("10-60s", 60.0), (">60s", float("inf")))


def lateness(url: str, timers: int, spread: float, bootstrap: str | None) -> dict[str, Any]:
    """``timers`` deadlines due over ``spread`` seconds, among the table's others, fired
    by the real worker on the system clock."""
    from escalator.calendar import WorkingCalendar
    from escalator.core import Escalator
    from escalator.sql import SqlDeadlineStore
    from schemas.catalogue import load_site
    from services.metrics import Metrics
    from services.runtime.batch import BatchRunner
    from services.runtime.clock import SystemClock
    from services.runtime.loop import Loop
    from services.runtime.worker import Ticking, Worker, _in_transaction
    from storage.db import Transaction, make_engine

    site = load_site()
    engine = make_engine(url)
    tx = Transaction(engine)
    escalator = Escalator(site, WorkingCalendar(), SqlDeadlineStore(tx))
    resources = ExitStack()
    inner: Any = CountingSink()
    if bootstrap:
        from schemas.topics import DEADLINES, assignment_topic
        from services.runtime.kafka import KafkaSink
        from services.runtime.names import Names
        from services.topics import create_topics

        names = Names(f"benchdl{uuid.uuid4().hex[:8]}")
        units = [f"bench.unit{i:02d}" for i in range(UNITS)]
        # one partition each: the timer, not the broker's fan-out, is measured
        topics = [replace(t, partitions=1) for t in [DEADLINES, *map(assignment_topic, units)]]
        try:
            create_topics(bootstrap, topics, names=names)
        except Exception as e:  # the broker away: the timer is still measured, unpublished
            print(f"lateness without Kafka: {e!r}", flush=True)
            bootstrap = None
        else:
            resources.callback(drop_topics, bootstrap, [names.topic(t.name) for t in topics])
            inner = KafkaSink(bootstrap, f"bench-deadlines-{os.getpid()}", names)
            resources.callback(inner.close)
            inner.prepare([t.name for t in topics])
    sink = Stamping(inner)
    runner = BatchRunner(escalator, tx, sink, Metrics())  # type: ignore[arg-type]
    ticking = Ticking(SystemClock(site.tz), 5.0, next_due=_in_transaction(tx, escalator.next_due))
    worker = Worker("escalator", Loop(runner, IdleSource()), Metrics(), resources, ticking)
    worker.step()  # the first tick (the provisional pass); then the timer
    start = datetime.now(UTC) + timedelta(seconds=5)
    # half of them resolve deadlines, each warned of 2 s before its due time
    copy_in(url, Rows(timers, start, timedelta(seconds=spread), "L", 10, warn_before=2.0))
    worker._refresh()  # what the batch that armed them does
    expected = timers + timers // 2
    finish = time.monotonic() + spread + 60
    while time.monotonic() < finish and len(sink.stamped) < expected:
        worker.step()
    resources.close()
    engine.dispose()
    late = []  # after its due time (a lapse) or its warning time (a warning)
    for at, value in sink.stamped:
        doc = json.loads(value)
        late.append(at - datetime.fromisoformat(doc["occurred_at"]).timestamp())
    late.sort()
    histogram = {name: 0 for name, _ in BUCKETS}
    for s in late:
        histogram[next(name for name, bound in BUCKETS if s < bound)] += 1
    n = len(late)
    return {
        "timers": timers,
        "spread_s": spread,
        "fired": n,
        "expected": expected,
        "kafka": bool(bootstrap),
        "early": sum(1 for s in late if s < 0),
        "histogram": histogram,
        "within_1s_share": round(histogram["<1s"] / n, 5) if n else None,
        "late_ms": {
            "min": round(late[0] * 1000, 1),
            "p50": round(late[n // 2] * 1000, 1),
            "p99": round(late[int(n * 0.99)] * 1000, 1),
            "p999": round(late[min(n - 1, int(n * 0.999))] * 1000, 1),
            "max": round(late[-1] * 1000, 1),
        }
        if n
        else {},
    }


# --- the record -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--deadlines", type=int, default=int(os.environ.get("BENCH_DEADLINES", 10_000_000))
    )
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--no-kafka", action="store_true", help="lateness run without the broker")
    parser.add_argument("--recover", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recover:  # the fresh process of the recovery figure
        print(json.dumps(recover(args.recover)))
        return
    pg = os.environ.get("GRIDFLOW_DATABASE_URL", DEFAULT_PG)
    bootstrap = (
        None if args.no_kafka else os.environ.get("GRIDFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    # open deadlines due from tomorrow over a year: none of them (nor their warnings,
    # 4 h before) falls due while the bench runs, so every figure counts its own rows
    start = datetime.now(UTC) + timedelta(days=1)
    span = timedelta(days=365)
    result: dict[str, Any] = {"date": date.today().isoformat(), "deadlines": args.deadlines}
    began = time.monotonic()
    with schema(pg, prefix="bench_dl_") as url:
        result["load"] = load(url, args.deadlines, start, span)
        print("load", result["load"], flush=True)
        result["disk"] = disk(url)
        print("disk", result["disk"], flush=True)
        result["queries"] = queries(url, start, span, args.deadlines)
        print("queries", json.dumps(result["queries"], indent=1), flush=True)
        result["recovery"] = recovery(url, args.backlog)
        print("recovery", result["recovery"], flush=True)
        result["lateness"] = lateness(url, args.timers, args.spread, bootstrap)
        print("lateness", result["lateness"], flush=True)
    result["bench_seconds"] = round(time.monotonic() - began)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{result['date']}-deadlines.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

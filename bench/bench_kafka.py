"""Whole-pipeline figures on the real servers: the five processors as separate OS
processes (``python -m services run <name>``) on Kafka and a fresh PostgreSQL
database, as in tests/e2e. N valid raw reports go in with kafka-python; the bench
waits until every case is archived and prints throughput, the latency from send to
the unit's assignment topic and to the archive (p50/p95/p99), records consumed and
peak RSS per process, and the exit codes after SIGTERM. Prints figures; asserts
nothing.

    .venv/bin/python bench/bench_kafka.py [--reports 5000] [--rate 0] [--tick]

``--rate`` sends that many reports a second (0: as fast as kafka-python can);
``--tick`` then publishes one ten-day clock tick and counts the escalations that
follow. The consumer groups (``gridflow.<processor>``) and the topics are shared
with anything else running the pipeline on the same broker, so the bench first
waits until those groups have no members.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.structs import TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from intake.core import case_id_for
from schemas.catalogue import Site, load_site
from schemas.envelope import SHANGHAI
from schemas.reports import Tier
from schemas.topics import REPORTS_RAW, assignment_topic
from services.runtime.local import LocalCluster
from services.settings import DEFAULT_PG_URL, PROCESSORS

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = 50  # reports sent and archived before the clock starts: joins, imports, caches


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE for this run; dropped (WITH FORCE) afterwards."""
    name = f"gridflow_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        print(f"dropped database {name}")


def busy_groups(bootstrap: str) -> dict[str, str]:
    """The pipeline's consumer groups that are not empty, with their state."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        groups = admin.list_groups()
    finally:
        admin.close()
    mine = {f"gridflow.{p}" for p in PROCESSORS}
    return {
        g["group_id"]: g["group_state"]
        for g in groups
        if g["group_id"] in mine and g["group_state"] not in ("Empty", "Dead")
    }


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def peak_rss_mib(cluster: LocalCluster) -> dict[str, float]:
    """VmHWM of each live processor process (Linux)."""
    out = {}
    for name, proc in cluster.procs.items():
        status = Path(f"/proc/{proc.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
        out[name] = int(kib) / 1024
    return out


def scrape(port: int) -> dict[str, float]:
    """Records consumed, batch seconds and batches of one process's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        body = r.read().decode()
    out = {"records": 0.0, "batch_s": 0.0, "batches": 0.0}
    names = {
        "gridflow_records_consumed_total": "records",
        "gridflow_batch_seconds_sum": "batch_s",
        "gridflow_batch_seconds_count": "batches",
    }
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name in names:
                out[names[sample.name]] += sample.value
    return out


def send_reports(
    bootstrap: str, site: Site, count: int, tag: str, rate: float
) -> tuple[dict[str, float], float]:
    """Send ``count`` valid reports, reported_at = the moment of sending; returns
    {case_id: send time (epoch s)} and how long the sending took, flush included."""
    rng = random.Random(tag)
    grids = [j.id for j in site.jurisdictions if j.tier is Tier.GRID]
    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5)
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for n in range(count):
        if rate:
            time.sleep(max(0.0, start + n / rate - time.perf_counter()))
        external = f"{tag}-{n:06d}"
        at = time.time()
        body = {
            "channel": "hotline_12345",
            "external_id": external,
            "reported_at": datetime.fromtimestamp(at, SHANGHAI).isoformat(),
            "category": rng.choice(site.categories).code,
            "grid_id": rng.choice(grids),
            "description": "路灯不亮，影响夜间出行。",
            "reporter": {"name": "模拟居民", "phone": "138-0000-0000"},
        }
        sent[case_id_for("hotline_12345", external)] = at
        key = f"hotline_12345:{external}".encode()
        producer.send(REPORTS_RAW.name, key=key, value=json.dumps(body).encode())
    producer.flush()
    took = time.perf_counter() - start
    producer.close()
    return sent, took


def count_archived(engine: Engine, ids: list[str], kind: str = "case.assigned") -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM archive_events WHERE type = :t AND case_id = ANY(:ids)"),
            {"t": kind, "ids": ids},
        ).scalar_one()


def archive_times(engine: Engine, ids: list[str]) -> dict[str, float]:
    """Epoch seconds at which the archive took each case's first case.assigned."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT case_id, min(archived_at) FROM archive_events "
                "WHERE type = 'case.assigned' AND case_id = ANY(:ids) GROUP BY case_id"
            ),
            {"ids": ids},
        )
        return {case_id: at.timestamp() for case_id, at in rows}


def assignment_marks(bootstrap: str, site: Site) -> dict[TopicPartition, int]:
    """End offsets of every unit's assignment topic: where this run's cases start."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False)
    tps = [
        TopicPartition(t, p)
        for t in (assignment_topic(u.id).name for u in site.units)
        for p in consumer.partitions_for_topic(t) or ()
    ]
    marks = consumer.end_offsets(tps)
    consumer.close()
    return marks


def assignment_times(
    bootstrap: str, marks: dict[TopicPartition, int], ids: set[str]
) -> tuple[dict[str, float], int]:
    """Epoch seconds at which the router published each case on a unit's topic
    (the record's CreateTime), and how many of this run's records there were."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False)
    consumer.assign(list(marks))
    for tp, offset in marks.items():
        consumer.seek(tp, offset)
    ends = consumer.end_offsets(list(marks))
    times: dict[str, float] = {}
    records = 0
    while any(consumer.position(tp) < ends[tp] for tp in marks):
        for batch in consumer.poll(timeout_ms=1000, max_records=5000).values():
            for m in batch:
                case_id = json.loads(m.value)["case_id"]
                if case_id in ids:
                    records += 1
                    times[case_id] = min(times.get(case_id, m.timestamp / 1000), m.timestamp / 1000)
    consumer.close()
    return times, records


def percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "n/a"
    s = sorted(latencies)

    def p(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))] * 1000

    return f"p50 {p(0.5):,.0f} ms, p95 {p(0.95):,.0f} ms, p99 {p(0.99):,.0f} ms, max {p(1):,.0f} ms"


def wait_until(what: str, done: Callable[[], bool], procs: LocalCluster, timeout: float) -> float:
    """Poll ``done`` every 0.25 s; the seconds it took."""
    start = time.perf_counter()
    while not done():
        procs.check()
        if time.perf_counter() - start > timeout:
            sys.exit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)
    return time.perf_counter() - start


def escalations(engine: Engine, ids: list[str], procs: LocalCluster, quiet: float) -> None:
    """Publish a ten-day tick; count escalations until none came for ``quiet`` s."""
    done = subprocess.run(
        [sys.executable, "-m", "services", "tick", "--advance", "10d"],
        env=procs.env,
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if done.returncode:
        sys.exit(done.stderr.decode()[-2000:])
    start = last_change = time.perf_counter()
    seen = -1
    while seen < len(ids) and time.perf_counter() - last_change < quiet:
        procs.check()
        if (now := count_archived(engine, ids, "case.escalated")) != seen:
            seen, last_change = now, time.perf_counter()
        time.sleep(0.5)
    lapsed = count_archived(engine, ids, "deadline.lapsed")
    print(
        f"one ten-day tick: {seen} of {len(ids)} cases escalated, {lapsed} deadlines lapsed, "
        f"the last {last_change - start:.1f} s after the tick"
        + ("" if seen == len(ids) else f" (then nothing for {quiet:.0f} s)")
    )


def measure(args: argparse.Namespace, site: Site, engine: Engine, procs: LocalCluster) -> None:
    tag = f"bench{uuid.uuid4().hex[:8]}"
    warm, _ = send_reports(args.bootstrap, site, WARM_UP, f"{tag}w", 0)
    warm_ids = list(warm)
    secs = wait_until(
        "warm-up", lambda: count_archived(engine, warm_ids) == WARM_UP, procs, args.timeout
    )
    print(f"processes up: {WARM_UP} warm-up reports archived {secs:.1f} s after sending")
    before = {name: scrape(port) for name, port in procs.metrics_ports.items()}
    marks = assignment_marks(args.bootstrap, site)

    sent, took = send_reports(args.bootstrap, site, args.reports, tag, args.rate)
    ids, n = list(sent), len(sent)
    wait_until("every case archived", lambda: count_archived(engine, ids) == n, procs, args.timeout)
    elapsed = time.time() - min(sent.values())
    print(f"sent {n} reports in {took:.2f} s ({n / took:,.0f}/s, acks=all, flush included)")
    print(
        f"all {n} cases archived {elapsed:.1f} s after the first send: {n / elapsed:,.0f} cases/s"
    )

    archived = archive_times(engine, ids)
    assigned, records = assignment_times(args.bootstrap, marks, set(ids))
    last = max(assigned.values(), default=0.0) - min(sent.values())
    print(f"on assignment topics: {len(assigned)} cases ({records} records), last {last:.1f} s in")
    print(
        "latency send -> assignment topic:", percentiles([assigned[c] - sent[c] for c in assigned])
    )
    print(
        "latency send -> archive_events:  ", percentiles([archived[c] - sent[c] for c in archived])
    )

    after = {name: scrape(port) for name, port in procs.metrics_ports.items()}
    rss = peak_rss_mib(procs)
    print(
        f"\n  {'processor':<10} {'records':>8} {'batches':>8} {'batch s':>8} {'ms/batch':>9} "
        f"{'peak RSS':>9}"
    )
    for name in PROCESSORS:
        d = {k: after[name][k] - before[name][k] for k in after[name]}
        per = d["batch_s"] / d["batches"] * 1000 if d["batches"] else 0.0
        print(
            f"  {name:<10} {d['records']:>8.0f} {d['batches']:>8.0f} {d['batch_s']:>8.2f} "
            f"{per:>9.1f} {rss[name]:>5.0f} MiB"
        )
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    print(f"database size: {size / 1e6:.1f} MB")
    if args.tick:
        escalations(engine, ids, procs, args.quiet)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=5000, help="valid raw reports to send")
    ap.add_argument("--rate", type=float, default=0, help="reports/s; 0: as fast as possible")
    ap.add_argument("--tick", action="store_true", help="then one ten-day tick")
    ap.add_argument(
        "--bootstrap", default=os.environ.get("GRIDFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    ap.add_argument("--postgres", default=DEFAULT_PG_URL, help="server to CREATE DATABASE on")
    ap.add_argument("--poll-ms", type=int, default=200, help="GRIDFLOW_POLL_TIMEOUT_MS")
    ap.add_argument("--timeout", type=float, default=600, help="longest wait, seconds")
    ap.add_argument("--quiet", type=float, default=20, help="--tick: stop after s without news")
    args = ap.parse_args()

    for _ in range(60):
        if not (busy := busy_groups(args.bootstrap)):
            break
        print(f"waiting: consumer groups in use by another pipeline: {busy}")
        time.sleep(5)
    else:
        sys.exit("the pipeline's consumer groups stayed busy; try again later")
    site = load_site()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.postgres) as url:
        subscriptions = Path(tmp) / "subscriptions.yaml"
        subscriptions.write_text("subscribers: []\nunit_webhooks:\n  enabled: false\n")
        env = {
            **os.environ,
            "GRIDFLOW_KAFKA_BOOTSTRAP": args.bootstrap,
            "GRIDFLOW_DATABASE_URL": url,
            "GRIDFLOW_CLOCK": "ticks",
            "GRIDFLOW_SUBSCRIPTIONS": str(subscriptions),
            "GRIDFLOW_POLL_TIMEOUT_MS": str(args.poll_ms),
        }
        for command in (("topics", "create"), ("db", "upgrade")):  # before anyone polls
            subprocess.run(
                [sys.executable, "-m", "services", *command],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        ports = dict(zip(PROCESSORS, free_ports(len(PROCESSORS)), strict=True))
        procs = LocalCluster(Path(tmp), env, ports)
        engine = create_engine(url)
        procs.start()
        try:
            measure(args, site, engine, procs)
        finally:
            codes = procs.stop()
            engine.dispose()
            print(
                f"exit codes after SIGTERM: {codes}"
                + (" (all clean)" if set(codes.values()) == {0} else " (NOT all clean)")
            )


if __name__ == "__main__":
    main()

"""``make bench``: every throughput and latency figure of gridflow in one run, on the real
Kafka broker and PostgreSQL server that ``make servers`` starts.

1. the ceiling: a bare kafka-python consume-and-produce passthrough, batches of 500,
   manual commits, over the same raw reports;
2. the five processes together at full speed: reports/s from the first report sent to
   the last case on a unit's assignment topic, and each process's peak memory;
3. each processor alone, at full speed, over a copy of the input topics that run
   filled, with a database of its own: records/s from its first commit to the last;
4. the five together at half the rate of 2, for the latency from report to
   assignment topic (both records' broker append times): p50, p99, max;
5. the embedded runtime (one process, SQLite) on the same reports;
6. the profile: the five together once more, each process sampled by py-spy, and
   the share of its samples in each part of the code (Kafka client, SQL, pydantic,
   JSON, the logic, idle in poll), written to ``bench/results/<date>-profile.json``.

Each run has its own namespace (topics and groups) and database schema, so the bench
shares the broker with nothing. It writes ``bench/results/<date>.json`` and
``bench/results/<date>.png``, prints the figures, and asserts nothing.

    .venv/bin/python bench/run.py [--reports 4000] [--latency-seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas.access import channel_topic  # noqa: E402
from schemas.catalogue import Site, load_site  # noqa: E402
from schemas.reports import Channel, Tier  # noqa: E402
from schemas.topics import ASSIGNMENT_PREFIX, CASES_RECEIVED  # noqa: E402
from services.demo.receiver import Receiver  # noqa: E402
from services.processors import PROCESSORS, REGISTRY, Parts  # noqa: E402
from services.runtime.clock import SimulatedClock  # noqa: E402
from services.runtime.embedded import EmbeddedPipeline  # noqa: E402
from services.runtime.names import Names  # noqa: E402
from services.settings import KafkaClient, Settings  # noqa: E402
from services.topics import create_topics, site_topics  # noqa: E402
from storage.db import Transaction, make_engine  # noqa: E402

RESULTS = ROOT / "bench" / "results"


# --- the reports -------------------------------------------------------------------


def hotline(site: Site) -> str:
    """The hotline's report topic: every bench report comes from the 12345 hotline."""
    return channel_topic(site, Channel.HOTLINE_12345).name


def reports(site: Site, n: int, tag: str, at: datetime) -> list[bytes]:
    """``n`` valid raw reports of realistic size, spread over the site's grids and
    categories, reported at ``at``."""
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    categories = sorted(c.code for c in site.categories)
    out = []
    for i in range(n):
        body = {
            "channel": "hotline_12345",
            "external_id": f"{tag}-{i:06d}",
            "reported_at": at.isoformat(),
            "category": categories[i % len(categories)],
            "grid_id": grids[(i * 7) % len(grids)],
            "title": "路灯不亮",
            "description": "兴庄路小区东门路灯已经三天不亮，夜间出行不便，请尽快维修。" * 3,
            "reporter": {"name": "王女士", "phone": "+86 138-1234-5678"},
            "location": {"address": "兴庄路 18 号东门", "lat": 29.95, "lon": 121.6},
        }
        out.append(json.dumps(body, ensure_ascii=False).encode())
    return out


# --- servers and namespaces ----------------------------------------------------------


@contextmanager
def schema(pg_url: str, prefix: str = "bench_") -> Iterator[str]:
    """A database URL whose search_path is a new, empty schema; dropped after."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


_CREATED: list[Names] = []
"""Every namespace this run made: its topics go when the run ends."""


def namespace(bootstrap: str, site: Site) -> Names:
    names = Names(f"bench{uuid.uuid4().hex[:8]}")
    create_topics(bootstrap, site_topics(site), names=names)
    _CREATED.append(names)
    return names


def drop_namespaces(bootstrap: str) -> None:
    """Delete the run's topics: each namespace is some 400 topics, and a broker that
    keeps every run's grows slow to answer metadata (and short of heap)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        prefixes = tuple(f"{n.namespace}." for n in _CREATED)
        doomed = [t for t in admin.list_topics() if t.startswith(prefixes)]
        for i in range(0, len(doomed), 200):
            admin.delete_topics(doomed[i : i + 200], timeout_ms=60_000)
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, values: list[bytes], rate: float = 0) -> float:
    """Send ``values`` (at ``rate`` a second, 0: as fast as possible); the send time."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    started = time.monotonic()
    for i, value in enumerate(values):
        if rate:
            wait = started + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        producer.send(topic, value)
    producer.flush()
    producer.close()
    return started


class Processes:
    """``gridflow run`` processes of one namespace; stopped with SIGTERM at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, *names: str) -> None:
        for name in names:
            log = (self.logs / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services", "run", name],
                env=self.env | {"GRIDFLOW_METRICS_PORT": "0"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def check(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def peak_rss_mib(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            status = Path(f"/proc/{proc.pid}/status").read_text()
            kib = next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM"))
            out[name] = round(int(kib) / 1024, 1)
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """User and system CPU of each process so far, every thread (librdkafka's too)."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for name, proc in self.procs.items():
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def sample(self, out: Path) -> list[subprocess.Popen[bytes]]:
        """Start py-spy on every process; each writes collapsed stacks to ``out``."""
        spy = Path(sys.executable).with_name("py-spy")
        return [
            subprocess.Popen(
                [str(spy), "record", "--pid", str(proc.pid), "--rate", "200", "--nonblocking",
                 "--format", "raw", "--output", str(out / f"{name}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, proc in self.procs.items()
        ]  # fmt: skip

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def env_for(bootstrap: str, db: str, names: Names, subscriptions: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GRIDFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "GRIDFLOW_DATABASE_URL": db,
        "GRIDFLOW_NAMESPACE": names.namespace,
        "GRIDFLOW_SUBSCRIPTIONS": str(subscriptions),
        "GRIDFLOW_LOG_LEVEL": "WARNING",
    }


def assignments(bootstrap: str, names: Names) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{names.namespace}-bench-reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    prefix = names.topic(ASSIGNMENT_PREFIX + "x")[:-1]
    consumer.subscribe(pattern=f"^{prefix.replace('.', '[.]')}.*")
    return consumer


_DISPATCHED = b'"case.dispatched"'


def wait_dispatched(consumer: KafkaConsumer, n: int, procs: Processes, timeout: float) -> list[int]:
    """The broker append times (ms) of the first ``n`` dispatched cases."""
    stamps: list[int] = []
    deadline = time.monotonic() + timeout
    while len(stamps) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(stamps)} of {n} cases dispatched in {timeout:.0f}s")
        procs.check()
        for batch in consumer.poll(timeout_ms=200, max_records=10_000).values():
            # a unit's topic carries more than dispatches (answers, deadline notices)
            stamps.extend(m.timestamp for m in batch if _DISPATCHED in m.value)
    return stamps


# --- 1. the ceiling ------------------------------------------------------------------


def passthrough(bootstrap: str, site: Site, values: list[bytes]) -> dict[str, float]:
    names = namespace(bootstrap, site)
    source, target = names.topic(hotline(site)), names.topic(CASES_RECEIVED.name)
    produce(bootstrap, source, values)
    if Settings().kafka_client is KafkaClient.CONFLUENT:
        return passthrough_confluent(bootstrap, names, source, target, len(values))
    consumer = KafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"{names.namespace}.passthrough",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
    )
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    moved, started = 0, None
    deadline = time.monotonic() + 300
    while moved < len(values) and time.monotonic() < deadline:
        batches = consumer.poll(timeout_ms=500, max_records=500)
        for batch in batches.values():
            for m in batch:
                started = started or time.monotonic()
                producer.send(target, key=m.key, value=m.value)
                moved += 1
        producer.flush()
        consumer.commit()
    elapsed = time.monotonic() - (started or time.monotonic())
    consumer.close()
    producer.close()
    return {"records": moved, "seconds": round(elapsed, 2), "per_s": round(moved / elapsed)}


def passthrough_confluent(
    bootstrap: str, names: Names, source: str, target: str, n: int
) -> dict[str, float]:
    """The same passthrough on confluent-kafka, configured as the runtime's
    (services/runtime/confluent.py): batches of 500, manual commits."""
    from confluent_kafka import Consumer, Producer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{names.namespace}.passthrough",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 20,
        }
    )
    consumer.subscribe([source])
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",
        }
    )
    moved, started = 0, None
    deadline = time.monotonic() + 300
    while moved < n and time.monotonic() < deadline:
        first = consumer.poll(0.5)
        if first is None:
            continue
        batch = [first, *consumer.consume(499, 0)]
        for m in batch:
            if m.error() is None:
                started = started or time.monotonic()
                producer.produce(target, m.value(), m.key())
                moved += 1
        producer.flush()
        consumer.commit(asynchronous=False)
    elapsed = time.monotonic() - (started or time.monotonic())
    consumer.close()
    return {"records": moved, "seconds": round(elapsed, 2), "per_s": round(moved / elapsed)}


# --- 2 and 4. the five together ---------------------------------------------------------


def pipeline(
    bootstrap: str,
    pg: str,
    site: Site,
    values: list[bytes],
    work: Path,
    rate: float = 0,
    profile: bool = False,
) -> dict[str, Any]:
    """The five processes on ``values``: end-to-end rate, latencies, peak memory; with
    ``profile``, where each process spent the measured part (py-spy samples)."""
    names = namespace(bootstrap, site)
    with schema(pg) as db, Receiver() as receiver:
        subs = work / f"{names.namespace}.yaml"
        subs.write_text(
            f"subscribers:\n  - id: bench\n    url: {receiver.url}/hook\n"
            "    events: [case.assigned, case.escalated]\n",
            encoding="utf-8",
        )
        logs = work / names.namespace
        logs.mkdir()
        procs = Processes(env_for(bootstrap, db, names, subs), logs)
        reader = assignments(bootstrap, names)
        procs.start(*PROCESSORS)
        try:
            # warm up: the groups join, the imports and caches fill, before the clock runs
            produce(bootstrap, names.topic(hotline(site)), values[:50])
            wait_dispatched(reader, 50, procs, timeout=180)
            samples = work / f"{names.namespace}-samples"
            samples.mkdir()
            spies = procs.sample(samples) if profile else []
            cpu_before = procs.cpu_seconds()
            sent_at = produce(bootstrap, names.topic(hotline(site)), values[50:], rate)
            stamps = wait_dispatched(reader, len(values) - 50, procs, timeout=900)
            done = time.monotonic()
            cpu = {k: round(v - cpu_before[k], 2) for k, v in procs.cpu_seconds().items()}
            if profile:
                archived(db, len(values), procs, timeout=300)  # the archive's share too
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                spy.wait(timeout=60)
            memory = procs.peak_rss_mib()
        finally:
            reader.close()
            procs.stop()
    n = len(values) - 50
    out: dict[str, Any] = {
        "namespace": names.namespace,
        "reports": n,
        "seconds": round(done - sent_at, 2),
        "per_s": round(n / (done - sent_at)),
        "peak_rss_mib": memory,
        "cpu_seconds": cpu,
    }
    if rate:
        out["rate"] = rate
        out["latency_ms"] = latencies(bootstrap, names.topic(hotline(site)), stamps)
    if profile:
        out["profile"] = {name: shares(samples / f"{name}.txt") for name in PROCESSORS}
    return out


def archived(db: str, n: int, procs: Processes, timeout: float) -> None:
    """Wait until the archive holds ``n`` case.assigned events."""
    engine = create_engine(db)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            procs.check()
            with engine.connect() as conn:
                count = conn.execute(
                    text("SELECT count(*) FROM archive_events WHERE type = 'case.assigned'")
                ).scalar_one()
            if count >= n:
                return
            time.sleep(0.2)
    finally:
        engine.dispose()


# Where a sample is, by the first of these found on its stack, innermost first.
PARTS = (
    (
        "waiting for the broker",
        ("select.py", "selectors.py", "_poll_once", "poll (kafka", "_wait_for_records"),
    ),
    ("PostgreSQL round trips", ("psycopg2", "do_execute", "do_executemany", "cursor.execute")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("pydantic", ("pydantic", "model_validate", "model_dump")),
    ("JSON", ("json/", "orjson", "msgspec")),
    # confluent-kafka's work is in C, under the adapter's own frames (py-spy sees Python
    # threads only: librdkafka's threads are in the processes' CPU seconds, not here)
    ("Kafka client", ("kafka/", "runtime/confluent.py")),
    ("HTTP (webhooks)", ("httpx", "httpcore", "http/client")),
    ("logging and metrics", ("logging/", "prometheus_client")),
    ("gridflow logic", ("/intake/", "/router/", "/escalator/", "/notifier/", "/archive/")),
    ("gridflow runtime", ("/services/", "/schemas/", "/storage/")),
)


def shares(path: Path) -> dict[str, float]:
    """Percent of a process's samples in each of PARTS (py-spy's raw, collapsed stacks)."""
    if not path.exists():
        return {}
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        total += int(n)
        part = next(
            (
                label
                for frame in reversed(frames)
                for label, marks in PARTS
                if any(m in frame for m in marks)
            ),
            "other",
        )
        counts[part] = counts.get(part, 0) + int(n)
    return {k: round(100 * v / total, 1) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def latencies(bootstrap: str, topic: str, dispatched_ms: list[int]) -> dict[str, float]:
    """Report (raw record) to assignment topic, by broker append times, per case.

    Cases are matched by order: the k-th report appended and the k-th assignment
    appended are compared after both are sorted, which is exact for the distribution
    when the pipeline keeps up (at half its rate) and conservative otherwise."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000
    )
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    raw = sorted(m.timestamp for m in consumer)[50:]
    consumer.close()
    delays = sorted(b - a for a, b in zip(raw, sorted(dispatched_ms), strict=False))
    return {
        "p50": statistics.median(delays),
        "p99": delays[int(len(delays) * 0.99) - 1],
        "max": delays[-1],
        "n": len(delays),
    }


# --- 3. each processor alone -----------------------------------------------------------


def copy_inputs(bootstrap: str, source: Names, target: Names, topics: list[str]) -> int:
    """Every record of ``topics`` from one namespace to another, same keys and partitions.

    All partitions at once, read up to the end offsets taken first: a processor may
    read hundreds of topics (intake reads every sender's command topic), most of
    them empty, and waiting out a consumer timeout on each would take minutes.
    """
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    parts = [
        TopicPartition(source.topic(t), p)
        for t in topics
        for p in consumer.partitions_for_topic(source.topic(t)) or ()
    ]
    ends = {tp: n for tp, n in consumer.end_offsets(parts).items() if n > 0}
    copied = 0
    if ends:
        consumer.assign(list(ends))
        consumer.seek_to_beginning()
        remaining = sum(ends.values())
        deadline = time.monotonic() + 600
        while remaining > 0 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                for m in batch:
                    topic = target.topic(source.catalogue(m.topic))
                    producer.send(topic, key=m.key, value=m.value, partition=m.partition)
                copied += len(batch)
                remaining -= len(batch)
    producer.flush()
    producer.close()
    consumer.close()
    return copied


def alone(
    bootstrap: str, pg: str, site: Site, filled: Names, name: str, work: Path
) -> dict[str, Any]:
    engine = make_engine("sqlite://")
    from contextlib import ExitStack

    with ExitStack() as resources:
        spec = REGISTRY[name]
        topics = list(spec.build(Parts(site, Transaction(engine), resources)).topics)
    names = namespace(bootstrap, site)
    records = copy_inputs(bootstrap, filled, names, topics)
    with schema(pg) as db, Receiver() as receiver:
        subs = work / f"{names.namespace}.yaml"
        subs.write_text(
            f"subscribers:\n  - id: bench\n    url: {receiver.url}/hook\n"
            "    events: [case.assigned, case.escalated]\n",
            encoding="utf-8",
        )
        logs = work / names.namespace
        logs.mkdir()
        procs = Processes(env_for(bootstrap, db, names, subs), logs)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        procs.start(name)
        first = last = None
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                procs.check()
                group = names.group(name)
                offsets = admin.list_group_offsets(group).get(group) or {}
                done = sum(max(o.offset, 0) for o in offsets.values())
                now = time.monotonic()
                if done and first is None:
                    first = now
                if done >= records:
                    last = now
                    break
                time.sleep(0.1)
            memory = procs.peak_rss_mib()
        finally:
            admin.close()
            procs.stop()
    if first is None or last is None or last <= first:
        return {"records": records, "error": "did not drain"}
    return {
        "records": records,
        "seconds": round(last - first, 2),
        "per_s": round(records / (last - first)),
        "peak_rss_mib": memory[name],
    }


# --- 5. the embedded runtime -----------------------------------------------------------


def embedded(site: Site, values: list[bytes], work: Path) -> dict[str, Any]:
    clock = SimulatedClock(datetime(2026, 3, 5, 10, tzinfo=site.tz))
    pipeline = EmbeddedPipeline(site, clock, f"sqlite:///{work / 'embedded.sqlite'}")
    started = time.perf_counter()
    for value in values:
        pipeline.publish(hotline(site), value)
    pipeline.pump()
    elapsed = time.perf_counter() - started
    pipeline.close()
    return {
        "reports": len(values),
        "seconds": round(elapsed, 2),
        "per_s": round(len(values) / elapsed),
    }


# --- the record -------------------------------------------------------------------------


def machine(bootstrap: str, pg: str) -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    engine = create_engine(pg)
    with engine.connect() as conn:
        pg_version = conn.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    jars = sorted((ROOT / "deploy/kafka/target/libs").glob("kafka_2.13-*.jar"))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "kafka": jars[-1].stem.removeprefix("kafka_2.13-") if jars else "unknown",
        "postgresql": pg_version,
        "commit": commit,
        "kafka_bootstrap": bootstrap,
    }


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    stages = {"ceiling (passthrough)": result["passthrough"]["per_s"]}
    stages |= {f"{n} alone": r.get("per_s", 0) for n, r in result["alone"].items()}
    stages["five together"] = result["pipeline"]["per_s"]
    stages["embedded (SQLite)"] = result["embedded"]["per_s"]
    left.barh(list(stages), list(stages.values()), color="#3b75af")
    left.axvline(result["passthrough"]["per_s"] / 2, color="#c44", ls="--", label="half ceiling")
    left.set_xlabel("records (or reports) per second")
    left.invert_yaxis()
    left.legend()
    left.set_title("throughput")
    lat = result["half_rate"]["latency_ms"]
    right.bar(["p50", "p99", "max"], [lat["p50"], lat["p99"], lat["max"]], color="#5a9")
    right.set_ylabel("ms, report to assignment topic")
    right.set_title(f"latency at {result['half_rate']['rate']:.0f} reports/s")
    fig.suptitle(f"gridflow bench {result['date']} · {result['machine']['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _measure(
    result: dict[str, Any],
    args: argparse.Namespace,
    bootstrap: str,
    pg: str,
    site: Site,
    values: list[bytes],
    tag: str,
    at: datetime,
    work: Path,
) -> None:
    """Steps 1-6, each figure into ``result``."""
    started = time.monotonic()
    result["passthrough"] = passthrough(bootstrap, site, values[50:])
    print("passthrough", result["passthrough"], flush=True)
    result["pipeline"] = pipeline(bootstrap, pg, site, values, work)
    print("five together", result["pipeline"], flush=True)
    filled = Names(result["pipeline"]["namespace"])
    result["alone"] = {n: alone(bootstrap, pg, site, filled, n, work) for n in PROCESSORS}
    print("alone", result["alone"], flush=True)
    rate = max(1.0, result["pipeline"]["per_s"] / 2)
    n = int(rate * args.latency_seconds) + 50
    half = reports(site, n, tag + "h", at)
    result["half_rate"] = pipeline(bootstrap, pg, site, half, work, rate=rate)
    print("half rate", result["half_rate"], flush=True)
    result["embedded"] = embedded(site, [v for v in values[50:]], work)
    print("embedded", result["embedded"], flush=True)
    profiled = pipeline(bootstrap, pg, site, values, work, profile=True)
    result["profile"] = {"per_s_sampled": profiled["per_s"]} | profiled["profile"]
    print("profile", json.dumps(result["profile"], indent=1), flush=True)
    result["bench_seconds"] = round(time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=int(os.environ.get("BENCH_REPORTS", 4000)))
    parser.add_argument(
        "--latency-seconds", type=float, default=float(os.environ.get("BENCH_LATENCY_S", 20))
    )
    parser.add_argument(
        "--client",
        choices=[c.value for c in KafkaClient],
        default=Settings().kafka_client.value,
        help="the Kafka client of the processes and the passthrough (GRIDFLOW_KAFKA_CLIENT)",
    )
    args = parser.parse_args()
    os.environ["GRIDFLOW_KAFKA_CLIENT"] = args.client  # the processes inherit it
    bootstrap = os.environ.get("GRIDFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    pg = os.environ.get(
        "GRIDFLOW_DATABASE_URL", "postgresql+psycopg2://gridflow:gridflow@127.0.0.1:55432/gridflow"
    )
    site = load_site()
    at = datetime.now(site.tz) - timedelta(minutes=5)
    tag = uuid.uuid4().hex[:6]
    values = reports(site, args.reports + 50, tag, at)
    result: dict[str, Any] = {"date": date.today().isoformat(), "machine": machine(bootstrap, pg)}
    result["sizes"] = {"reports": args.reports, "latency_seconds": args.latency_seconds}
    result["kafka_client"] = args.client
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _measure(result, args, bootstrap, pg, site, values, tag, at, Path(tmp))
        finally:
            drop_namespaces(bootstrap)
    RESULTS.mkdir(parents=True, exist_ok=True)
    # the default client's run is <date>.json; the other's <date>-<client>.json beside it
    default = args.client == Settings.model_fields["kafka_client"].default.value
    stem = result["date"] if default else f"{result['date']}-{args.client}"
    out = RESULTS / f"{stem}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    chart(result, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

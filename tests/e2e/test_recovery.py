"""Recovery in seconds, with processors as separate OS processes on real Kafka and
PostgreSQL (each test in a namespace of its own, so it shares the broker):

- a router killed with SIGKILL routes again within seconds of its restart: static
  group membership gives it its partitions back without a rebalance;
- an escalator killed in the middle of a tick finishes the tick when it restarts;
- intake starts and goes on while its database is down, and the router resumes
  within seconds of PostgreSQL's return. PostgreSQL is a private cluster of the
  test's own (deploy/postgres/start.sh on another port and run dir), since the
  shared one must stay up.

Each test prints what it measured.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from schemas.catalogue import Site
from schemas.topics import ASSIGNMENT_PREFIX, CASES_RECEIVED, DEADLINES
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.infra import _missing
from tests.integration.services.test_scale_out import Instances, _send
from tests.support.processes import deploy_script, free_ports, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

RESTART_BOUND_S = 10.0
"""The issue's bound: consuming again within 10 s of the restart."""
RESUME_BOUND_S = 10.0
"""Generous, and PostgreSQL's own start counts: the worker retries at least once a
second, so ~1-2 s after the server accepts connections is expected."""


@pytest.fixture
def namespace(kafka_bootstrap: str, site: Site) -> str:
    ns = f"recov{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, site_topics(site), names=Names(ns))
    return ns


def _env(namespace: str, bootstrap: str, database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "GRIDFLOW_NAMESPACE": namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
        **extra,
    }


class Reader:
    """Reads broker topics of a namespace from the beginning, under a group of its own."""

    def __init__(self, bootstrap: str, topics: list[str] | None = None, pattern: str = "") -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"recovery-reader-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=2000,
        )
        if topics:
            for topic in topics:
                self.consumer.partitions_for_topic(topic)  # metadata first, then join
            self.consumer.subscribe(topics=topics)
        else:
            self.consumer.subscribe(pattern=pattern)
        self.seen: list[dict[str, object]] = []

    def read(self) -> list[dict[str, object]]:
        for batch in self.consumer.poll(timeout_ms=200, max_records=5000).values():
            self.seen.extend(json.loads(m.value) for m in batch)
        return self.seen

    def case_ids(self) -> set[str]:
        return {str(doc["case_id"]) for doc in self.read()}

    def close(self) -> None:
        self.consumer.close()


def _assignments(bootstrap: str, namespace: str) -> Reader:
    prefix = Names(namespace).topic(ASSIGNMENT_PREFIX + "x")[:-1]
    return Reader(bootstrap, pattern=f"^{re.escape(prefix)}.*")


def _kill(instances: Instances, label: str) -> None:
    """SIGKILL the instance; it is no longer one that should be running."""
    proc, _ = instances.procs.pop(label)
    proc.kill()
    proc.wait(timeout=30)


def _until(what: str, check: Callable[[], bool], timeout: float, instances: Instances) -> float:
    """Seconds until ``check()`` holds, polling every 50 ms; fails after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        instances.check()
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not {what} within {timeout:.0f}s")


# --- a killed processor -----------------------------------------------------------------


def test_a_killed_router_routes_again_within_seconds_of_its_restart(
    kafka_bootstrap: str, database_url: str, namespace: str, site: Site, tmp_path: Path
) -> None:
    instances = Instances(tmp_path, _env(namespace, kafka_bootstrap, database_url))
    assignments = _assignments(kafka_bootstrap, namespace)
    try:
        instances.start("intake", "intake")
        instances.start("router-0", "router")
        ids = _send(kafka_bootstrap, namespace, site, 0, 20)
        wait_for("the first cases dispatched", lambda: assignments.case_ids() >= ids, 120)
        figures = []
        for kill in range(1, 3):
            _kill(instances, f"router-{kill - 1}")
            # reports wait while it is dead: it has work the moment it has partitions
            waiting = _send(kafka_bootstrap, namespace, site, 100 * kill, 10)
            instances.start(f"router-{kill}", "router")
            seconds = _until(
                "routing again",
                lambda w=waiting: bool(assignments.case_ids() & w),
                60,
                instances,
            )
            figures.append(seconds)
            print(f"\nrouter SIGKILLed and restarted: routing again after {seconds:.2f} s")
            wait_for("the waiting cases dispatched", lambda w=waiting: assignments.case_ids() >= w)
        assert max(figures) < RESTART_BOUND_S, figures
        log = (tmp_path / "router-2.log").read_text(errors="replace")
        assert f'"instance_id": "{namespace}.router-' in log
    finally:
        assignments.close()
        codes = instances.stop_all()
    assert codes["router-2"] == 0 and codes["intake"] == 0, codes


# --- an escalator killed in the middle of a tick ----------------------------------------

CASES = 700
"""Enough cases for more deadlines than one tick round takes (1000)."""


def test_an_escalator_killed_in_the_middle_of_a_tick_finishes_it_on_restart(
    kafka_bootstrap: str, database_url: str, namespace: str, site: Site, tmp_path: Path
) -> None:
    env = _env(namespace, kafka_bootstrap, database_url, GRIDFLOW_CLOCK="ticks")
    instances = Instances(tmp_path, env)
    engine = create_engine(database_url)
    lapses = Reader(kafka_bootstrap, [Names(namespace).topic(DEADLINES.name)])

    def deadlines() -> tuple[int, int]:
        """(cases, deadlines) armed; (0, 0) until the escalator has made its table."""
        try:
            with engine.connect() as conn:
                cases, rows = conn.execute(
                    text("SELECT count(DISTINCT case_id), count(*) FROM escalator_deadlines")
                ).one()
        except ProgrammingError:
            return 0, 0
        return int(cases), int(rows)

    def lapsed() -> set[str]:
        return {str(d["event_id"]) for d in lapses.read() if d["type"] == "deadline.lapsed"}

    lock = engine.connect()
    try:
        for label in ("intake", "router", "escalator-0"):
            instances.start(label, label.split("-")[0])
        _send(kafka_bootstrap, namespace, site, 0, CASES)
        wait_for("every case's deadlines armed", lambda: deadlines()[0] == CASES, 180)
        # the router would answer each lapse with a new assignment and new deadlines
        assert instances.stop("router") == 0
        assert instances.stop("intake") == 0
        _, armed = deadlines()
        assert armed > 1000, f"{armed} deadlines: not enough for a second round"

        # Hold the deadline that comes last in the tick's order: the first round (1000)
        # goes through, the second waits on this row lock, in the middle of the tick.
        held = lock.begin()
        lock.execute(
            text(
                "SELECT 1 FROM escalator_deadlines ORDER BY due_at DESC, case_id DESC, kind DESC "
                "LIMIT 1 FOR UPDATE"
            )
        )
        done = subprocess.run(
            [sys.executable, "-m", "services", "tick", "--advance", "60d"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        wait_for("the first round's lapses", lambda: len(lapsed()) >= 1000, 120)

        def waiting_on_the_lock() -> bool:
            with engine.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock'"
                        )
                    ).scalar_one()
                )

        wait_for("the second round blocked", waiting_on_the_lock, 60)
        assert len(lapsed()) == 1000  # mid-tick: one round out, the rest held up
        _kill(instances, "escalator-0")
        held.rollback()

        instances.start("escalator-1", "escalator")
        seconds = _until("the tick finished", lambda: len(lapsed()) == armed, 120, instances)
        print(
            f"\nescalator killed mid-tick ({armed} deadlines, 1000 out): "
            f"the tick finished {seconds:.2f} s after its restart"
        )
        wait_for("no deadline left", lambda: deadlines()[1] == 0, 60)
        time.sleep(1)
        assert len(lapsed()) == armed  # each deadline lapsed once (by event id)
    finally:
        lock.close()
        lapses.close()
        engine.dispose()
        codes = instances.stop_all()
    assert codes["escalator-1"] == 0, codes


# --- PostgreSQL down --------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, which it may stop and start again."""

    run_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://gridflow:gridflow@127.0.0.1:{self.port}/gridflow"

    def _script(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        ports = {"GRIDFLOW_PG_PORT": str(self.port)}
        return deploy_script("postgres", name, self.run_dir, ports, *args)

    def start(self) -> None:
        done = self._script("start.sh")
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]

    def stop(self, *args: str) -> None:
        done = self._script("stop.sh", *args)
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A cluster under a directory of its own in /tmp, not under pytest's tmp_path: the
    postgres user must traverse every ancestor, and any pytest session that starts
    meanwhile resets ``/tmp/pytest-of-<user>`` to mode 0700."""
    [port] = free_ports(1)
    root = Path(tempfile.mkdtemp(prefix="gridflow-pg-"))
    root.chmod(0o755)
    pg = PrivatePostgres(root / "pgrun", port)
    done = pg._script("start.sh")
    if done.returncode != 0:
        pg.stop("--wipe")
        shutil.rmtree(root, ignore_errors=True)
        _missing(
            f"a private PostgreSQL cluster did not start: {(done.stdout + done.stderr)[-2000:]}"
        )
    try:
        yield pg
    finally:
        pg.stop("--wipe")
        shutil.rmtree(root, ignore_errors=True)


def test_intake_goes_on_without_its_database_and_the_router_resumes_when_it_returns(
    kafka_bootstrap: str,
    postgres_url: str,  # the same requirement as the other tests: PostgreSQL
    private_postgres: PrivatePostgres,
    namespace: str,
    site: Site,
    tmp_path: Path,
) -> None:
    pg = private_postgres
    instances = Instances(tmp_path, _env(namespace, kafka_bootstrap, pg.url))
    assignments = _assignments(kafka_bootstrap, namespace)
    received = Reader(kafka_bootstrap, [Names(namespace).topic(CASES_RECEIVED.name)])
    try:
        instances.start("intake-0", "intake")
        instances.start("router", "router")
        first = _send(kafka_bootstrap, namespace, site, 0, 10)
        wait_for("the first cases dispatched", lambda: assignments.case_ids() >= first, 120)

        pg.stop()
        # intake restarted while the database is down: it starts, and takes reports
        _kill(instances, "intake-0")
        instances.start("intake-1", "intake")
        during = _send(kafka_bootstrap, namespace, site, 100, 10)
        seconds = _until("intake working", lambda: received.case_ids() >= during, 60, instances)
        print(f"\nintake restarted with PostgreSQL down: reports taken after {seconds:.2f} s")
        time.sleep(3)  # the router retries meanwhile, and routes none of them
        assert not assignments.case_ids() & during

        began = time.monotonic()
        pg.start()  # returns once the server accepts logins, and a little more
        started = time.monotonic() - began
        seconds = _until(
            "the router routing again",
            lambda: bool(assignments.case_ids() & during),
            60,
            instances,
        )
        print(
            f"\nPostgreSQL back: the router routing again {started + seconds:.2f} s after "
            f"the server was started, {seconds:.2f} s after start.sh returned ({started:.2f} s)"
        )
        wait_for("every case dispatched", lambda: assignments.case_ids() >= first | during)
        assert started + seconds < RESUME_BOUND_S  # PostgreSQL's own start included
    finally:
        assignments.close()
        received.close()
        codes = instances.stop_all()
    assert codes["router"] == 0 and codes["intake-1"] == 0, codes

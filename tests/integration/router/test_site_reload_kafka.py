"""A catalogue reloaded while the router runs, on real Kafka (issue 9, point 3).

Intake and the router run as their own processes on a copy of the bundled site, each
watching its directory every second. A first case is dispatched on the catalogue
they started with. Then the operator adds a unit (and the category it owns) and
runs ``gridflow site reload``: the unit's topic appears on the broker, both processes
take the new version up without a restart, at their first batch after the change
(their ``gridflow_site_catalogue`` metric says so), and a report of the new
category reaches the new unit on its own topic, its assignment naming the new
catalogue version.

The pipeline runs in a namespace of its own, so it shares the broker with other tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from typer.testing import CliRunner

from schemas.access import channel_topic
from schemas.catalogue import DEFAULT_SITE, Site, load_site
from schemas.reports import Channel
from schemas.topics import ASSIGNMENT_PREFIX, assignment_topic
from services.cli_site import site_app
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI
from tests.unit.services.test_site_watch import add_unit

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
GRID = "zs-xzl-g01"
WAIT_S = 60  # each wait; the whole test takes about half a minute


class Processes:
    """``gridflow run`` processes, each with its log and metrics port."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def start(self, processor: str) -> None:
        [port] = free_ports(1)
        log = (self.logs / f"{processor}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services", "run", processor],
            env=self.env | {"GRIDFLOW_METRICS_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[processor] = (proc, port)

    def check(self) -> None:
        for name, (proc, _) in self.procs.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{tail}")

    def runs_version(self, processor: str, version: str) -> bool:
        """Whether the process's metrics name ``version`` as its catalogue."""
        self.check()
        _, port = self.procs[processor]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read().decode()
        except (urllib.error.URLError, ConnectionError):  # still starting
            return False
        wanted = f'gridflow_site_catalogue{{processor="{processor}",version="{version}"}} 1.0'
        return wanted in body

    def stop_all(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs.values():
            proc.wait(timeout=60)


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, target)
    return target


@pytest.fixture
def namespace(kafka_bootstrap: str, site_dir: Path) -> str:
    ns = f"reload{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, site_topics(load_site(site_dir)), names=Names(ns))
    return ns


@pytest.fixture
def env(kafka_bootstrap: str, database_url: str, namespace: str, site_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GRIDFLOW_NAMESPACE": namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_SITE": str(site_dir),
        "GRIDFLOW_SITE_RELOAD_SECONDS": "1",
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
    }


@pytest.fixture
def processes(tmp_path: Path, env: dict[str, str]) -> Iterator[Processes]:
    group = Processes(tmp_path, env)
    yield group
    group.stop_all()


def _report(bootstrap: str, namespace: str, site: Site, external_id: str, category: str) -> None:
    body = {
        "channel": "hotline_12345",
        "external_id": external_id,
        "reported_at": (datetime.now(SHANGHAI) - timedelta(minutes=1)).isoformat(),
        "category": category,
        "grid_id": GRID,
        "description": "共享单车堆在人行道上。",
    }
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    topic = Names(namespace).topic(channel_topic(site, Channel.HOTLINE_12345).name)
    producer.send(topic, json.dumps(body).encode())
    producer.flush()
    producer.close()


def _dispatched(consumer: KafkaConsumer, seen: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """The case.dispatched records read so far, by external id: (topic, assignment)."""
    for batch in consumer.poll(timeout_ms=500, max_records=500).values():
        for m in batch:
            event = json.loads(m.value)
            if event.get("type") == "case.dispatched":
                payload = event["payload"]
                seen[payload["case"]["external_id"]] = (m.topic, payload["assignment"])


def test_a_unit_added_while_the_router_runs_gets_its_topic_and_its_case(
    kafka_bootstrap: str,
    namespace: str,
    site_dir: Path,
    env: dict[str, str],
    processes: Processes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = load_site(site_dir)
    names = Names(namespace)
    processes.start("intake")
    processes.start("router")
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{namespace}-test-reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    prefix = names.topic(ASSIGNMENT_PREFIX + "x")[:-1]
    consumer.subscribe(pattern=f"^{re.escape(prefix)}.*")
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        _report(kafka_bootstrap, namespace, old, "before", "urban.garbage")
        wait_for(
            "the first case dispatched",
            lambda: _dispatched(consumer, seen) or "before" in seen,
            WAIT_S,
        )
        assert seen["before"][1]["catalogue_version"] == old.version

        add_unit(site_dir)  # the operator's edit: a unit zs.bikes and its category
        new = load_site(site_dir)
        for key in ("GRIDFLOW_NAMESPACE", "GRIDFLOW_KAFKA_BOOTSTRAP", "GRIDFLOW_SITE"):
            monkeypatch.setenv(key, env[key])
        result = CliRunner().invoke(site_app, ["reload"])
        assert result.exit_code == 0, result.output
        assert "2 created" in result.output  # the unit's assignment and command topics
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            assert names.topic(assignment_topic("zs.bikes").name) in admin.list_topics()
        finally:
            admin.close()

        _report(kafka_bootstrap, namespace, new, "after", "urban.shared_bikes")
        wait_for(
            "the new unit's case", lambda: _dispatched(consumer, seen) or "after" in seen, WAIT_S
        )
        topic, assignment = seen["after"]
        assert topic == names.topic(assignment_topic("zs.bikes").name)
        assert assignment["unit_id"] == "zs.bikes"
        assert assignment["catalogue_version"] == new.version != old.version
        assert f"Catalogue {new.version}." in assignment["why"]["text"]
        # each took the new version up at its first batch after the change
        assert processes.runs_version("intake", new.version)
        assert processes.runs_version("router", new.version)
    finally:
        consumer.close()

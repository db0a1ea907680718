"""Kafka down and back (issue 6): intake and the router, as separate OS processes, live
through an outage of their broker and route again once it answers; nothing is lost and
nothing is dispatched twice.

The broker is a private one of the test's own (deploy/kafka/start.sh on free ports and a
run dir of its own), since the shared one must stay up. It is stopped with stop.sh and
started again on the same run dir and ports, so its topics, offsets and groups survive.
PostgreSQL is the shared server. The test prints the time from the broker answering
again to the first new case dispatched; it does not assert a speed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from schemas.catalogue import Site
from schemas.topics import ASSIGNMENT_PREFIX
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.e2e.test_recovery import _env
from tests.infra import _missing, kafka_alive
from tests.integration.services.test_scale_out import Instances, _send
from tests.support.processes import deploy_script, free_ports, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

DOWN_S = 5.0
"""How long the broker stays down: several of the workers' retry pauses (1 s cap)."""
RESUME_WAIT_S = 60.0
"""The bound on waiting for the first case after the return (not a speed figure)."""


@dataclass
class PrivateKafka:
    """A single-node KRaft broker of the test's own, which it may stop and start again."""

    run_dir: Path
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _script(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        ports = {
            "GRIDFLOW_KAFKA_PORT": str(self.port),
            "GRIDFLOW_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "GRIDFLOW_KAFKA_START_TIMEOUT": "120",
        }
        return deploy_script("kafka", name, self.run_dir, ports, *args)

    def start(self) -> None:
        done = self._script("start.sh")
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
        # start.sh reuses any broker that answers on the port: make sure it is ours
        assert "not started from run dir" not in done.stderr, done.stderr[-2000:]

    def stop(self, *args: str) -> None:
        done = self._script("stop.sh", *args)
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]


@pytest.fixture
def private_kafka() -> Iterator[PrivateKafka]:
    """A broker under a directory of its own in /tmp, not under pytest's tmp_path (which a
    pytest session that starts meanwhile may reset; see ``private_postgres``)."""
    port, controller_port = free_ports(2)
    root = Path(tempfile.mkdtemp(prefix="gridflow-kafka-"))
    broker = PrivateKafka(root / "run", port, controller_port)
    done = broker._script("start.sh")
    if done.returncode != 0 or "not started from run dir" in done.stderr:
        broker.stop("--wipe")
        shutil.rmtree(root, ignore_errors=True)
        _missing(f"a private Kafka broker did not start: {(done.stdout + done.stderr)[-2000:]}")
    try:
        yield broker
    finally:
        broker.stop("--wipe")
        shutil.rmtree(root, ignore_errors=True)


class Dispatched:
    """Every assignment of a namespace, read from the beginning under a group of its own."""

    def __init__(self, bootstrap: str, namespace: str) -> None:
        prefix = Names(namespace).topic(ASSIGNMENT_PREFIX + "x")[:-1]
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"outage-reader-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=2000,
        )
        self.consumer.subscribe(pattern=f"^{re.escape(prefix)}.*")
        self.cases: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def read(self) -> set[str]:
        for batch in self.consumer.poll(timeout_ms=200, max_records=5000).values():
            for m in batch:
                doc = json.loads(m.value)
                self.cases[str(doc["case_id"])] += 1
                self.events[str(doc.get("event_id"))] += 1
        return set(self.cases)

    def close(self) -> None:
        self.consumer.close()


def test_intake_and_the_router_live_through_a_kafka_outage_and_resume_when_it_returns(
    private_kafka: PrivateKafka, database_url: str, site: Site, tmp_path: Path
) -> None:
    kafka = private_kafka
    namespace = f"kout{uuid.uuid4().hex[:8]}"
    create_topics(kafka.bootstrap, site_topics(site), names=Names(namespace))
    instances = Instances(tmp_path, _env(namespace, kafka.bootstrap, database_url))
    before = Dispatched(kafka.bootstrap, namespace)
    try:
        instances.start("intake", "intake")
        instances.start("router", "router")
        first = _send(kafka.bootstrap, namespace, site, 0, 20)
        wait_for("the first cases dispatched", lambda: before.read() >= first, 120)
        before.close()

        kafka.stop()  # no --wipe: topics, offsets and groups stay
        down = time.monotonic()
        while time.monotonic() - down < DOWN_S:  # bounded; the processors must not exit
            instances.check()
            time.sleep(0.2)
        for label, (proc, _) in instances.procs.items():
            assert proc.poll() is None, f"{label} exited during the outage"

        began = time.monotonic()
        kafka.start()  # returns once the broker answers a metadata request (its probe)
        answered = time.monotonic()
        print(f"\nbroker restarted: start.sh took {answered - began:.2f} s")
        assert kafka_alive(kafka.bootstrap)[0]
        after = _send(kafka.bootstrap, namespace, site, 100, 20)
        sent = time.monotonic()
        dispatched = Dispatched(kafka.bootstrap, namespace)  # reads everything again
        try:
            deadline = answered + RESUME_WAIT_S
            resumed = None
            while time.monotonic() < deadline:
                instances.check()
                if dispatched.read() & after:
                    resumed = time.monotonic()
                    break
                time.sleep(0.05)
            assert resumed is not None, f"no new case dispatched within {RESUME_WAIT_S:.0f} s"
            print(
                f"Kafka back: the first new case dispatched {resumed - answered:.2f} s after "
                f"the broker answered again ({resumed - sent:.2f} s after the reports were "
                f"sent, {resumed - began:.2f} s after start.sh was run)"
            )
            wait_for("every case dispatched", lambda: dispatched.read() >= first | after, 120)
            time.sleep(3)  # a duplicate, if any, would have arrived by now
            dispatched.read()
            assert set(dispatched.cases) == first | after, "a case that was not sent"
            twice = {c: n for c, n in dispatched.cases.items() if n != 1}
            assert not twice, f"dispatched more than once: {twice}"
        finally:
            dispatched.close()
        for label, (proc, _) in instances.procs.items():
            assert proc.poll() is None, f"{label} exited"
    finally:
        codes = instances.stop_all()
    assert codes == {"intake": 0, "router": 0}, codes

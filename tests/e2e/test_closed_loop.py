"""The closed loop end to end: the five processors as OS processes on real Kafka and
PostgreSQL, cases reported on the hotline's topic and worked by their senders'
commands on their own command topics, each command answered on the sender's view.

Case A goes the whole loop, is rated unsatisfied (不满意) and reopened to the same unit,
handled again and closed satisfied; case B's holder reports it handled before
accepting it (refused, with the reason, to the unit), then it fails its on-site check
(核查不通过, a second kind of reopening) and closes basically satisfied. The archive then
holds both closed, with their reopenings, and the follow-up call's answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import create_engine, text

from intake.core import case_id_for
from schemas.access import channel_topic
from schemas.cases import FollowUpPayload, RatedPayload, StepPayload, VerifiedPayload
from schemas.catalogue import Site
from schemas.codec import encode
from schemas.commands import (
    AcceptCase,
    Command,
    FollowUpCase,
    RateCase,
    ReportHandled,
    VerifyCase,
)
from schemas.reports import Channel
from schemas.topics import command_topic
from services.processors import PROCESSORS
from services.runtime.local import LocalCluster
from services.runtime.names import Names
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
UNIT, VERIFIER, CHANNEL = "zs.urban", "zs.verify", "channel.hotline-12345"


class Loop:
    """Sends commands as their senders and waits for each one's answer."""

    def __init__(self, cluster: LocalCluster, bootstrap: str, names: Names) -> None:
        self.cluster, self.names = cluster, names
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.views = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"{names.namespace}.e2e-views",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=1000,
        )
        self.views.subscribe(pattern=f"^{names.namespace}[.](assignments|replies)[.].*")
        self.seen: list[dict[str, Any]] = []
        self.n = 0

    def read(self) -> list[dict[str, Any]]:
        self.cluster.check()
        for batch in self.views.poll(timeout_ms=300, max_records=1000).values():
            self.seen += [json.loads(m.value) for m in batch]
        return self.seen

    def dispatched(self, case_id: str, seq: int) -> dict[str, Any]:
        def found() -> list[dict[str, Any]]:
            return [
                m
                for m in self.read()
                if m["type"] == "case.dispatched"
                and m["case_id"] == case_id
                and m["payload"]["assignment"]["seq"] == seq
            ]

        wait_for(f"{case_id} dispatched (seq {seq})", lambda: bool(found()), timeout=120)
        return found()[0]["payload"]["assignment"]

    def send(self, sender: str, kind: type[Command], case_id: str, payload: Any) -> str:
        """``kind`` on ``sender``'s command topic; the type of its answer."""
        self.n += 1
        command = kind(
            event_id=str(uuid.uuid4()),
            type=kind.TYPE,
            case_id=case_id,
            occurred_at=payload.at,
            producer=sender,
            correlation_id=case_id,
            payload=payload,
        )
        topic = self.names.topic(command_topic(sender).name)
        self.producer.send(topic, key=case_id.encode(), value=encode(command))
        self.producer.flush()

        def answer() -> list[dict[str, Any]]:
            return [
                m
                for m in self.read()
                if m["type"] in ("command.acknowledged", "command.refused")
                and m["payload"]["command_id"] == command.event_id
            ]

        wait_for(f"the answer to {kind.TYPE} on {case_id}", lambda: bool(answer()), timeout=120)
        (reply,) = answer()
        assert reply["payload"]["sender"] == sender
        self.last = reply
        return str(reply["type"])


def _report(external: str) -> bytes:
    report = json.loads((ROOT / "docs/examples/report.json").read_text(encoding="utf-8"))
    report["external_id"] = external
    report["reported_at"] = (datetime.now(SHANGHAI) - timedelta(minutes=3)).isoformat()
    return json.dumps(report, ensure_ascii=False).encode()


def test_cases_walk_the_closed_loop(
    kafka_bootstrap: str, database_url: str, site: Site, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    names = Names(f"loop{tag}")
    env = {
        **os.environ,
        "GRIDFLOW_NAMESPACE": names.namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_CLOCK": "ticks",  # no deadline lapses while the test works
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
    }
    cluster = LocalCluster(tmp_path, env, dict(zip(PROCESSORS, free_ports(5), strict=True)))
    created = subprocess.run(
        [sys.executable, "-m", "services", "topics", "create"],
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert created.returncode == 0, created.stderr.decode()[-2000:]
    cluster.start()
    try:
        _walk(cluster, kafka_bootstrap, names, site, tag, database_url)
    finally:
        codes = cluster.stop()
    assert codes == dict.fromkeys(PROCESSORS, 0), codes


def _walk(
    cluster: LocalCluster, bootstrap: str, names: Names, site: Site, tag: str, db: str
) -> None:
    loop = Loop(cluster, bootstrap, names)
    a, b = (case_id_for("hotline_12345", f"{tag}-{x}") for x in "ab")
    topic = names.topic(channel_topic(site, Channel.HOTLINE_12345).name)
    for x in "ab":
        loop.producer.send(topic, value=_report(f"{tag}-{x}"))
    loop.producer.flush()
    assert loop.dispatched(a, 1)["unit_id"] == UNIT
    assert loop.dispatched(b, 1)["unit_id"] == UNIT
    now = datetime.now(SHANGHAI)

    def step(seq: int) -> StepPayload:
        return StepPayload(unit_id=UNIT, seq=seq, at=now)

    def check(seq: int, passed: bool = True) -> VerifiedPayload:
        return VerifiedPayload(unit_id=UNIT, seq=seq, at=now, passed=passed)

    ok = "command.acknowledged"
    # case A: the loop, an unsatisfied rating, the rework, a satisfied one
    assert loop.send(UNIT, AcceptCase, a, step(1)) == ok
    assert loop.send(UNIT, ReportHandled, a, step(1)) == ok
    assert loop.send(VERIFIER, VerifyCase, a, check(1)) == ok
    answers = FollowUpPayload(at=now, reached=True, responded=True, resolved=False)
    assert loop.send(CHANNEL, FollowUpCase, a, answers) == ok
    assert loop.send(CHANNEL, RateCase, a, RatedPayload(at=now, rating=1)) == ok
    rework = loop.dispatched(a, 2)
    assert (rework["unit_id"], rework["reason"]) == (UNIT, "rework")
    reopened = [m for m in loop.read() if m["type"] == "case.reopened" and m["case_id"] == a]
    assert [m["payload"]["cause"] for m in reopened] == ["unsatisfied"]
    assert loop.send(UNIT, ReportHandled, a, step(2)) == ok
    assert loop.send(VERIFIER, VerifyCase, a, check(2)) == ok
    assert loop.send(CHANNEL, RateCase, a, RatedPayload(at=now, rating=5)) == ok

    # case B: a step out of turn is refused to its sender, with the reason
    assert loop.send(UNIT, ReportHandled, b, step(1)) == "command.refused"
    refused = loop.last["payload"]
    assert refused["reason"] == "conflict"
    assert "is assigned" in refused["message"] and "it must be accepted" in refused["message"]
    assert loop.send(UNIT, AcceptCase, b, step(1)) == ok
    assert loop.send(UNIT, ReportHandled, b, step(1)) == ok
    assert loop.send(VERIFIER, VerifyCase, b, check(1, passed=False)) == ok
    assert loop.dispatched(b, 2)["reason"] == "rework"
    assert loop.send(UNIT, ReportHandled, b, step(2)) == ok
    assert loop.send(VERIFIER, VerifyCase, b, check(2)) == ok
    assert loop.send(CHANNEL, RateCase, b, RatedPayload(at=now, rating=3)) == ok

    engine = create_engine(db)
    query = text(
        "SELECT case_id, stage, reopenings, rating, responded, resolved, external_id "
        "FROM archive_cases WHERE case_id IN (:a, :b) ORDER BY case_id"
    )

    def rows() -> list[tuple[Any, ...]]:
        cluster.check()
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query, {"a": a, "b": b})]

    wait_for("both closed in the archive", lambda: [r[1] for r in rows()] == ["closed"] * 2)
    by_id = {r[0]: r for r in rows()}
    assert by_id[a][1:] == ("closed", 1, 5, True, False, f"{tag}-a")
    assert by_id[b][1:] == ("closed", 1, 3, None, None, f"{tag}-b")
    engine.dispose()

"""The closed loop with everyone authenticated: five processes and the people, each its
own Kafka principal on the SASL/SCRAM broker with the ACLs ``gridflow acl apply`` made.

A hotline channel reports; the holding unit reads its case, with its clocks' due
times, from its own topic and works it through its own command topic; the street's
verifier checks it from its reply topic; the unit tries to rate its own work and is
refused, on its own topic; the hotline rates it, and the case closes. Every message
any of them reads, and every message the run wrote on any topic, fits its published
JSON Schema. It runs once on each Kafka client of the processors
(``GRIDFLOW_KAFKA_CLIENT``): both authenticate from the same settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import TopicAuthorizationFailedError
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from intake.core import case_id_for
from schemas.access import grants, view_topic
from schemas.catalogue import Site
from schemas.envelope import stable_id
from schemas.topics import REPORT_PREFIX, command_topic, report_topic
from services.acl import ensure_credentials, principals
from services.cli import app
from services.processors import PROCESSORS
from services.runtime.local import LocalCluster
from services.runtime.names import Names
from services.runtime.security import sasl_kwargs
from tests.infra import SaslKafka
from tests.support.clients import CLIENTS, client_env
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "json"
UNIT = "zs.urban"  # urban.garbage in a street grid is the street's urban management's
VERIFIER = "zs.verify"  # the street command room: the nearest verifier of the grid
CHANNEL = "channel.hotline-12345"
HOTLINE_REPORTS = report_topic(CHANNEL).name
GRID = "zs-xzl-g03"


def _validators() -> dict[str, Draft202012Validator]:
    out = {}
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        out[path.name.removesuffix(".schema.json")] = Draft202012Validator(schema)
    return out


VALIDATORS = _validators()


class View:
    """One principal reading its own view topic, every message checked against its schema."""

    def __init__(self, broker: SaslKafka, names: Names, security: dict[str, Any], topic: str):
        self.consumer = KafkaConsumer(
            names.topic(topic),
            bootstrap_servers=broker.bootstrap,
            group_id=names.group(f"{security['sasl_plain_username']}.e2e-{uuid.uuid4().hex[:6]}"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **security,
        )
        self.seen: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        for batch in self.consumer.poll(timeout_ms=500, max_records=500).values():
            for record in batch:
                doc = json.loads(record.value)
                problems = list(VALIDATORS[doc["type"]].iter_errors(doc))
                assert not problems, f"{doc['type']} breaks its schema: {problems[0].message}"
                self.seen.append(doc)
        return self.seen

    def find(self, case_id: str, kind: str, **payload: Any) -> dict[str, Any] | None:
        for doc in self.read():
            fits = all(doc["payload"].get(k) == v for k, v in payload.items())
            if doc["case_id"] == case_id and doc["type"] == kind and fits:
                return doc
        return None

    def wait(self, case_id: str, kind: str, **payload: Any) -> dict[str, Any]:
        wait_for(
            f"{kind} for {case_id} on {self.consumer.subscription()}",
            lambda: self.find(case_id, kind, **payload) is not None,
            timeout=120,
        )
        found = self.find(case_id, kind, **payload)
        assert found is not None
        return found

    def close(self) -> None:
        self.consumer.close()


def _every_message_fits_its_schema(broker: SaslKafka, names: Names) -> None:
    """Every record the run wrote, on every topic of its namespace, read as the admin:
    each fits its published JSON Schema (a raw report the report's, the rest their
    type's)."""
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=f"{names.namespace}.schema-check",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=4000,
        metadata_max_age_ms=1000,
        **broker.admin(),
    )
    consumer.subscribe(pattern=f"^{names.namespace}[.].*")
    kinds: set[str] = set()
    try:
        for record in consumer:  # until 4 s pass with nothing new: bounded by the run
            doc = json.loads(record.value)
            raw = record.topic.startswith(names.topic(REPORT_PREFIX))
            kind = "report.raw" if raw else doc["type"]
            problems = list(VALIDATORS[kind].iter_errors(doc))
            assert not problems, f"{kind} on {record.topic} breaks its schema: {problems[0]}"
            kinds.add(kind)
    finally:
        consumer.close()
    assert {"report.raw", "case.received", "case.accept", "case.dispatched"} <= kinds
    assert {"case.closed", "command.acknowledged", "command.refused"} <= kinds


class Pipeline(LocalCluster):
    def cli(self, *args: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "services", *args],
            env={**self.env, **env},
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        return done.stdout.decode()


def _until_authorised(broker: SaslKafka, names: Names, passwords: dict[str, str]) -> None:
    """Wait until new credentials and ACLs have reached the broker's metadata: each
    processor's principal connects and sees a topic it reads (bounded, 60 s)."""
    probes = {f"gridflow.{p}": "gridflow.deadletter" for p in PROCESSORS if p != "intake"}
    probes["gridflow.intake"] = HOTLINE_REPORTS
    probes[CHANNEL] = HOTLINE_REPORTS

    def ready() -> bool:
        for principal, topic in probes.items():
            try:
                consumer = KafkaConsumer(
                    bootstrap_servers=broker.bootstrap,
                    request_timeout_ms=5000,
                    **sasl_kwargs(principal, passwords[principal]),
                )
            except Exception:  # not authenticated yet
                return False
            try:
                if not consumer.partitions_for_topic(names.topic(topic)):
                    return False
            finally:
                consumer.close()
        return True

    wait_for("the principals authorised on the SASL broker", ready, timeout=60)


@pytest.fixture(params=CLIENTS)
def kafka_client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def deployment(
    kafka_sasl: SaslKafka, database_url: str, site: Site, tmp_path: Path, kafka_client: str
) -> Iterator[tuple[Pipeline, Names, dict[str, str]]]:
    """A namespace of this run on the SASL broker, its ACLs applied, the five running."""
    names = Names(f"e2ep{uuid.uuid4().hex[:8]}")
    credentials = kafka_sasl.run_dir / "test-principals.yaml"
    admin_env = {
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_sasl.bootstrap,
        "GRIDFLOW_NAMESPACE": names.namespace,
        "GRIDFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "GRIDFLOW_KAFKA_USERNAME": kafka_sasl.admin_user,
        "GRIDFLOW_KAFKA_PASSWORD": kafka_sasl.admin_password,
        "GRIDFLOW_LOG_FORMAT": "console",
    }
    applied = CliRunner().invoke(
        app, ["acl", "apply", "--credentials", str(credentials), "--generate"], env=admin_env
    )
    assert applied.exit_code == 0, applied.output
    passwords, _ = ensure_credentials(
        credentials, principals(grants(site, PROCESSORS)), generate=False
    )
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text("subscribers: []\n", encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRIDFLOW_KAFKA_")},
        **client_env(kafka_client),
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_sasl.bootstrap,
        "GRIDFLOW_NAMESPACE": names.namespace,
        "GRIDFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "GRIDFLOW_KAFKA_CREDENTIALS_FILE": str(credentials),  # each finds its own password
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_SUBSCRIPTIONS": str(subscriptions),
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
        "GRIDFLOW_LOG_LEVEL": "INFO",
    }
    ports = dict(zip(PROCESSORS, free_ports(len(PROCESSORS)), strict=True))
    pipeline = Pipeline(tmp_path, env, ports)
    pipeline.cli(
        "topics",
        "create",
        GRIDFLOW_KAFKA_USERNAME=kafka_sasl.admin_user,
        GRIDFLOW_KAFKA_PASSWORD=kafka_sasl.admin_password,
        GRIDFLOW_KAFKA_CREDENTIALS_FILE="",
    )
    _until_authorised(kafka_sasl, names, passwords)
    pipeline.start()
    try:
        yield pipeline, names, passwords
    finally:
        codes = pipeline.stop()
    assert codes == dict.fromkeys(PROCESSORS, 0), codes


def test_the_loop_closes_with_every_actor_authenticated_and_a_self_rating_refused(
    deployment: tuple[Pipeline, Names, dict[str, str]],
    kafka_sasl: SaslKafka,
    site: Site,
    database_url: str,
) -> None:
    pipeline, names, passwords = deployment

    def security(principal: str) -> dict[str, Any]:
        return sasl_kwargs(principal, passwords[principal])

    def producer(principal: str) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=kafka_sasl.bootstrap, acks="all", **security(principal)
        )

    def view(principal: str) -> View:
        sender = site.sender(principal)
        assert sender is not None
        return View(kafka_sasl, names, security(principal), view_topic(sender).name)

    def command(principal: str, kind: str, case_id: str, payload: dict[str, Any]) -> str:
        event_id = str(uuid.uuid4())
        doc = {
            "event_id": event_id,
            "type": kind,
            "case_id": case_id,
            "occurred_at": datetime.now(SHANGHAI).isoformat(),
            "producer": principal,
            "correlation_id": case_id,
            "payload": payload,
        }
        assert not list(VALIDATORS[kind].iter_errors(doc)), "the test's own command is invalid"
        p = producer(principal)
        p.send(
            names.topic(command_topic(principal).name),
            key=case_id.encode(),
            value=json.dumps(doc).encode(),
        )
        p.flush()
        p.close()
        return event_id

    def at() -> str:
        return datetime.now(SHANGHAI).isoformat()

    unit, verifier, channel = view(UNIT), view(VERIFIER), view(CHANNEL)
    try:
        # The hotline reports, as its own principal.
        external = f"e2ep-{uuid.uuid4().hex[:8]}"
        report = {
            "channel": "hotline_12345",
            "external_id": external,
            "reported_at": (datetime.now(SHANGHAI) - timedelta(minutes=2)).isoformat(),
            "category": "urban.garbage",
            "grid_id": GRID,
            "description": "垃圾桶已满三天。",
            "reporter": {"name": "王女士", "phone": "13812345678"},
        }
        hotline = producer(CHANNEL)
        hotline.send(names.topic(HOTLINE_REPORTS), value=json.dumps(report).encode())
        # On its own topic, a report in the web channel's name: refused, and told so.
        posing = {**report, "channel": "web", "external_id": f"{external}-posing"}
        hotline.send(names.topic(HOTLINE_REPORTS), value=json.dumps(posing).encode())
        hotline.flush()
        # The web channel's topic is not the hotline's to write.
        with pytest.raises(TopicAuthorizationFailedError):
            hotline.send(names.topic(report_topic("channel.web").name), value=b"{}").get(30)
        hotline.close()
        case_id = case_id_for("hotline_12345", external)
        posed = stable_id("report", HOTLINE_REPORTS, "web", posing["external_id"])
        own = case_id_for("hotline_12345", posing["external_id"])  # had it named its own
        told = channel.wait(own, "command.refused", command_id=posed)
        assert told["payload"]["reason"] == "permission"
        assert "names channel web" in told["payload"]["message"]

        # The unit gets it whole, with its clocks, on its own topic.
        dispatched = unit.wait(case_id, "case.dispatched")
        assert dispatched["payload"]["case"]["reporter"]["name"] == "王女士"
        assert {d["kind"] for d in dispatched["payload"]["due"]} == {"accept", "resolve"}
        seq = dispatched["payload"]["assignment"]["seq"]
        step = {"unit_id": UNIT, "seq": seq, "at": at()}

        accepted = command(UNIT, "case.accept", case_id, step)
        unit.wait(case_id, "command.acknowledged", command_id=accepted)
        handled = command(UNIT, "case.report_handled", case_id, {**step, "at": at()})
        unit.wait(case_id, "command.acknowledged", command_id=handled)

        # The nearest verifier is asked to check it, and passes it.
        verifier.wait(case_id, "case.handled")
        verified = command(VERIFIER, "case.verify", case_id, {**step, "at": at(), "passed": True})
        verifier.wait(case_id, "command.acknowledged", command_id=verified)

        # The unit may not rate its own work: refused, and told so on its own topic.
        selfie = command(UNIT, "case.rate", case_id, {"at": at(), "rating": 5})
        refused = unit.wait(case_id, "command.refused", command_id=selfie)
        assert refused["payload"]["reason"] == "permission"
        assert "may not send case.rate" in refused["payload"]["message"]

        # The channel that took the report asks the resident, and passes the rating on.
        channel.wait(case_id, "case.verified")
        rated = command(CHANNEL, "case.rate", case_id, {"at": at(), "rating": 4})
        channel.wait(case_id, "command.acknowledged", command_id=rated)

        engine = create_engine(database_url)

        def closed() -> bool:
            pipeline.check()
            with engine.connect() as conn:
                row = conn.execute(
                    text("SELECT stage, rating FROM archive_cases WHERE case_id = :c"),
                    {"c": case_id},
                ).one_or_none()
            return row is not None and tuple(row) == ("closed", 4)

        wait_for("the case closed in the archive, rated 4", closed, timeout=120)
        engine.dispose()
        _every_message_fits_its_schema(kafka_sasl, names)
        # Nothing of the resident's reached the verifier's or the channel's view.
        for other in (verifier, channel):
            assert "王女士" not in json.dumps(other.seen, ensure_ascii=False)
    finally:
        for v in (unit, verifier, channel):
            v.close()

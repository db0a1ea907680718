"""Kafka ACLs from the registry, on the real SASL/SCRAM broker with the StandardAuthorizer.

``gridflow acl apply`` provisions a namespace of its own on the broker that
``deploy/kafka/start.sh --sasl`` starts; then real kafka-python clients, each
authenticated as one principal, do what the grants allow and are refused the
rest: a unit reads its own assignment topic and writes its own command topic,
and neither reads nor writes another unit's, nor the shared case events; a
processor writes only where the catalogue lets it.

The namespace is unique to the run and its ACLs and topics are removed after,
so runs never see each other. Principals are shared by every namespace on the
broker (an identity, not a deployment), so their passwords are kept in one file
in the broker's run dir, which every run reuses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)
from typer.testing import CliRunner

from schemas.access import grants
from schemas.catalogue import Site
from schemas.codec import reject
from schemas.deadletter import RejectionReason
from schemas.topics import (
    CASE_EVENTS,
    DEADLETTER,
    TOPIC_CONFIG,
    Emit,
    Record,
    Topic,
    assignment_topic,
    command_topic,
)
from services.acl import admin_client, apply, bindings, ensure_credentials, principals, revoke
from services.cli import app
from services.processors import PROCESSORS
from services.runtime.clients import make_sink, make_source
from services.runtime.names import Names
from services.runtime.security import sasl_kwargs
from services.settings import KafkaClient
from tests.infra import SaslKafka
from tests.support.sites import SHANGHAI

pytestmark = pytest.mark.kafka

UNIT_A = "zs.urban"
UNIT_B = "nb.water"
TIMEOUT_S = 15.0
CLIENT_TIMEOUTS = {"request_timeout_ms": 10_000, "bootstrap_timeout_ms": 10_000}


@dataclass(frozen=True)
class Deployment:
    broker: SaslKafka
    names: Names
    passwords: dict[str, str]

    def topic(self, t: Topic) -> str:
        return self.names.topic(t.name)

    def security(self, principal: str) -> dict[str, Any]:
        return sasl_kwargs(principal, self.passwords[principal])


def _wait_for_leaders(admin: KafkaAdminClient, topics: list[str]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        described = admin.describe_topics(topics)
        if all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["leader_id"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        assert time.monotonic() < deadline, f"no leaders for {topics} within {TIMEOUT_S}s"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def deployment(kafka_sasl: SaslKafka, site: Site) -> Iterator[Deployment]:
    """A namespace of this run, provisioned with ``gridflow acl apply`` as the admin."""
    assert {UNIT_A, UNIT_B} <= {u.id for u in site.units}
    names = Names(f"acl{uuid.uuid4().hex[:10]}")
    credentials = kafka_sasl.run_dir / "test-principals.yaml"
    result = CliRunner().invoke(
        app,
        ["acl", "apply", "--credentials", str(credentials), "--generate"],
        env={
            "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_sasl.bootstrap,
            "GRIDFLOW_NAMESPACE": names.namespace,
            "GRIDFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "GRIDFLOW_KAFKA_USERNAME": kafka_sasl.admin_user,
            "GRIDFLOW_KAFKA_PASSWORD": kafka_sasl.admin_password,
            "GRIDFLOW_KAFKA_PASSWORD_FILE": None,  # unset
            "GRIDFLOW_SITE": None,
            "GRIDFLOW_LOG_FORMAT": "console",
        },
    )
    assert result.exit_code == 0, result.output
    assert "ACLs:" in result.output
    passwords, _ = ensure_credentials(
        credentials, principals(grants(site, PROCESSORS)), generate=False
    )
    topics = [assignment_topic(UNIT_A), assignment_topic(UNIT_B)]
    topics += [command_topic(UNIT_A), command_topic(UNIT_B), CASE_EVENTS, DEADLETTER]
    admin = admin_client(kafka_sasl.bootstrap, kafka_sasl.admin(), client_id="gridflow-acl-test")
    physical = [names.topic(t.name) for t in topics]
    try:
        admin.create_topics(
            [
                NewTopic(names.topic(t.name), t.partitions, 1, topic_configs=dict(TOPIC_CONFIG))
                for t in topics
            ],
            timeout_ms=30_000,
        )
        _wait_for_leaders(admin, physical)
        yield Deployment(kafka_sasl, names, passwords)
    finally:
        revoke(admin, names)
        admin.delete_topics(physical, timeout_ms=30_000)
        admin.close()


@pytest.fixture
def clients() -> Iterator[Callable[..., Any]]:
    """Make kafka-python clients; every one made is closed after the test."""
    made: list[Any] = []

    def make(kind: type, d: Deployment, principal: str, **config: Any) -> Any:
        client = kind(
            bootstrap_servers=[d.broker.bootstrap],
            client_id=f"acl-test-{principal}",
            **CLIENT_TIMEOUTS,
            **d.security(principal),
            **config,
        )
        made.append(client)
        return client

    yield make
    for c in made:
        c.close(timeout=2) if isinstance(c, KafkaProducer) else c.close()


def _produce(make: Callable[..., Any], d: Deployment, principal: str, topic: str) -> Any:
    """Send one record as ``principal``, configured as the runtime's sink is: idempotent,
    which needs IDEMPOTENT_WRITE on the cluster, implied by WRITE on a topic (KIP-679)."""
    producer = make(
        KafkaProducer, d, principal, acks="all", enable_idempotence=True, max_block_ms=10_000
    )
    key = f"KT-{uuid.uuid4().hex[:8]}".encode()
    return producer.send(topic, key=key, value=b'{"test": true}').get(timeout=TIMEOUT_S)


def _read(
    make: Callable[..., Any],
    d: Deployment,
    principal: str,
    topic: str,
    group: str,
    timeout_s: float = TIMEOUT_S,
) -> list:
    """Poll ``topic`` in consumer group ``group`` until a record comes or time is up."""
    consumer = make(KafkaConsumer, d, principal, group_id=group, auto_offset_reset="earliest")
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=500)
        if batch:
            return [r for records in batch.values() for r in records]
    return []


def _group(d: Deployment, principal: str) -> str:
    """A consumer group the principal may use: ``<namespace>.<its id>.<any>``."""
    return d.names.group(f"{principal}.{uuid.uuid4().hex[:6]}")


def test_apply_again_changes_nothing(deployment: Deployment, site: Site) -> None:
    admin = admin_client(deployment.broker.bootstrap, deployment.broker.admin())
    try:
        again = apply(admin, site, PROCESSORS, deployment.names, deployment.passwords)
    finally:
        admin.close()
    assert again.acls_created == []
    assert again.acls_present == bindings(grants(site, PROCESSORS), deployment.names)
    assert again.credentials_created == []
    assert len(again.credentials_updated) == len(deployment.passwords)


def test_unit_reads_its_assignments_and_writes_its_commands(
    deployment: Deployment, clients: Callable[..., Any]
) -> None:
    d = deployment
    mine = d.topic(assignment_topic(UNIT_A))
    # the router writes the unit's topic (every assignment topic, by prefix)
    sent = _produce(clients, d, "gridflow.router", mine)
    got = _read(clients, d, UNIT_A, mine, _group(d, UNIT_A))
    assert [(r.partition, r.offset) for r in got][:1] == [(sent.partition, sent.offset)]
    assert _produce(clients, d, UNIT_A, d.topic(command_topic(UNIT_A))).offset >= 0


@pytest.mark.parametrize(
    "topic",
    [assignment_topic(UNIT_B), CASE_EVENTS],
    ids=["other unit's assignments", "cases.events"],
)
def test_unit_cannot_read_what_is_not_its_own(
    deployment: Deployment, clients: Callable[..., Any], topic: Topic
) -> None:
    """The broker refuses the unit the topic's metadata, so it never fetches a record.

    kafka-python raises a subscription's TopicAuthorizationFailedError in its
    background metadata refresh, not to the caller: the refusal is seen on the
    offsets request, and the subscription is seen to yield nothing although the
    topic holds a record.
    """
    d = deployment
    name = d.topic(topic)
    _produce(clients, d, "gridflow.router", name)  # the router writes both
    consumer = clients(KafkaConsumer, d, UNIT_A, group_id=None)
    with pytest.raises(TopicAuthorizationFailedError):
        consumer.end_offsets([TopicPartition(name, 0)])
    assert _read(clients, d, UNIT_A, name, _group(d, UNIT_A), timeout_s=2.0) == []


@pytest.mark.parametrize(
    "topic",
    [command_topic(UNIT_B), assignment_topic(UNIT_A), CASE_EVENTS],
    ids=["other unit's commands", "own assignments", "cases.events"],
)
def test_unit_cannot_write_what_is_not_its_command_topic(
    deployment: Deployment, clients: Callable[..., Any], topic: Topic
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        _produce(clients, deployment, UNIT_A, deployment.topic(topic))


def test_unit_cannot_use_a_processors_consumer_group(
    deployment: Deployment, clients: Callable[..., Any]
) -> None:
    d = deployment
    with pytest.raises(GroupAuthorizationFailedError):
        _read(clients, d, UNIT_A, d.topic(assignment_topic(UNIT_A)), d.names.group("router"))


def test_only_the_router_writes_case_events(
    deployment: Deployment, clients: Callable[..., Any]
) -> None:
    d = deployment
    events = d.topic(CASE_EVENTS)
    assert _produce(clients, d, "gridflow.router", events).offset >= 0
    for processor in ("notifier", "escalator", "intake", "archive"):
        with pytest.raises(TopicAuthorizationFailedError):
            _produce(clients, d, f"gridflow.{processor}", events)


def test_a_wrong_password_is_refused(deployment: Deployment) -> None:
    """The broker drops a client whose SCRAM proof fails; kafka-python sees only that it
    cannot bootstrap, so the same client with the right password is the control."""

    def connect(password: str) -> None:
        producer = KafkaProducer(
            bootstrap_servers=[deployment.broker.bootstrap],
            **sasl_kwargs(UNIT_A, password),
            request_timeout_ms=2_000,
            bootstrap_timeout_ms=2_000,
        )
        producer.close(timeout=1)

    connect(deployment.passwords[UNIT_A])
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        connect("not-" + deployment.passwords[UNIT_A])


@pytest.mark.parametrize("client", list(KafkaClient), ids=str)
def test_the_runtime_runs_each_processor_as_its_principal(
    deployment: Deployment, client: KafkaClient
) -> None:
    """The worker's Kafka source and sink on either client, given a processor's security:
    the router's sink writes dead letters, the archive's source reads them in the
    archive's group."""
    d = deployment
    now = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)
    case_ids = [f"KT-{uuid.uuid4().hex[:8].upper()}-{i}" for i in range(3)]
    letters = [
        Emit(
            DEADLETTER.name,
            c,
            reject(
                Record(topic="gridflow.test.input", value=b"<x>", timestamp=now),
                processor="acl-test",
                reason=RejectionReason.NOT_JSON,
                message="test letter",
                now=now,
                case_id=c,
            ),
        )
        for c in case_ids
    ]
    security = d.security("gridflow.router")
    sink = make_sink(client, d.broker.bootstrap, "acl-test-sink", d.names, security)
    try:
        sink.send(letters)
        sink.flush()
    finally:
        sink.close()
    source = make_source(
        client,
        d.broker.bootstrap,
        d.names.group("archive"),
        [DEADLETTER.name],
        max_records=100,
        poll_timeout_ms=300,
        client_id="acl-test-source",
        tz=SHANGHAI,
        names=d.names,
        security=d.security("gridflow.archive"),
    )
    try:
        seen: set[bytes] = set()
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and len(seen) < len(case_ids):
            seen |= {r.key or b"" for r in source.poll()}
        assert {c.encode() for c in case_ids} <= seen
    finally:
        source.close()

"""The notifier's sender as its own OS process (``gridflow notify send``), on real
PostgreSQL and Kafka, killed with SIGKILL in mid-delivery: nothing is lost, and the
repeats carry the same idempotency key.

The receiver holds every request 2 s before it answers, so the sender is killed with
deliveries in flight. Those stay claimed until their lease (5 s) runs out; the
restarted sender claims them again and delivers them, as attempt 2 under the same
``Idempotency-Key``. The rest are delivered once. Each delivery's outcome is recorded
in the outbox and published on the namespace's ``gridflow.notifications``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from notifier.core import Notifier
from notifier.ports import OutboxStatus
from notifier.sql import SqlContacts, SqlOutbox
from notifier.subscriptions import load_subscriptions
from schemas.catalogue import Site
from schemas.processing import Inbound
from services.runtime.names import Names
from services.storage.migrate import upgrade
from services.topics import create_topics, site_topics
from storage.db import Transaction, make_engine
from tests.support.receivers import Receiver, serve
from tests.unit.notifier.factories import assigned

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

DELIVERIES = 12
SUBSCRIPTIONS = """
subscribers:
  - {id: ops, url: "${RECEIVER}", events: [case.assigned]}
unit_webhooks: {enabled: false}
delivery:
  retry: {first_seconds: 0.5, factor: 1.5, max_delay_seconds: 2, max_attempts: 20}
  rate: {per_minute: 10000, concurrent: 4}
  timeout_seconds: 2.5
"""


def _until(
    what: str, check: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes]
) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert proc.poll() is None, f"the sender exited with {proc.returncode}"
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not {what} within {timeout:.0f}s")


def test_a_sender_killed_mid_delivery_loses_nothing(
    kafka_bootstrap: str, database_url: str, site: Site, tmp_path: Path
) -> None:
    namespace = f"notify{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, site_topics(site), names=Names(namespace))
    subs_file = tmp_path / "subscriptions.yaml"
    subs_file.write_text(SUBSCRIPTIONS, encoding="utf-8")
    engine = make_engine(database_url)
    upgrade(engine)
    with serve(Receiver(delay_s=2.0)) as hooks:
        subs = load_subscriptions(subs_file, site, env={"RECEIVER": hooks.url})
        # the notifier's batch queues them, as `gridflow run notifier` would
        tx = Transaction(engine)
        events = [
            assigned().model_copy(update={"event_id": f"00000000-0000-4000-8000-{n:012d}"})
            for n in range(DELIVERIES)
        ]
        with tx.begin():
            Notifier(subs, site, SqlOutbox(tx), SqlContacts(tx)).handle(
                [Inbound(e, datetime.now(UTC)) for e in events]
            )
            keys = {r.entry.key for r in SqlOutbox(tx).rows(limit=100)}
        assert len(keys) == DELIVERIES

        env = {
            **os.environ,
            "GRIDFLOW_DATABASE_URL": database_url,
            "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "GRIDFLOW_NAMESPACE": namespace,
            "GRIDFLOW_SUBSCRIPTIONS": str(subs_file),
            "GRIDFLOW_NOTIFY_CONCURRENCY": "4",
            "GRIDFLOW_NOTIFY_LEASE_SECONDS": "5",
            "GRIDFLOW_NOTIFY_IDLE_SECONDS": "0.2",
            "RECEIVER": hooks.url,
        }
        command = [sys.executable, "-m", "services", "notify", "send"]
        logs = [(tmp_path / f"sender-{i}.log").open("wb") for i in range(2)]
        first = subprocess.Popen(command, env=env, stdout=logs[0], stderr=subprocess.STDOUT)
        try:
            _until("deliveries in flight", lambda: len(hooks.seen()) >= 4, 60, first)
            in_flight = set(hooks.seen())
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        with tx.begin():
            held = {r.entry.key: r for r in SqlOutbox(tx).rows(limit=100)}
        assert all(held[k].status is OutboxStatus.PENDING for k in in_flight)

        second = subprocess.Popen(command, env=env, stdout=logs[1], stderr=subprocess.STDOUT)
        try:

            def all_delivered() -> bool:
                with tx.begin():
                    done = SqlOutbox(tx).rows(OutboxStatus.DELIVERED, limit=100)
                return len(done) == DELIVERIES

            took = _until("every delivery recorded", all_delivered, 90, second)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
            for log in logs:
                log.close()
        seen = hooks.seen()
        print(
            f"\nkilled with {len(in_flight)} in flight; all {DELIVERIES} delivered "
            f"{took:.1f}s after the restart; repeats: {sorted(seen[k] for k in seen)}"
        )
        # nothing lost: every key reached the receiver, and was answered 2xx
        assert set(seen) == keys
        assert set(hooks.delivered()) == keys
        # the repeats are exactly the deliveries in flight at the kill, under their key
        assert {k for k, n in seen.items() if n > 1} == in_flight
        assert all(seen[k] == 2 for k in in_flight)
        for key in in_flight:
            assert [h.attempt for h in hooks.hits if h.key == key] == ["1", "2"]
        with tx.begin():
            rows = {r.entry.key: r for r in SqlOutbox(tx).rows(limit=100)}
        assert {k for k, r in rows.items() if r.attempts == 2} == in_flight
        assert all(r.attempts == 1 for k, r in rows.items() if k not in in_flight)
    # the outcomes were published on the namespace's notifications topic, one per key
    consumer = KafkaConsumer(
        Names(namespace).topic("gridflow.notifications"),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        group_id=f"notify-reader-{uuid.uuid4().hex[:8]}",
    )
    try:
        records = [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()
    delivered = {
        r["payload"]["notification_id"] for r in records if r["payload"]["status"] == "delivered"
    }
    assert delivered == keys
    engine.dispose()

"""The five processors as OS processes on real Kafka and PostgreSQL: each answers
/healthz and /readyz, each one's /metrics passes ``promtool check metrics``, and the
counters move as messages flow (records read, dead letters, the report-to-assignment
histogram, the archive's batch sizes, the router's state gauges).

The pipeline runs in a namespace of its own, so it shares the broker with other tests.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from schemas.access import channel_topic
from schemas.catalogue import Site
from schemas.reports import Channel, Tier
from services.demo.receiver import Receiver
from services.processors import PROCESSORS
from services.runtime.local import LocalCluster
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI
from tests.support.tools import need_tool, promtool

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
GOOD = 20
BAD = 3


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:  # not listening yet
        return 0, ""


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(port, "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(body)
        for s in f.samples
    }


def total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **want: str
) -> float:
    return sum(
        v
        for (n, labels), v in samples.items()
        if n == name and all(dict(labels).get(k) == x for k, x in want.items())
    )


@pytest.fixture
def cluster(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, site: Site
) -> Iterator[tuple[LocalCluster, dict[str, int], str]]:
    need_tool("promtool")
    receiver = Receiver().__enter__()  # the subscriber the notifier delivers to
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(
        f"subscribers:\n  - id: metrics\n    url: {receiver.url}/hook\n"
        "    events: [case.assigned]\n",
        encoding="utf-8",
    )
    namespace = f"metrics{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, site_topics(site), names=Names(namespace))
    env = {
        **os.environ,
        "GRIDFLOW_NAMESPACE": namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
        "GRIDFLOW_STATE_METRICS_SECONDS": "1",
        "GRIDFLOW_SUBSCRIPTIONS": str(subscriptions),
    }
    ports = dict(zip(PROCESSORS, free_ports(len(PROCESSORS)), strict=True))
    processes = LocalCluster(tmp_path, env, ports)
    processes.start()
    try:
        yield processes, ports, namespace
    finally:
        codes = processes.stop()
        receiver.__exit__(None, None, None)
    assert codes == dict.fromkeys(PROCESSORS, 0), codes


def send(bootstrap: str, namespace: str, site: Site) -> None:
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    # one assignment a case: co-handled categories (协办 copies) are tested apart
    categories = sorted(c.code for c in site.categories if not c.co_handlers)
    now = datetime.now(SHANGHAI) - timedelta(minutes=1)
    topic = Names(namespace).topic(channel_topic(site, Channel.HOTLINE_12345).name)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for i in range(GOOD):
        body = {
            "channel": "hotline_12345",
            "external_id": f"{namespace}-{i:03d}",
            "reported_at": now.isoformat(),
            "category": categories[i % len(categories)],
            "grid_id": grids[(i * 7) % len(grids)],
            "description": "路灯不亮。",
        }
        producer.send(topic, json.dumps(body, ensure_ascii=False).encode())
    for i in range(BAD):
        producer.send(topic, f"not json {i}".encode())
    producer.flush()
    producer.close()


def test_each_process_serves_health_and_metrics_that_move(
    cluster: tuple[LocalCluster, dict[str, int], str], kafka_bootstrap: str, site: Site
) -> None:
    processes, ports, namespace = cluster

    def all_ready() -> bool:
        processes.check()
        return all(get(port, "/readyz")[0] == 200 for port in ports.values())

    wait_for("every processor ready", all_ready, timeout=120)
    before = {name: scrape(port) for name, port in ports.items()}
    for name, port in ports.items():
        assert get(port, "/healthz") == (200, "ok\n"), name
        assert total(before[name], "gridflow_build_info") == 1, name
        assert total(before[name], "process_resident_memory_bytes") > 0, name
        assert total(before[name], "gridflow_ready", processor=name) == 1, name

    send(kafka_bootstrap, namespace, site)

    def moved() -> bool:
        processes.check()
        router = scrape(ports["router"])
        return (
            total(router, "gridflow_report_to_assignment_seconds_count") == GOOD
            and total(scrape(ports["archive"]), "gridflow_records_consumed_total") >= 2 * GOOD + BAD
            and total(router, "gridflow_cases_open") == GOOD
        )

    wait_for("the counters to move", moved, timeout=90)
    after = {name: scrape(port) for name, port in ports.items()}
    for name in PROCESSORS:
        consumed = "gridflow_records_consumed_total"
        assert total(after[name], consumed) > total(before[name], consumed), name
    assert total(after["intake"], "gridflow_dead_letters_total", reason="not_json") == BAD
    assert total(after["intake"], "gridflow_messages_produced_total", type="case.received") == GOOD
    router = after["router"]
    assert total(router, "gridflow_assignments_total", reason="initial") == GOOD
    assert total(router, "gridflow_report_to_assignment_seconds_bucket", le="+Inf") == GOOD
    assert total(router, "gridflow_report_to_assignment_seconds_sum") < GOOD * 60
    assert total(router, "gridflow_cases_open", stage="assigned") == GOOD
    assert total(after["archive"], "gridflow_batch_records_count", processor="archive") >= 1
    wait_for(  # the notifier's sender delivered one webhook a case, and counted it
        "the deliveries counted",
        lambda: (
            total(
                scrape(ports["notifier"]),
                "gridflow_notification_deliveries_total",
                channel="webhook",
                outcome="delivered",
            )
            == GOOD
        ),
        timeout=30,
    )
    wait_for(
        "the escalator's state gauges",
        lambda: total(scrape(ports["escalator"]), "gridflow_deadlines_open") >= GOOD,
        timeout=30,
    )
    # promtool lints each process's exposition, with the series the flow created
    for name, port in ports.items():
        _, body = get(port, "/metrics")
        promtool("check", "metrics", stdin=body)
        assert get(port, "/readyz") == (200, "ready\n"), name

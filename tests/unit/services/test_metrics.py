"""The metrics a run exports: named by Prometheus' conventions, with bounded labels and
no case id, and moving with the domain's facts (assignments, escalations, warnings,
lapses, the time from a report to its assignment, the state of the stores).

The embedded pipeline runs the real processors over in-memory topics and SQLite,
so what is counted is what the Kafka runtime counts: the same batch runner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from schemas.catalogue import Site
from schemas.reports import Tier
from services.metrics import Metrics, build_info
from services.runtime.clock import SimulatedClock
from services.runtime.embedded import EmbeddedPipeline
from services.state_metrics import state_collector
from tests.unit.services.test_embedded import START, VALID, publish_all, reports

FORBIDDEN_LABELS = {"case_id", "event_id", "name", "phone", "address", "reporter", "person"}
"""Label names that would carry a case or a person: never."""
BOUNDED_LABELS = {
    "processor",
    "topic",
    "type",
    "reason",
    "kind",
    "partition",
    "event",
    "tier",
    "from_tier",
    "to_tier",
    "stage",
    "outcome",  # a catalogue or calendar change: taken, refused, waiting
    "version",
    "commit",
    "python",
    "implementation",
    "major",
    "minor",
    "patchlevel",
    "le",
}
"""Every label gridflow's families use: each bounded by the catalogue or an enum."""


@pytest.fixture
def run(site: Site) -> Iterator[tuple[EmbeddedPipeline, Metrics, set[str]]]:
    """Reports in, assigned; ten days later nobody accepted, so every case escalates."""
    metrics = Metrics()
    pipeline = EmbeddedPipeline(site, SimulatedClock(START), metrics=metrics)
    good, bad, ids = reports(site)
    publish_all(pipeline, good + bad)
    pipeline.pump()
    pipeline.clock.advance(timedelta(days=10))  # type: ignore[attr-defined]
    pipeline.tick()
    pipeline.pump()
    yield pipeline, metrics, ids
    pipeline.close()


def families(metrics: Metrics) -> dict[str, object]:
    text = generate_latest(metrics.registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_names_follow_the_conventions_and_labels_are_bounded(
    run: tuple[EmbeddedPipeline, Metrics, set[str]],
) -> None:
    _, metrics, ids = run
    found = families(metrics)
    text = generate_latest(metrics.registry).decode()
    for name, family in found.items():
        kind = family.type  # type: ignore[attr-defined]
        if name.startswith("gridflow_"):
            assert re.fullmatch(r"gridflow_[a-z][a-z0-9_]*", name), name
            assert not name.endswith("_total"), f"{name}: the family name has no _total"
            if kind == "counter":
                samples = {s.name for s in family.samples}  # type: ignore[attr-defined]
                assert samples <= {f"{name}_total", f"{name}_created"}, samples
            assert not re.search(r"_(milliseconds|ms|minutes|hours|days)$", name), (
                f"{name}: base units only"
            )
        for sample in family.samples:  # type: ignore[attr-defined]
            assert set(sample.labels) <= BOUNDED_LABELS, (name, sample.labels)
            assert not set(sample.labels) & FORBIDDEN_LABELS
    assert not any(case_id in text for case_id in ids), "a case id in the metrics"


def test_process_and_build_info_are_exported() -> None:
    metrics = Metrics()
    found = families(metrics)
    assert "process_cpu_seconds" in found
    assert "process_resident_memory_bytes" in found
    assert "python_info" in found
    info = build_info()
    assert info["version"] and info["python"]
    assert value(metrics, "gridflow_build_info", **info) == 1


def test_the_domain_counters_move_with_the_run(
    run: tuple[EmbeddedPipeline, Metrics, set[str]],
) -> None:
    _, metrics, _ = run
    # every valid report got its first assignment, and its latency was observed once
    assert value(metrics, "gridflow_report_to_assignment_seconds_count") == VALID
    first = sum(
        value(metrics, "gridflow_assignments_total", tier=t.value, reason=r)
        for t in Tier
        for r in ("initial",)
    )
    assert first == VALID
    escalated = sum(
        value(metrics, "gridflow_escalations_total", from_tier=a.value, to_tier=b)
        for a in Tier
        for b in [*(t.value for t in Tier), "none"]
    )
    assert escalated == VALID  # nobody accepted: each case lapsed and went up (or supervised)
    lapsed = [
        s
        for s in metrics.registry.collect()
        for s in s.samples
        if s.name == "gridflow_deadline_events_total" and s.labels["event"] == "lapsed"
    ]
    assert sum(s.value for s in lapsed) >= VALID
    assert value(metrics, "gridflow_dead_letters_total", processor="intake", reason="invalid") >= 1
    assert value(metrics, "gridflow_batch_records_count", processor="archive") >= 1
    assert value(metrics, "gridflow_batch_records_sum", processor="archive") > VALID


def test_the_state_gauges_count_what_the_stores_hold(
    run: tuple[EmbeddedPipeline, Metrics, set[str]],
) -> None:
    pipeline, metrics, _ = run
    for processor in ("router", "escalator"):
        collect = state_collector(processor, pipeline.engine, metrics.state, pipeline.clock.now)
        assert collect is not None
        collect()
    assert state_collector("intake", pipeline.engine, metrics.state) is None
    open_cases = [
        s for f in metrics.registry.collect() for s in f.samples if s.name == "gridflow_cases_open"
    ]
    assert sum(s.value for s in open_cases) == VALID
    assert {s.labels["stage"] for s in open_cases} == {"assigned"}
    overdue = sum(
        value(metrics, "gridflow_cases_overdue", tier=t.value) for t in Tier
    )  # every case lapsed once
    assert overdue == VALID
    armed = [
        s
        for f in metrics.registry.collect()
        for s in f.samples
        if s.name == "gridflow_deadlines_open"
    ]
    assert sum(s.value for s in armed) >= VALID  # the new holders' clocks
    assert value(metrics, "gridflow_deadlines_past_due") == 0  # the tick fired them all
    assert value(metrics, "gridflow_state_collected_timestamp_seconds", processor="router") > 0


def test_the_outbox_gauges_count_entries_not_delivered(
    run: tuple[EmbeddedPipeline, Metrics, set[str]],
) -> None:
    pipeline, metrics, _ = run
    rows = [
        ("k1", "webhook", "pending", "2026-03-02T01:00:00+00:00"),
        ("k2", "webhook", "pending", "2026-03-02T02:00:00+00:00"),
        ("k3", "sms", "dead", "2026-03-01T01:00:00+00:00"),
        ("k4", "email", "delivered", "2026-03-01T01:00:00+00:00"),
    ]
    with pipeline.engine.begin() as conn:
        conn.execute(text("DELETE FROM notifier_outbox"))
        for key, channel, status, at in rows:
            conn.execute(
                text(
                    "INSERT INTO notifier_outbox (key, channel, recipient, address, template, "
                    "event_id, event_type, body, created_at, status, attempts, next_at) "
                    "VALUES (:k, :c, 'r', 'a', 't', :k, 'case.assigned', 'b', :at, :s, 0, :at)"
                ),
                {"k": key, "c": channel, "s": status, "at": at},
            )
    collect = state_collector("notifier", pipeline.engine, metrics.state)
    assert collect is not None
    collect()
    assert value(metrics, "gridflow_outbox_entries", channel="webhook", status="pending") == 2
    assert value(metrics, "gridflow_outbox_entries", channel="sms", status="dead") == 1
    assert (
        metrics.registry.get_sample_value(
            "gridflow_outbox_entries", {"channel": "email", "status": "delivered"}
        )
        is None
    )
    oldest = datetime(2026, 3, 2, 1, 0, tzinfo=UTC).timestamp()
    assert value(metrics, "gridflow_outbox_oldest_pending_timestamp_seconds") == oldest


def test_notification_outcomes_are_counted_by_channel() -> None:
    from schemas.notifications import (
        DeliveryStatus,
        NotificationChannel,
        NotificationPayload,
        NotificationRecorded,
    )
    from schemas.topics import NOTIFICATIONS

    metrics = Metrics()
    for channel, status in [
        (NotificationChannel.SMS, DeliveryStatus.FAILED),
        (NotificationChannel.SMS, DeliveryStatus.FAILED),
        (NotificationChannel.WEBHOOK, DeliveryStatus.DELIVERED),
    ]:
        payload = NotificationPayload.model_construct(channel=channel, status=status)
        record = NotificationRecorded.model_construct(payload=payload)
        metrics.published("notifier", NOTIFICATIONS.name, record)
    assert (
        value(metrics, "gridflow_notification_deliveries_total", channel="sms", outcome="failed")
        == 2
    )
    assert (
        value(
            metrics,
            "gridflow_notification_deliveries_total",
            channel="webhook",
            outcome="delivered",
        )
        == 1
    )

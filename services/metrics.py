"""Prometheus metrics of the processors. Labels carry ids and types, never personal data.

The names follow Prometheus' conventions: base units (seconds), ``_total`` on
counters (prometheus_client adds it), ``_timestamp_seconds`` on a point in time,
and labels whose values are bounded by the catalogue: processor, topic kind,
message type, reason, tier, stage, deadline kind, channel. Never a case id, a
unit's person or a resident. Partition numbers are a label of
``gridflow_partition_failed_attempts``: they are bounded by the topics'
partition counts.

The per-unit and per-sender topics (assignments, commands, replies, reports) are
folded into one label value per kind (``gridflow.assignments.*``) so the series
count does not grow with the number of units and senders.

Three sources feed them, all in the shell:

- the batch runner counts what it reads and publishes, and :meth:`Metrics.published`
  looks into the messages it published for the domain's facts (escalations and
  warnings by tier, the time from a report to its first assignment);
- the worker measures consumer lag and, every ``GRIDFLOW_STATE_METRICS_SECONDS``,
  the processor's state in its store (:mod:`services.state_metrics`);
- the escalator's logic counts provisional deadlines in a pure counter
  (:mod:`escalator.metrics`), registered here.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from functools import cache
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from escalator.metrics import PROVISIONAL_DEADLINES
from schemas.topics import (
    ASSIGNMENT_PREFIX,
    CASE_EVENTS,
    COMMAND_PREFIX,
    DEADLINES,
    NOTIFICATIONS,
    REPLY_PREFIX,
    REPORT_PREFIX,
)
from services.calendar_watch import RELOADS as CALENDAR_RELOADS
from services.site_watch import CATALOGUE as SITE_CATALOGUE
from services.site_watch import RELOADS as SITE_RELOADS

_FOLDED = (ASSIGNMENT_PREFIX, COMMAND_PREFIX, REPLY_PREFIX, REPORT_PREFIX)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)
"""Seconds from a report's receipt to its first assignment: sub-second when all is
well, minutes to an hour during an outage or a storm's backlog."""
BATCH_RECORD_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)


def topic_label(topic: str) -> str:
    """The topic's label value: a per-unit or per-sender topic as its kind."""
    return next((p + "*" for p in _FOLDED if topic.startswith(p)), topic)


@cache
def build_info() -> dict[str, str]:
    """What this process runs: the package version, the git commit when known
    (``GRIDFLOW_GIT_COMMIT``, else ``git rev-parse`` in a checkout), and Python."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("gridflow")
    except PackageNotFoundError:
        release = "unknown"
    return {
        "version": release,
        "commit": os.environ.get("GRIDFLOW_GIT_COMMIT") or _git_commit() or "unknown",
        "python": platform.python_version(),
    }


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


class Metrics:
    """The metric families of one process, on their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes...
        PlatformCollector(registry=r)  # python_info
        r.register(PROVISIONAL_DEADLINES)  # counted where the escalator arms its clocks
        r.register(SITE_RELOADS)  # counted by the site watches (services/site_watch.py)
        r.register(CALENDAR_RELOADS)  # counted by services/calendar_watch.py
        r.register(SITE_CATALOGUE)
        self.build = Gauge(
            "gridflow_build_info",
            "Always 1; the labels say what runs: package version, git commit, Python.",
            ["version", "commit", "python"],
            registry=r,
        )
        self.build.labels(**build_info()).set(1)
        self.consumed = Counter(
            "gridflow_records_consumed", "Records read.", ["processor", "topic"], registry=r
        )
        self.produced = Counter(
            "gridflow_messages_produced",
            "Messages published, by type.",
            ["processor", "topic", "type"],
            registry=r,
        )
        self.dead_letters = Counter(
            "gridflow_dead_letters", "Messages dead-lettered.", ["processor", "reason"], registry=r
        )
        self.unpublished_dead_letters = Counter(
            "gridflow_dead_letters_unpublished",
            "Refusals of records read from the dead-letter topic: logged, not published "
            "there again, so a processor never dead-letters its own dead letters in a loop.",
            ["processor", "reason"],
            registry=r,
        )
        self.dead_letters_cut = Counter(
            "gridflow_dead_letters_cut",
            "Dead letters too large to publish whole, cut down to a prefix of the original "
            "(the full bytes in dead_letter_bodies, or the source topic for intake).",
            ["processor"],
            registry=r,
        )
        self.unpublishable_ticks = Counter(
            "gridflow_tick_outputs_unpublishable",
            "Outputs of a tick that could not be serialised or were too large: left out "
            "and logged, since no record made them that could be dead-lettered.",
            ["processor"],
            registry=r,
        )
        self.stuck = Gauge(
            "gridflow_partition_failed_attempts",
            "Consecutive failed attempts of the batch holding this partition; 0 once one "
            "commits. Above 0 for long, the processor cannot make progress there.",
            ["processor", "topic", "partition"],
            registry=r,
        )
        self.duplicates = Counter(
            "gridflow_duplicates_skipped",
            "Envelopes skipped because their event id was processed before.",
            ["processor"],
            registry=r,
        )
        self.failures = Counter(
            "gridflow_batch_failures",
            "Batches that failed and were retried or isolated.",
            ["processor", "kind"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "gridflow_batch_seconds",
            "Time to process, publish and commit one batch.",
            ["processor"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_records = Histogram(
            "gridflow_batch_records",
            "Records in one batch (the archive's batch sizes among them).",
            ["processor"],
            buckets=BATCH_RECORD_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "gridflow_consumer_lag",
            "Records not yet processed, per topic (Kafka runtime).",
            ["processor", "topic"],
            registry=r,
        )
        self.clock = Gauge(
            "gridflow_clock_timestamp_seconds",
            "The processor's notion of now, as a Unix time (differs from wall time with "
            "GRIDFLOW_CLOCK=ticks).",
            ["processor"],
            registry=r,
        )
        self.report_to_assignment = Histogram(
            "gridflow_report_to_assignment_seconds",
            "From a report's receipt by intake (the case's received_at) to its first "
            "assignment published by the router.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.assignments = Counter(
            "gridflow_assignments",
            "Assignments published by the router, by the holding tier and why.",
            ["tier", "reason"],
            registry=r,
        )
        self.escalations = Counter(
            "gridflow_escalations",
            "Cases escalated (升级) from a tier; to_tier none: supervised at the top.",
            ["from_tier", "to_tier"],
            registry=r,
        )
        self.deadline_events = Counter(
            "gridflow_deadline_events",
            "Deadline warnings (预警), lapses (超时) and reminders (督办) the escalator "
            "published, by tier and clock.",
            ["event", "tier", "kind"],
            registry=r,
        )
        self.notifications = Counter(
            "gridflow_notification_deliveries",
            "Notifications recorded on gridflow.notifications, by channel (webhook, email, "
            "sms) and outcome: queued (the notifier's batch put it in the outbox), "
            "delivered, failed (given up: dead in the outbox), undeliverable (nobody to "
            "send it to).",
            ["channel", "outcome"],
            registry=r,
        )
        self.state = StateGauges(r)
        self.ready = Gauge(
            "gridflow_ready",
            "1 when /readyz answers 200: Kafka and the database answer and the lag is "
            "under GRIDFLOW_READY_MAX_LAG; 0 otherwise.",
            ["processor"],
            registry=r,
        )

    def published(self, processor: str, topic: str, message: object) -> None:
        """Count the domain facts of one message just published (acknowledged)."""
        kind = getattr(message, "type", None)
        if topic == CASE_EVENTS.name:
            payload = getattr(message, "payload", None)
            if kind == "case.assigned":
                assignment = payload.assignment  # type: ignore[union-attr]
                self.assignments.labels(assignment.tier.value, assignment.reason.value).inc()
                if assignment.seq == 1:
                    received = payload.case.received_at  # type: ignore[union-attr]
                    self.report_to_assignment.observe(max(0.0, time.time() - received.timestamp()))
            elif kind == "case.escalated":
                to_tier = payload.to_tier.value if payload.to_tier is not None else "none"  # type: ignore[union-attr]
                self.escalations.labels(payload.from_tier.value, to_tier).inc()  # type: ignore[union-attr]
        elif topic == NOTIFICATIONS.name and kind == "notification.recorded":
            payload = message.payload  # type: ignore[attr-defined]
            self.notifications.labels(payload.channel.value, payload.status.value).inc()
        elif topic == DEADLINES.name and kind in _DEADLINE_EVENTS:
            payload = message.payload  # type: ignore[attr-defined]
            self.deadline_events.labels(
                _DEADLINE_EVENTS[kind], payload.tier.value, payload.kind.value
            ).inc()


_DEADLINE_EVENTS = {
    "deadline.warning": "warning",
    "deadline.lapsed": "lapsed",
    "deadline.reminder": "reminder",
}


class StateGauges:
    """Gauges of what a processor's store holds, set by :mod:`services.state_metrics`."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.cases_open = Gauge(
            "gridflow_cases_open",
            "Open cases in the router's store, by holding tier and stage.",
            ["tier", "stage"],
            registry=r,
        )
        self.cases_overdue = Gauge(
            "gridflow_cases_overdue",
            "Open cases one of whose deadlines has lapsed (超时), by holding tier.",
            ["tier"],
            registry=r,
        )
        self.deadlines_open = Gauge(
            "gridflow_deadlines_open",
            "Armed deadlines in the escalator's store, by tier and clock.",
            ["tier", "kind"],
            registry=r,
        )
        self.deadlines_provisional = Gauge(
            "gridflow_deadlines_provisional",
            "Armed deadlines counted on a provisional calendar (no official schedule for "
            "their year yet), by tier.",
            ["tier"],
            registry=r,
        )
        self.deadlines_due = Gauge(
            "gridflow_deadlines_past_due",
            "Armed deadlines whose time has passed and that have not fired yet: the "
            "escalator's backlog (0 when it keeps up).",
            registry=r,
        )
        self.outbox = Gauge(
            "gridflow_outbox_entries",
            "Entries in the notifier's outbox not delivered: pending (waiting for an "
            "attempt) or dead (given up), by channel.",
            ["channel", "status"],
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "gridflow_outbox_oldest_pending_timestamp_seconds",
            "When the oldest pending entry of the outbox was queued, as a Unix time; "
            "NaN when none is pending.",
            registry=r,
        )
        self.collected = Gauge(
            "gridflow_state_collected_timestamp_seconds",
            "When the state gauges were last read from the store, as a Unix time.",
            ["processor"],
            registry=r,
        )

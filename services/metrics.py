"""Prometheus metrics of the processors. Labels carry ids and types, never personal data.

Partition numbers are a label of ``gridflow_stuck_partition``: they are bounded by
the topics' partition counts. Case ids never are.

The per-unit and per-sender topics (assignments, commands, replies) are folded into
one label value per kind (``gridflow.assignments.*``) so the series count does not
grow with the number of units and senders.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from escalator.metrics import PROVISIONAL_DEADLINES
from schemas.topics import ASSIGNMENT_PREFIX, COMMAND_PREFIX, REPLY_PREFIX

_FOLDED = (ASSIGNMENT_PREFIX, COMMAND_PREFIX, REPLY_PREFIX)


def topic_label(topic: str) -> str:
    """The topic's label value: a per-unit or per-sender topic as its kind."""
    return next((p + "*" for p in _FOLDED if topic.startswith(p)), topic)


class Metrics:
    """The metric families of one process, on their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        r.register(PROVISIONAL_DEADLINES)  # counted where the escalator arms its clocks
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
            "gridflow_stuck_partition",
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
        self.lag = Gauge(
            "gridflow_consumer_lag",
            "Records not yet processed, per topic (Kafka runtime).",
            ["processor", "topic"],
            registry=r,
        )
        self.clock = Gauge(
            "gridflow_clock_seconds",
            "The processor's notion of now (differs from wall time with GRIDFLOW_CLOCK=ticks).",
            ["processor"],
            registry=r,
        )

    def serve(self, port: int) -> None:
        """Serve /metrics on 0.0.0.0:port (0: do not serve)."""
        if port:
            start_http_server(port, registry=self.registry)

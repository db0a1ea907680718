"""The topic catalogue says who reads and writes each topic; the processors must do
exactly that. Readers come from what each built processor subscribes to; writers from
what the embedded pipeline actually published, by processor, over a small story."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta

from schemas.catalogue import Site
from schemas.topics import CATALOGUE, TEMPLATES, topic_named
from services.demo.receiver import Receiver
from services.demo.run import demo_subscriptions
from services.processors import REGISTRY, Parts
from services.runtime.clock import SimulatedClock
from services.runtime.embedded import EmbeddedPipeline
from storage.db import Transaction, make_engine
from tests.support.processing import report_topic_of
from tests.unit.services.test_embedded import START, reports


def test_each_processor_reads_what_the_catalogue_says(site: Site) -> None:
    engine = make_engine("sqlite://")
    readers = {t.name: set(t.readers) for t in CATALOGUE}
    with ExitStack() as resources:
        for name, spec in REGISTRY.items():
            processor = spec.build(Parts(site, spec.tx(lambda: Transaction(engine)), resources))
            for topic in processor.topics:
                who = readers.get(topic) or topic_named(topic).readers
                assert name in who, f"{name} reads {topic}; the catalogue says not"
            for topic, who in readers.items():
                if name in who:
                    assert topic in processor.topics, f"the catalogue says {name} reads {topic}"


def test_each_processor_writes_only_what_the_catalogue_says(site: Site) -> None:
    clock = SimulatedClock(START)
    with Receiver() as receiver:  # a real HTTP endpoint, so the notifier has work
        pipeline = EmbeddedPipeline(site, clock, subscriptions=demo_subscriptions(receiver.url))
        written = _written(pipeline, site, clock)
    assert {p for p, _ in written} >= {"intake", "router", "escalator", "notifier"}
    for processor, topic in written:
        entry = next((t for t in TEMPLATES if t.name.split("<")[0] + "*" == topic), None)
        entry = entry or topic_named(topic)
        assert processor in entry.writers, f"{processor} wrote {topic}: not in its writers"


def _written(pipeline: EmbeddedPipeline, site: Site, clock: SimulatedClock) -> set[tuple[str, str]]:
    """(processor, topic) of every topic a processor published to over a small story."""
    good, bad, _ = reports(site)
    for value in good + bad:
        pipeline.publish(report_topic_of(site, value), value)
    pipeline.pump()
    clock.advance(timedelta(days=12))
    pipeline.tick()
    written: set[tuple[str, str]] = set()
    for metric in pipeline.metrics.produced.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                written.add((sample.labels["processor"], sample.labels["topic"]))
    pipeline.close()
    return written

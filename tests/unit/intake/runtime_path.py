"""Intake as the runtime runs it: records on report and command topics through the
BatchRunner (decode, the size check, intake, dead letters) over the memory broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from intake import Intake
from schemas.catalogue import Site
from schemas.codec import decode
from schemas.deadletter import MessageRejected
from schemas.topics import CASE_UPDATES, CASES_RECEIVED, DEADLETTER, Record, topic_named
from services.metrics import Metrics
from services.runtime.batch import BatchRunner
from services.runtime.memory import MemoryBroker, MemorySink
from services.settings import ErrorPolicy
from services.topics import site_topics


@dataclass
class Outcomes:
    """What a batch made: per input record, its case, command or dead letter."""

    cases: list[Record]
    updates: list[Record]
    letters: list[MessageRejected]
    other: list[Record]


def run(
    site: Site,
    records: Sequence[tuple[str, bytes | None]],
    now: datetime,
    max_bytes: int = 262_144,
) -> Outcomes:
    broker = MemoryBroker()
    topics = [CASES_RECEIVED.name, CASE_UPDATES.name, DEADLETTER.name]
    broker.create_topics({*(t.name for t in site_topics(site)), *(t for t, _ in records)})
    runner = BatchRunner(
        Intake(site, max_bytes), None, MemorySink(broker, lambda: now), Metrics(),
        ErrorPolicy.DEADLETTER,
    )  # fmt: skip
    inputs = [broker.append(t, None, v, now) for t, v in records]
    runner.run_batch(inputs)
    written = [
        r for t in broker.topics() if t not in {x for x, _ in records} for r in broker.read(t)
    ]
    letters = [decode(DEADLETTER, r.value) for r in written if r.topic == DEADLETTER.name]
    return Outcomes(
        cases=[r for r in written if r.topic == CASES_RECEIVED.name],
        updates=[r for r in written if r.topic == CASE_UPDATES.name],
        letters=letters,
        other=[r for r in written if r.topic not in topics],
    )


def decoded(record: Record) -> object:
    return decode(topic_named(record.topic), record.value)

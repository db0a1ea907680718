"""Outputs are a function of the inputs: the same records, handled at two different
wall-clock times, by two different instances, give byte-identical outputs with the
same ids (the time rule in schemas/processing.py)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import datetime, timedelta

from sqlalchemy import Engine

from schemas.topics import CASES_RECEIVED, Record, report_topic
from services.metrics import Metrics
from services.processors import REGISTRY, Parts
from services.runtime.batch import BatchRunner
from services.runtime.clock import SimulatedClock
from services.runtime.memory import MemoryBroker, MemorySink
from services.storage.tables import metadata
from services.topics import site_topics
from storage.db import Transaction, make_engine
from tests.support.sites import SHANGHAI, tiny_site

REPORTS = report_topic("grid-app").name  # tiny_site's grid app

APPENDED = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)
"""When the broker appended the input records."""


def _report(n: int) -> bytes:
    report = {
        "channel": "grid_app",
        "external_id": f"APP-{n}",
        "reported_at": "2026-03-05T09:58:00+08:00",
        "category": "street.parking",
        "grid_id": "s-a-g1",
        "description": "车辆违停堵住消防通道",
        "reporter": {"name": "李", "phone": "13800000000"},
    }
    return json.dumps(report, ensure_ascii=False).encode()


def _run(name: str, records: list[Record], wall: datetime, engine: Engine) -> list[bytes]:
    """What processor ``name`` publishes for ``records`` when its wall clock says ``wall``."""
    site = tiny_site()
    broker = MemoryBroker()
    broker.create_topics(t.name for t in site_topics(site))
    spec = REGISTRY[name]
    tx = spec.tx(lambda: Transaction(engine))
    with ExitStack() as resources:
        processor = spec.build(Parts(site, tx, resources))
        sink = MemorySink(broker, SimulatedClock(wall).now)
        BatchRunner(processor, tx, sink, Metrics()).run_batch(records)
    return [r.value or b"" for t in broker.topics() for r in broker.read(t)]


def _fresh() -> Engine:
    engine = make_engine("sqlite://")
    metadata.create_all(engine)
    return engine


def test_intake_gives_the_same_bytes_at_any_wall_clock_time() -> None:
    records = [
        Record(topic=REPORTS, value=_report(n), offset=n, timestamp=APPENDED) for n in range(5)
    ]
    records.append(Record(topic=REPORTS, value=b"{oops", offset=9, timestamp=APPENDED))
    first = _run("intake", records, APPENDED, _fresh())
    again = _run("intake", records, APPENDED + timedelta(days=40), _fresh())
    assert len(first) == 6 and first == again
    assert b'"received_at":"2026-03-05T10:00:00+08:00"' in first[0]


def test_the_router_gives_the_same_bytes_at_any_wall_clock_time() -> None:
    received = _run(
        "intake",
        [Record(topic=REPORTS, value=_report(n), offset=n, timestamp=APPENDED) for n in range(5)],
        APPENDED,
        _fresh(),
    )
    at = APPENDED + timedelta(seconds=1)
    records = [
        Record(topic=CASES_RECEIVED.name, value=v, offset=n, timestamp=at)
        for n, v in enumerate(received)
    ]
    first = _run("router", records, at, _fresh())
    again = _run("router", records, at + timedelta(hours=7), _fresh())
    assert len(first) == 10 and first == again
    assert all(b'"occurred_at":"2026-03-05T10:00:01+08:00"' in v for v in first)

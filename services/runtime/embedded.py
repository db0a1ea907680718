"""The embedded runtime: all five processors in one process, over in-memory topics
and one SQLite database. The default for ``gridflow demo``, for fast tests, and
for a small site. The logic, the batch loop and the checkpoint order are the
ones the Kafka runtime uses; only the source and the sink differ.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from notifier.subscriptions import Subscriptions
from schemas.catalogue import Site
from services.metrics import Metrics
from services.runtime.batch import BatchResult, BatchRunner
from services.runtime.clock import Clock
from services.runtime.memory import MemoryBroker, MemorySink, MemorySource
from services.runtime.processor import TICKING
from services.settings import PROCESSORS, ErrorPolicy
from services.storage.db import Transaction, make_engine
from services.storage.migrate import upgrade
from services.topics import site_topics
from services.wiring import build_processor


@dataclass
class ProcessorStage:
    runner: BatchRunner
    source: MemorySource


class EmbeddedPipeline:
    """Every processor, in-memory topics, one SQL database (SQLite by default)."""

    def __init__(
        self,
        site: Site,
        clock: Clock,
        database_url: str = "sqlite://",
        subscriptions: Subscriptions | None = None,
        metrics: Metrics | None = None,
        on_error: ErrorPolicy = ErrorPolicy.DEADLETTER,
        batch_size: int = 500,
    ) -> None:
        self.site = site
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.batch_size = batch_size
        self.engine = make_engine(database_url)
        upgrade(self.engine)
        self.broker = MemoryBroker()
        self.broker.create_topics(t.name for t in site_topics(site))
        sink = MemorySink(self.broker, clock.now)
        self._resources = ExitStack()
        self.stages: dict[str, ProcessorStage] = {}
        for name in PROCESSORS:
            tx = Transaction(self.engine)
            processor = build_processor(
                name, site=site, tx=tx, resources=self._resources, subscriptions=subscriptions
            )
            runner = BatchRunner(processor, tx, sink, clock, self.metrics, on_error)
            source = MemorySource(self.broker, f"gridflow.{name}", processor.topics)
            self.stages[name] = ProcessorStage(runner, source)

    def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Write to a topic as an outside system would (a channel, a unit)."""
        self.broker.append(topic, key, value, self.clock.now())

    def pump(self) -> BatchResult:
        """Run every processor until no topic has unread records; totals returned."""
        total = BatchResult()
        progressed = True
        while progressed:
            progressed = False
            for stage in self.stages.values():
                records = stage.source.poll(self.batch_size)
                if not records:
                    continue
                progressed = True
                result = stage.runner.run_batch(records)
                stage.source.commit(records)
                total.records += result.records
                total.emitted += result.emitted
                total.dead_letters += result.dead_letters
                total.duplicates += result.duplicates
        return total

    def tick(self) -> BatchResult:
        """Let the clock's time pass for every processor, then pump what it caused."""
        emitted = sum(self.stages[name].runner.run_tick().emitted for name in TICKING)
        result = self.pump()
        result.emitted += emitted
        return result

    def close(self) -> None:
        self._resources.close()
        self.engine.dispose()

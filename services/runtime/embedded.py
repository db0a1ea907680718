"""The embedded runtime: all five processors in one process, over in-memory topics
and one SQLite database. The default for ``gridflow demo``, for fast tests, and
for a small site. The logic, the batch runner and the loop are the ones the Kafka
runtime uses; only the source and the sink differ.
"""

from __future__ import annotations

from contextlib import ExitStack

from notifier.subscriptions import Subscriptions
from schemas.catalogue import Site
from services.metrics import Metrics
from services.processors import REGISTRY, Parts
from services.runtime.batch import BatchResult, BatchRunner
from services.runtime.clock import Clock
from services.runtime.loop import Loop
from services.runtime.memory import MemoryBroker, MemorySink, MemorySource
from services.settings import ErrorPolicy
from services.storage.migrate import upgrade
from services.topics import site_topics
from storage.db import Transaction, make_engine


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
        self.engine = make_engine(database_url)
        upgrade(self.engine)
        self.broker = MemoryBroker()
        self.broker.create_topics(t.name for t in site_topics(site))
        sink = MemorySink(self.broker, clock.now)
        self._resources = ExitStack()
        self.loops: dict[str, Loop] = {}
        for name, spec in REGISTRY.items():
            tx = spec.tx(lambda: Transaction(self.engine))
            processor = spec.build(Parts(site, tx, self._resources, subscriptions))
            runner = BatchRunner(processor, tx, sink, self.metrics, on_error)
            size = min(batch_size, spec.batch_size or batch_size)
            source = MemorySource(self.broker, f"gridflow.{name}", processor.topics, size)
            self.loops[name] = Loop(runner, source)

    def publish(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        """Write to a topic as an outside system would (a channel, a unit)."""
        self.broker.append(topic, key, value, self.clock.now())

    def pump(self) -> BatchResult:
        """Run every processor until no topic has unread records; totals returned."""
        total = BatchResult()
        progressed = True
        while progressed:
            progressed = False
            for loop in self.loops.values():
                records, result = loop.step()
                if records:
                    progressed = True
                    total.add(result)
        return total

    def unread(self) -> int:
        """Records some processor has not processed yet."""
        return sum(sum(loop.source.lag().values()) for loop in self.loops.values())

    def tick(self) -> BatchResult:
        """Let the clock's time pass for every ticking processor, then pump what it caused."""
        now = self.clock.now()
        emitted = sum(
            self.loops[name].runner.run_tick(now).emitted
            for name, spec in REGISTRY.items()
            if spec.ticks
        )
        result = self.pump()
        result.emitted += emitted
        return result

    def close(self) -> None:
        self._resources.close()
        self.engine.dispose()

"""The embedded runtime: all five processors in one process, over in-memory topics
and one SQLite database. The default for ``gridflow demo``, for fast tests, and
for a small site. The logic, the batch runner and the loop are the ones the Kafka
runtime uses; only the source and the sink differ. The notifier's sender runs on
the pipeline's clock: :meth:`EmbeddedPipeline.pump` drains the outbox's due
deliveries after the processors, so a retry waits for simulated time to pass.
"""

from __future__ import annotations

from contextlib import ExitStack

from notifier.ports import Transport
from notifier.sender import OutboxSender
from notifier.sql import SqlOutbox
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
        transports: dict[str, Transport] | None = None,
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
        self.sender = self._sender(sink, transports)

    def _sender(self, sink: MemorySink, transports: dict[str, Transport] | None) -> OutboxSender:
        """The notifier's sender on the pipeline's clock, drained after each pump."""
        from notifier.webhook import WebhookTransport
        from schemas.notifications import NotificationChannel
        from services.runtime.sender import publisher

        notifier = self.loops["notifier"].runner.processor
        subs: Subscriptions = notifier.subscriptions  # type: ignore[attr-defined]
        tx = Transaction(self.engine)
        found = {NotificationChannel(c): t for c, t in (transports or {}).items()}
        found.setdefault(
            NotificationChannel.WEBHOOK,
            WebhookTransport(subs.secret_for, subs.delivery.timeout_seconds),
        )
        sender = OutboxSender(
            SqlOutbox(tx),
            found,
            subs.delivery,
            self.clock.now,
            transaction=tx.begin,
            publish=publisher(sink),
            name="embedded",
        )
        self._resources.callback(sender.close)
        return sender

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
            if self._deliver():
                progressed = True  # their records are for the archive
        return total

    def _deliver(self) -> bool:
        """Make the outbox's due deliveries; whether any attempt finished."""
        before = self.sender.stats
        counts = (before.delivered, before.retried, before.dead)
        self.sender.drain()
        after = self.sender.stats
        return (after.delivered, after.retried, after.dead) != counts

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

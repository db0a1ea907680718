"""The Kafka runtime: one processor, one OS process, one consumer group.

``gridflow run <processor>`` lands here. The loop: poll a batch, run it through
the shared :class:`~services.runtime.batch.BatchRunner` (process, publish and
flush, commit the database), then commit the offsets; between batches, let time
pass (the escalator's deadline check). A failure of Kafka or the database rewinds
the batch and retries it after a pause, so nothing is skipped. SIGTERM or SIGINT
finishes the batch in hand, then stops.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from contextlib import ExitStack
from types import FrameType
from zoneinfo import ZoneInfo

from schemas.catalogue import load_site
from schemas.clock import ClockTicked
from schemas.codec import DecodeError, decode
from schemas.topics import CLOCK, Record
from services.metrics import Metrics
from services.runtime.batch import BatchRunner, ProcessingFailed
from services.runtime.clock import Clock, SimulatedClock, SystemClock
from services.runtime.kafka import KafkaSink, KafkaSource
from services.settings import ClockMode, Settings
from services.storage.db import Transaction, make_engine
from services.storage.migrate import upgrade
from services.wiring import build_processor

log = logging.getLogger(__name__)
_RETRY_PAUSE = (1.0, 2.0, 5.0, 10.0, 30.0)


class TickClock(SimulatedClock):
    """The escalator's clock under GRIDFLOW_CLOCK=ticks: the latest tick read."""


class Worker:
    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.stopping = False
        site = load_site(settings.site)
        tz = ZoneInfo(settings.timezone)
        self.engine = make_engine(settings.database_url)
        upgrade(self.engine)
        self.metrics = Metrics()
        tx = Transaction(self.engine)
        subscriptions = None
        if name == "notifier":
            from notifier.subscriptions import load_subscriptions

            subscriptions = load_subscriptions(settings.subscriptions, site)
        self.resources = ExitStack()
        processor = build_processor(
            name, site=site, tx=tx, resources=self.resources, subscriptions=subscriptions
        )
        self.ticking = name == "escalator"
        self.tick_clock: TickClock | None = None
        clock: Clock = SystemClock(tz)
        topics = list(processor.topics)
        if self.ticking and settings.clock is ClockMode.TICKS:
            self.tick_clock = TickClock(SystemClock(tz).now().replace(year=1970))
            clock = self.tick_clock
            topics.append(CLOCK.name)
        client_id = f"gridflow-{name}-{socket.gethostname()}-{os.getpid()}"
        self.source = KafkaSource(
            settings.kafka_bootstrap,
            f"gridflow.{name}",
            topics,
            settings.batch_size,
            settings.poll_timeout_ms,
            client_id,
        )
        self.sink = KafkaSink(settings.kafka_bootstrap, client_id)
        self.runner = BatchRunner(processor, tx, self.sink, clock, self.metrics, settings.on_error)

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"processor": self.name, "signal": signum})
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.metrics.serve(self.settings.metrics_port_for(self.name))
        log.info("started", extra={"processor": self.name, "topics": self.runner.processor.topics})
        last_tick = 0.0
        failures = 0
        last_lag = 0.0
        try:
            while not self.stopping:
                records = self.source.poll()
                try:
                    advanced = self._step(records)
                    if self.ticking and self._tick_due(advanced, last_tick):
                        self.runner.run_tick()
                        last_tick = time.monotonic()
                    failures = 0
                except ProcessingFailed:
                    raise  # policy "stop": a message failed alone; an operator looks first
                except Exception:  # Kafka or the database: rewind and retry the batch
                    pause = _RETRY_PAUSE[min(failures, len(_RETRY_PAUSE) - 1)]
                    failures += 1
                    self.metrics.failures.labels(self.name, "retried").inc()
                    log.exception(
                        "batch failed; rewinding to retry",
                        extra={"processor": self.name, "pause_s": pause, "failures": failures},
                    )
                    self.source.rewind(records)
                    time.sleep(pause)
                if time.monotonic() - last_lag > 15:
                    last_lag = time.monotonic()
                    for topic, lag in self.source.lag().items():
                        self.metrics.lag.labels(self.name, topic).set(lag)
        finally:
            self.source.close()
            self.sink.close()
            self.resources.close()
            self.engine.dispose()
            log.info("stopped", extra={"processor": self.name})

    def _step(self, records: Sequence[Record]) -> bool:
        """Process one polled batch; True when the tick clock moved."""
        ticks = [r for r in records if r.topic == CLOCK.name]
        work = [r for r in records if r.topic != CLOCK.name]
        advanced = False
        if work:
            self.runner.run_batch(work)
        for record in ticks:
            advanced = self._read_tick(record) or advanced
        self.source.commit(records)
        return advanced

    def _read_tick(self, record: Record) -> bool:
        assert self.tick_clock is not None
        try:
            tick = decode(CLOCK, record.value)
        except DecodeError:
            self.runner.run_batch([record])  # dead-letters it with the reason
            return False
        assert isinstance(tick, ClockTicked)
        before = self.tick_clock.now()
        return self.tick_clock.set(tick.payload.now) > before

    def _tick_due(self, advanced: bool, last_tick: float) -> bool:
        if self.tick_clock is not None:
            return advanced
        return time.monotonic() - last_tick >= self.settings.tick_seconds


def run(name: str, settings: Settings) -> None:
    Worker(name, settings).run()

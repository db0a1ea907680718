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
from datetime import datetime
from types import FrameType
from zoneinfo import ZoneInfo

from schemas.catalogue import load_site
from schemas.clock import ClockTicked
from schemas.codec import DecodeError, decode
from schemas.topics import CLOCK, Record
from services.logs import error_fields
from services.metrics import Metrics
from services.runtime.batch import BatchRunner, ProcessingFailed
from services.runtime.clock import Clock, SimulatedClock, SystemClock
from services.runtime.kafka import KafkaSink, KafkaSource
from services.runtime.processor import TICKING
from services.settings import ClockMode, Settings
from services.storage.db import Transaction, make_engine
from services.storage.migrate import upgrade
from services.wiring import build_processor

log = logging.getLogger(__name__)
_RETRY_PAUSE = (1.0, 2.0, 5.0, 10.0, 30.0)
NOTIFIER_BATCH = 20
"""The notifier delivers webhooks inside its batch (up to 3 attempts of up to ~12 s
each); small batches keep a dead endpoint from outlasting max_poll_interval_ms."""


class Worker:
    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.stopping = False
        site = load_site(settings.site)
        tz = ZoneInfo(site.timezone)
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
        self.ticking = name in TICKING
        self.tick_clock: SimulatedClock | None = None
        clock: Clock = SystemClock(tz)
        topics = list(processor.topics)
        if self.ticking and settings.clock is ClockMode.TICKS:
            # the latest tick read from gridflow.clock; the epoch until the first arrives
            self.tick_clock = SimulatedClock(datetime(1970, 1, 1, tzinfo=tz))
            clock = self.tick_clock
            topics.append(CLOCK.name)
        client_id = f"gridflow-{name}-{socket.gethostname()}-{os.getpid()}"
        self.source = KafkaSource(
            settings.kafka_bootstrap,
            f"gridflow.{name}",
            topics,
            min(settings.batch_size, NOTIFIER_BATCH) if name == "notifier" else settings.batch_size,
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
                    log.warning(
                        "batch failed; rewinding to retry",
                        extra={"processor": self.name, "pause_s": pause, "failures": failures}
                        | error_fields(),
                    )
                    self._rewind(records)
                    time.sleep(pause)
                if time.monotonic() - last_lag > 15:
                    last_lag = time.monotonic()
                    self._measure_lag()
        finally:
            self.source.close()
            self.sink.close()
            self.resources.close()
            self.engine.dispose()
            log.info("stopped", extra={"processor": self.name})

    def _rewind(self, records: Sequence[Record]) -> None:
        try:
            self.source.rewind(records)
        except Exception:  # the broker is away or the group is rebalancing: re-poll decides
            log.warning("rewind failed", extra={"processor": self.name} | error_fields())

    def _measure_lag(self) -> None:
        try:
            for topic, lag in self.source.lag().items():
                self.metrics.lag.labels(self.name, topic).set(lag)
        except Exception:  # a metric is not worth a crash while the broker is away
            log.warning("lag not measured", extra={"processor": self.name} | error_fields())

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

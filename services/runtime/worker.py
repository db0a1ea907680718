"""The Kafka runtime: one processor, one OS process, one consumer group.

``gridflow run <processor>`` lands here. :func:`build_worker` composes a
:class:`Worker` from the settings (database, processor, Kafka source and sink,
clock); the worker only runs the shared :class:`~services.runtime.loop.Loop`:
poll a batch, run it, commit the offsets; between batches, let time pass (the
escalator's deadline check). A failure of Kafka or the database rewinds the
batch and retries it after a short pause (:data:`RETRY_PAUSE`), so nothing is
skipped and work resumes within about a second of the server's return. SIGTERM
or SIGINT finishes the batch in hand, then stops.

On the system clock the escalator's timer is exact: the worker keeps the earliest
time its tick has work (:meth:`escalator.core.Escalator.next_due`, one indexed
query), read again after each batch it handled and after each tick, and lets the
poll wait no longer than until then. It ticks as soon as the clock reads that time
or later, never before, so a lapse fires within the time of a poll round-trip and
the batch in hand of its due time. A backlog (after downtime) is worked through at
once, :data:`TICK_ROUNDS` rounds a step with polls in between, until nothing is
due. ``GRIDFLOW_TICK_SECONDS`` bounds the sleep: another instance, or a row armed
while the query ran, is caught up with within it.

With the ticks clock, a ``clock.ticked`` record is committed only once the tick
it asks for has run: its outputs published and its rounds committed. An
escalator killed in the middle of a tick reads the record again when it
restarts, and finishes the tick; the rounds already done are gone from the
deadline table, and a round redone emits the same ids.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from sqlalchemy import Engine, text

from schemas.access import processor_principal
from schemas.catalogue import DEFAULT_SITE, Site, load_site
from schemas.clock import ClockTicked
from schemas.codec import DecodeError, decode
from schemas.topics import CLOCK, Record
from services.logs import error_fields
from services.metrics import Metrics
from services.processors import Parts, metrics_port, spec
from services.runtime.batch import BatchRunner, ProcessingFailed
from services.runtime.clients import fatal_errors, make_sink, make_source
from services.runtime.clock import Clock, SimulatedClock, SystemClock
from services.runtime.health import HealthServer, Readiness
from services.runtime.instance import instance_for
from services.runtime.loop import Loop
from services.runtime.names import Names
from services.runtime.security import client_security
from services.settings import ClockMode, Settings
from services.state_metrics import state_collector
from services.topics import site_topics
from storage.db import Transaction, make_engine

log = logging.getLogger(__name__)
RETRY_PAUSE = (0.1, 0.2, 0.5, 1.0)
"""Seconds before retrying a batch after its n-th consecutive failure (the last one
from then on). The cap is low so that work resumes within about a second of Kafka
or PostgreSQL coming back. A retry costs a poll and a refused connection, and is
logged, so one a second while a server is down is cheap."""
TICK_ROUNDS = 50
"""Most rounds (of up to 1000 deadlines of each kind) one tick runs on the system clock
before the worker polls again: a backlog of a million keeps the consumer polling, and
the next step ticks again at once while work is due."""
LAG_EVERY = 5.0
"""Seconds between two lag measurements: a round trip to the broker, which is also
the Kafka probe of ``/readyz`` (not ready after three missed)."""
IDLE_GAP = 0.05
"""Seconds between two ticks when the last one found nothing although the store said
work was due (a row armed meanwhile, or a store that cannot take a row): a floor, so
that such a row costs 20 queries a second rather than a busy loop."""


@dataclass
class Ticking:
    """When a ticking processor lets time pass.

    On the system clock: when ``next_due`` (the processor's earliest due time, read
    in a transaction of its own) says so, and at least every ``every`` seconds;
    without ``next_due``, every ``every`` seconds. With ``ticks`` set, time is the
    latest ``clock.ticked`` read from ``gridflow.clock``, and a tick runs when it
    moves forward.
    """

    clock: Clock
    every: float
    ticks: SimulatedClock | None = None
    next_due: Callable[[], datetime | None] | None = None


class Worker:
    """Runs one processor's loop until stopped; built by :func:`build_worker`."""

    def __init__(
        self,
        name: str,
        loop: Loop,
        metrics: Metrics,
        resources: ExitStack,
        ticking: Ticking | None = None,
        http: HealthServer | None = None,
        readiness: Readiness | None = None,
        collect_state: Callable[[], None] | None = None,
        state_every: float = 30.0,
    ) -> None:
        self.name = name
        self.loop = loop
        self.metrics = metrics
        self.resources = resources
        self.ticking = ticking
        self.http = http
        self.readiness = readiness or Readiness(name, max_lag=10_000, kafka_stale_s=3 * LAG_EVERY)
        self.collect_state = collect_state
        self.state_every = state_every
        self._last_state = -math.inf
        self.stopping = False
        self._last_tick = -math.inf  # monotonic; the first tick is due at once
        self._due: datetime | None = None  # the timer: when the next tick has work
        self._hold = -math.inf  # monotonic; no tick before (IDLE_GAP)
        self._tick_pending = False  # a clock record moved the clock; its tick has not run
        self._read = 0  # how many of the loop's held clock records were read
        self.companions: list[Callable[[], None]] = []
        """Started by :meth:`run` (the notifier's sender thread); they register their
        own stop on :attr:`resources`."""

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"processor": self.name, "signal": signum})
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        if self.http is not None:
            self.http.start()
            self.resources.callback(self.http.close)
        for start in self.companions:
            start()
        log.info("started", extra={"processor": self.name})
        failures = 0
        last_lag = -math.inf
        try:
            while not self.stopping:
                records: list[Record] = []
                try:
                    records = self.step()
                    failures = self.readiness.failures = 0
                except ProcessingFailed:
                    raise  # policy "stop": a message failed alone; an operator looks first
                except fatal_errors():
                    raise  # another live process has this instance id: retrying cannot help
                except Exception:  # Kafka or the database: rewind and retry the batch
                    pause = RETRY_PAUSE[min(failures, len(RETRY_PAUSE) - 1)]
                    failures += 1
                    self.readiness.failures = failures
                    self.metrics.failures.labels(self.name, "retried").inc()
                    log.warning(
                        "batch failed; rewinding to retry",
                        extra={"processor": self.name, "pause_s": pause, "failures": failures}
                        | error_fields(),
                    )
                    # step() raised, so ``records`` is empty: the batch in hand is the
                    # runner's (gridflow_partition_failed_attempts counts its failed attempts)
                    self._rewind(records or self.loop.runner.failed)
                    time.sleep(pause)
                if time.monotonic() - last_lag > LAG_EVERY:
                    last_lag = time.monotonic()
                    self._measure_lag()
                if self.collect_state is not None:
                    self._measure_state()
        finally:
            self.resources.close()
            log.info("stopped", extra={"processor": self.name})

    def step(self) -> list[Record]:
        """One batch, then the tick if one is due, then the clock records' commit; the
        records polled.

        The loop holds the clock records even when the batch fails; they are read
        after the next batch that succeeds, and the tick they ask for stays due until
        it has run. So neither a failed batch nor a failed tick loses a tick, and a
        crash before the commit reads them again on restart.
        """
        records, _ = self.loop.step(self._poll_timeout())
        if self.ticking is not None and self.ticking.ticks is not None:
            self._read_ticks(self.ticking.ticks)
        timer = self.ticking is not None and self._timed()
        if timer and records:  # the batch may have armed something earlier
            self._refresh()
        if self.ticking is not None and self._tick_due():
            now = self.ticking.clock.now()
            if timer:
                done = self.loop.runner.run_tick(now, max_rounds=TICK_ROUNDS)
            else:
                done = self.loop.runner.run_tick(now)
            self._last_tick = time.monotonic()
            self._tick_pending = False
            if timer:
                self._refresh()
                if not done.emitted and self._due is not None and self._due <= now:
                    self._hold = self._last_tick + IDLE_GAP
        self.loop.commit_held()
        self._read = 0
        return records

    def _read_ticks(self, ticks: SimulatedClock) -> None:
        """Move the clock by each clock record held and not read yet."""
        while self._read < len(self.loop.held):
            if self._read_tick(self.loop.held[self._read], ticks):
                self._tick_pending = True
            self._read += 1

    def _timed(self) -> bool:
        """Whether the tick follows the processor's next due time (system clock)."""
        return (
            self.ticking is not None
            and self.ticking.ticks is None
            and self.ticking.next_due is not None
        )

    def _tick_due(self) -> bool:
        assert self.ticking is not None
        if self.ticking.ticks is not None:
            return self._tick_pending
        mono = time.monotonic()
        if mono - self._last_tick >= self.ticking.every:
            return True  # the bound
        if not self._timed() or self._due is None or mono < self._hold:
            return False
        # never early: the tick's own now, read after this, is at least this one
        return self.ticking.clock.now() >= self._due

    def _poll_timeout(self) -> int | None:
        """Milliseconds the poll may wait before a tick is due; None: the source's own
        timeout (no timer, or the ticks clock, whose ticks come as records)."""
        if self.ticking is None or not self._timed():
            return None
        mono = time.monotonic()
        wait = self.ticking.every - (mono - self._last_tick)
        if self._due is not None:
            wait = min(wait, (self._due - self.ticking.clock.now()) / timedelta(seconds=1))
        wait = max(wait, self._hold - mono, 0.0)
        return math.ceil(wait * 1000)  # rounded up: a poll that returns early is no harm

    def _refresh(self) -> None:
        """Read the next due time again. A database that fails here only delays it:
        the next tick comes within a second, on the bound, and retries as ticks do."""
        assert self.ticking is not None and self.ticking.next_due is not None
        try:
            self._due = self.ticking.next_due()
        except Exception:
            log.warning("next due time not read", extra={"processor": self.name} | error_fields())
            self._due = None
            self._last_tick = min(self._last_tick, time.monotonic() - self.ticking.every + 1.0)

    def _read_tick(self, record: Record, ticks: SimulatedClock) -> bool:
        try:
            tick = decode(CLOCK, record.value)
        except DecodeError:
            self.loop.runner.run_batch([record])  # dead-letters it with the reason
            return False
        assert isinstance(tick, ClockTicked)
        before = ticks.now()
        return ticks.set(tick.payload.now) > before

    def _rewind(self, records: Sequence[Record]) -> None:
        aside = self.loop.aside
        if aside is not None:  # the loop holds those (a clock record), to be read again
            records = [r for r in records if not aside(r)]
        try:
            self.loop.source.rewind(records)
        except Exception:  # the broker is away or the group is rebalancing: re-poll decides
            log.warning("rewind failed", extra={"processor": self.name} | error_fields())

    def _measure_lag(self) -> None:
        try:
            lag = self.loop.source.lag()
            for topic, behind in lag.items():
                self.metrics.lag.labels(self.name, topic).set(behind)
            self.readiness.kafka_answered(lag)
        except Exception as exc:  # a metric is not worth a crash while the broker is away
            self.readiness.kafka_failed(exc)
            log.warning("lag not measured", extra={"processor": self.name} | error_fields())
        self.metrics.ready.labels(self.name).set(0 if self.readiness.reasons() else 1)

    def _measure_state(self) -> None:
        """The state gauges, every ``state_every`` seconds; a database away skips one."""
        assert self.collect_state is not None
        if time.monotonic() - self._last_state < self.state_every:
            return
        self._last_state = time.monotonic()
        try:
            self.collect_state()
        except Exception:
            log.warning("state not measured", extra={"processor": self.name} | error_fields())


def build_worker(name: str, settings: Settings) -> Worker:
    """The worker of processor ``name``, with its database, Kafka clients and clock."""
    processor_spec = spec(name)
    site = load_site(settings.site)
    resources = ExitStack()
    tx = None
    engine: Engine | None = None
    if processor_spec.stateful:
        from services.storage.migrate import upgrade

        engine = make_engine(settings.database_url)
        resources.callback(engine.dispose)
        upgrade(engine)
        tx = Transaction(engine)
    subscriptions = None
    if name == "notifier":
        from notifier.subscriptions import load_subscriptions

        subscriptions = load_subscriptions(settings.subscriptions, site)
    parts = Parts(
        site,
        tx,
        resources,
        subscriptions,
        max_bytes=settings.intake_max_bytes,
        site_dir=settings.site or DEFAULT_SITE,
        calendar_reload_seconds=settings.calendar_reload_seconds,
        site_reload_seconds=settings.site_reload_seconds,
    )
    processor = processor_spec.build(parts)
    topics = list(processor.topics)
    ticking = None
    if processor_spec.ticks:
        ticking = Ticking(SystemClock(site.tz), settings.tick_seconds)
        next_due = getattr(processor, "next_due", None)
        if next_due is not None and tx is not None and settings.clock is ClockMode.SYSTEM:
            ticking.next_due = _in_transaction(tx, next_due)
        if settings.clock is ClockMode.TICKS:
            # the latest tick read from gridflow.clock; the epoch until the first arrives
            ticking.ticks = SimulatedClock(datetime(1970, 1, 1, tzinfo=site.tz))
            ticking.clock = ticking.ticks
            topics.append(CLOCK.name)
    names = Names(settings.namespace)
    client_id = f"{names.group(name)}-{socket.gethostname()}-{os.getpid()}"
    instance = instance_for(names.group(name), settings.instance_id)
    resources.callback(instance.release)
    batch_size = min(settings.batch_size, processor_spec.batch_size or settings.batch_size)
    # On a SASL broker each processor is its own principal (GRIDFLOW_KAFKA_* settings).
    security = client_security(processor_principal(name))
    source = make_source(
        settings.kafka_client,
        settings.kafka_bootstrap,
        names.group(name),
        topics,
        batch_size,
        settings.poll_timeout_ms,
        client_id,
        site.tz,
        names,
        instance.id,
        settings.session_timeout_ms,
        security,
    )
    log.info(
        "consumer group member",
        extra={
            "processor": name,
            "group": names.group(name),
            "instance_id": instance.id,
            "client": str(settings.kafka_client),
        },
    )
    resources.callback(source.close)
    sink = make_sink(settings.kafka_client, settings.kafka_bootstrap, client_id, names, security)
    resources.callback(sink.close)
    sink.prepare([t.name for t in site_topics(site) if name in t.writers])
    metrics = Metrics()
    runner = BatchRunner(processor, tx, sink, metrics, settings.on_error)
    loop = Loop(runner, source, aside=lambda r: r.topic == CLOCK.name)
    readiness = Readiness(
        name,
        max_lag=settings.ready_max_lag,
        kafka_stale_s=3 * LAG_EVERY,
        database=_ping(engine) if engine is not None else None,
    )
    port = metrics_port(name, settings.metrics_port)
    http = None
    if port:  # 0: no HTTP side at all
        http = HealthServer(settings.metrics_host, port, metrics.registry, readiness)
    collect = None
    if engine is not None:
        clock = ticking.clock if ticking is not None else SystemClock(site.tz)
        collect = state_collector(name, engine, metrics.state, clock.now)
    worker = Worker(
        name,
        loop,
        metrics,
        resources,
        ticking,
        http,
        readiness,
        collect,
        settings.state_metrics_seconds,
    )
    if name == "notifier" and settings.notify_sender_inline and engine is not None:
        sender = _inline_sender(engine, settings, processor, site, resources, metrics)
        worker.companions.append(sender)
    return worker


def _inline_sender(
    engine: Engine,
    settings: Settings,
    processor: object,
    site: Site,
    resources: ExitStack,
    metrics: Metrics,
) -> Callable[[], None]:
    """The notifier's sender as a thread of its process, with a producer of its own."""
    from services.runtime.sender import SenderThread, build_sender

    subs = processor.subscriptions  # type: ignore[attr-defined]
    names = Names(settings.namespace)
    client_id = f"{names.group('notifier')}-sender-{socket.gethostname()}-{os.getpid()}"
    security = client_security(processor_principal("notifier"))
    sink = make_sink(settings.kafka_client, settings.kafka_bootstrap, client_id, names, security)
    resources.callback(sink.close)
    clock = SystemClock(site.tz)
    sender = build_sender(engine, settings, subs, clock.now, sink, metrics=metrics)
    thread = SenderThread(sender, settings.notify_idle_seconds)

    def start() -> None:
        thread.start()
        resources.callback(thread.stop)  # before the sink closes

    return start


def _ping(engine: Engine) -> Callable[[], None]:
    """``SELECT 1`` on a connection of the pool: raises when the database is away."""

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return ping


def _in_transaction(
    tx: Transaction, read: Callable[[], datetime | None]
) -> Callable[[], datetime | None]:
    """``read`` in a transaction of its own: the store's reads need one."""

    def inner() -> datetime | None:
        with tx.begin():
            return read()

    return inner


def run(name: str, settings: Settings) -> None:
    build_worker(name, settings).run()

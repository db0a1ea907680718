"""The sender: delivers what the notifier queued in the outbox, concurrently, with retries.

One :class:`OutboxSender` round (:meth:`OutboxSender.step`):

1. record the outcome of every attempt that finished since the last round:
   delivered; tried again at the policy's next time
   (:class:`notifier.outbox.RetryPolicy`); or, after the last try or a permanent
   refusal, a dead letter with the reason (``gridflow notify replay`` sends it
   again). The outcome is then published (``notification.recorded``, delivered or
   failed) when a publisher is given;
2. claim due entries under a lease, as many as the pool has free threads, leaving
   out the addresses that are busy (``rate.concurrent`` attempts in flight) or over
   their rate (``rate.per_minute``); 1 and 2 are one short transaction;
3. hand each to its channel's transport on the thread pool.

Only the thread that calls :meth:`step` touches the outbox; the pool threads only
send. A receiver that hangs holds at most ``rate.concurrent`` threads, each for at
most the policy's timeout, and never the claims of the others, nor the notifier's
batches, which never wait on a delivery.

A sender killed mid-delivery loses nothing: its entries stay claimed until their
lease runs out, then any sender claims them again, and the repeat carries the same
idempotency key. An outcome is recorded only by the claim that still holds the
entry (its token), so a sender that outlived its lease cannot overwrite another's.

Time is passed in (``now``, and ``monotonic`` for the rate window): the sender
reads no clock of its own, so the embedded runtime runs it on simulated time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.core import outcome_record
from notifier.outbox import DeliveryPolicy, RecipientRates
from notifier.ports import Attempt, Claimed, Outbox, Transport
from schemas.notifications import DeliveryStatus, NotificationChannel, NotificationRecorded

log = logging.getLogger(__name__)


@dataclass
class SenderStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    lost_lease: int = 0


class OutboxSender:
    """Delivers from ``outbox`` through ``transports`` on ``concurrency`` threads."""

    def __init__(
        self,
        outbox: Outbox,
        transports: Mapping[NotificationChannel, Transport],
        policy: DeliveryPolicy,
        now: Callable[[], datetime],
        *,
        transaction: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        publish: Callable[[Sequence[NotificationRecorded]], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        name: str = "sender",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.outbox = outbox
        self.transports = dict(transports)
        self.policy = policy
        self.now = now
        self.transaction = transaction
        self.concurrency = concurrency
        self.lease_seconds = max(lease_seconds, policy.timeout_seconds * 2)
        self.publish = publish
        self.monotonic = monotonic
        self.name = name
        self.rates = RecipientRates(policy.rate)
        self.stats = SenderStats()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix=f"gridflow-{name}")
        self._flight: dict[Future[Attempt], Claimed] = {}
        self._busy: Counter[str] = Counter()

    # --- one round ------------------------------------------------------------------

    def step(self, wait_seconds: float = 0.0) -> int:
        """One round: the attempts that finished (waiting up to ``wait_seconds`` for
        one) recorded, and more claimed, in one transaction; then the claimed started
        and the outcomes published. How many attempts finished."""
        outcomes = self._finished(wait_seconds)
        records: list[NotificationRecorded] = []
        with self._tx():
            records += self._record_all(outcomes)
            start, final = self._claim()
            records += final
        for transport, c in start:  # only once the claim is committed
            self._flight[self._pool.submit(_attempt, transport, c)] = c
        if records and self.publish is not None:
            self.publish(records)
        return len(outcomes)

    def in_flight(self) -> int:
        return len(self._flight)

    def busy(self, address: str) -> int:
        """Attempts in flight to ``address``."""
        return self._busy.get(address, 0)

    def drain(self, timeout: float = 30.0) -> None:
        """Deliver until nothing due is left and nothing is in flight (the embedded
        runtime, tests), or ``timeout`` seconds pass."""
        end = time.monotonic() + timeout
        self.step()
        while self._flight and time.monotonic() < end:
            self.step(min(0.5, max(0.0, end - time.monotonic())))

    def run(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        """Rounds until ``stop`` is set; sleeps at most ``idle_seconds`` when idle."""
        log.info("sender started", extra={"processor": "notifier", "sender": self.name})
        while not stop.is_set():
            try:
                self.step(0.05 if self._flight else 0.0)
                if not self._flight:
                    stop.wait(self._idle(idle_seconds))
            except Exception:  # the database away: wait and try again; leases cover the rest
                log.warning("sender round failed", extra={"processor": "notifier"}, exc_info=True)
                stop.wait(idle_seconds)
        log.info("sender stopping", extra={"processor": "notifier", "sender": self.name})

    def close(self, wait_seconds: float = 5.0) -> None:
        """Record what finishes within ``wait_seconds``; the rest is left to its lease."""
        end = time.monotonic() + wait_seconds
        while self._flight and time.monotonic() < end:
            outcomes = self._finished(min(0.2, end - time.monotonic()))
            with self._tx():
                records = self._record_all(outcomes)
            if records and self.publish is not None:
                self.publish(records)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for transport in self.transports.values():
            with contextlib.suppress(Exception):
                transport.close()

    # --- inside -----------------------------------------------------------------------

    def _idle(self, bound: float) -> float:
        with self.transaction():
            due = self.outbox.next_due()
        if due is None:
            return bound
        return min(bound, max(0.0, (due - self.now()).total_seconds()))

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        with self.transaction():
            yield

    def _claim(self) -> tuple[list[tuple[Transport, Claimed]], list[NotificationRecorded]]:
        """Claim what the pool has room for (in the caller's transaction); what to start,
        and the records of those that could not be (no transport: a dead letter)."""
        free = self.concurrency - len(self._flight)
        if free <= 0:
            return [], []
        mono = self.monotonic()
        limit = self.policy.rate.concurrent
        skip = {a for a, n in self._busy.items() if n >= limit} | self.rates.full(mono)
        room = {a: limit - n for a, n in self._busy.items() if n < limit}
        token = uuid.uuid4().hex
        start: list[tuple[Transport, Claimed]] = []
        records: list[NotificationRecorded] = []
        claimed = self.outbox.claim(self.now(), free, self.lease_seconds, token, skip, room, limit)
        for c in claimed:
            address = c.entry.address
            if self._busy[address] >= limit or not self.rates.allows(address, mono):
                self.outbox.release(c.entry.key, c.token)
                self.stats.released += 1
                continue
            transport = self.transports.get(c.entry.channel)
            if transport is None:
                why = f"no {c.entry.channel.value} transport configured (README, Notifications)"
                record = self._record(c, Attempt(False, None, why, permanent=True))
                records += [record] if record is not None else []
                continue
            self._busy[address] += 1
            self.rates.record(address, mono)
            start.append((transport, c))
        return start, records

    def _finished(self, wait_seconds: float) -> list[tuple[Claimed, Attempt]]:
        """The attempts done, waiting up to ``wait_seconds`` for the first."""
        if not self._flight:
            return []
        wait(list(self._flight), timeout=wait_seconds, return_when=FIRST_COMPLETED)
        outcomes: list[tuple[Claimed, Attempt]] = []
        for future in [f for f in self._flight if f.done()]:
            claimed = self._flight.pop(future)
            address = claimed.entry.address
            self._busy[address] -= 1
            if self._busy[address] <= 0:
                del self._busy[address]
            outcomes.append((claimed, future.result()))
        return outcomes

    def _record_all(self, outcomes: list[tuple[Claimed, Attempt]]) -> list[NotificationRecorded]:
        """Every outcome in the outbox (the caller's transaction); the final ones' records."""
        if not outcomes:
            return []
        ok = [(c.entry.key, c.token, a.http_status) for c, a in outcomes if a.ok]
        held = self.outbox.delivered_all(ok, self.now()) if ok else set()
        records = [self._record(c, a, held) for c, a in outcomes]
        return [r for r in records if r is not None]

    def _record(
        self, c: Claimed, attempt: Attempt, delivered: set[str] | None = None
    ) -> NotificationRecorded | None:
        """The attempt's outcome in the outbox (the caller's transaction); the record to
        publish, if it is final."""
        e, now = c.entry, self.now()
        extra = {"notification_id": e.key, "case_id": e.case_id, "attempt": c.attempt}
        extra |= {"recipient": e.recipient, "channel": e.channel.value}
        status: DeliveryStatus | None = None
        if attempt.ok:  # marked with the round's others (delivered_all)
            held = delivered is not None and e.key in delivered
            status = DeliveryStatus.DELIVERED
        else:
            error = attempt.error or "failed"
            retry = self.policy.retry
            later = None if attempt.permanent else retry.next_at(e.key, c.attempt, now)
            if later is None:
                held = self.outbox.dead(e.key, c.token, now, error, attempt.http_status)
                status = DeliveryStatus.FAILED
            else:
                held = self.outbox.retry(e.key, c.token, later, error, attempt.http_status)
        if not held:  # the lease ran out and another claim holds it now
            self.stats.lost_lease += 1
            log.warning("outcome not recorded: lease lost", extra=extra)
            return None
        if status is DeliveryStatus.DELIVERED:
            self.stats.delivered += 1
            log.info("notification delivered", extra=extra)
        elif status is DeliveryStatus.FAILED:
            self.stats.dead += 1
            log.warning(
                "notification dead-lettered",
                extra=extra | {"http_status": attempt.http_status, "error": attempt.error},
            )
        else:
            self.stats.retried += 1
            log.info("notification to be retried", extra=extra | {"status": attempt.http_status})
            return None
        if e.case_id is None:  # every notifiable event is a case's; a record needs one
            return None
        return outcome_record(
            e, status, c.attempt, now, attempt.http_status, None if attempt.ok else attempt.error
        )


def _attempt(transport: Transport, claimed: Claimed) -> Attempt:
    try:
        return transport.send(claimed.entry, claimed.attempt)
    except Exception as exc:  # a broken transport is a failed attempt, not a dead sender
        return Attempt(False, None, f"{type(exc).__name__}"[:300])

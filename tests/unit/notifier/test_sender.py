"""The sender against scripted transports (fakes, here in the tests) and the memory outbox:
outcomes, retries on the policy's schedule, dead letters, and a hung address that holds
nobody else up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from notifier.memory import MemoryOutbox
from notifier.outbox import DeliveryPolicy, RateLimit, RetryPolicy
from notifier.ports import Attempt, OutboxEntry, OutboxStatus, Transport
from notifier.sender import OutboxSender
from schemas.notifications import DeliveryStatus, NotificationChannel, NotificationRecorded
from tests.unit.notifier.factories import NOW

POLICY = DeliveryPolicy(
    retry=RetryPolicy(first_seconds=60, factor=2, max_attempts=3, jitter=0),
    rate=RateLimit(per_minute=1000, concurrent=1),
    timeout_seconds=1,
)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Scripted(Transport):
    """Answers from a script per address (the last answer repeats); records every call."""

    channel = NotificationChannel.WEBHOOK

    def __init__(self, script: dict[str, Iterable[Attempt]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def send(self, entry: OutboxEntry, attempt: int) -> Attempt:
        with self.lock:
            self.calls.append((entry.key, attempt))
            answers = self.script[entry.address]
            return answers.pop(0) if len(answers) > 1 else answers[0]


class Hanging(Transport):
    """Hangs on one address until released; answers the others at once."""

    channel = NotificationChannel.WEBHOOK

    def __init__(self, hung: str) -> None:
        self.hung = hung
        self.release = threading.Event()
        self.done: list[tuple[str, float]] = []

    def send(self, entry: OutboxEntry, attempt: int) -> Attempt:
        if entry.address == self.hung:
            self.release.wait(10)
            return Attempt(False, None, "ReadTimeout: timed out")
        self.done.append((entry.key, time.monotonic()))
        return Attempt(True, 200)


def entry(n: int, address: str = "http://a.test/") -> OutboxEntry:
    return OutboxEntry(
        key=f"k-{n}",
        channel=NotificationChannel.WEBHOOK,
        recipient="unit.a",
        address=address,
        template="assignment",
        event_id=f"e-{n}",
        event_type="case.assigned",
        case_id=f"GF-{n}",
        body="{}",
        created_at=NOW,
    )


def rig(
    transport: Transport, *entries: OutboxEntry, concurrency: int = 4
) -> tuple[OutboxSender, MemoryOutbox, Clock, list[NotificationRecorded]]:
    outbox, clock, published = MemoryOutbox(), Clock(), []
    outbox.enqueue(list(entries))
    sender = OutboxSender(
        outbox,
        {NotificationChannel.WEBHOOK: transport},
        POLICY,
        clock,
        concurrency=concurrency,
        publish=published.extend,
    )
    return sender, outbox, clock, published


def test_delivered_first_time_is_recorded_and_published() -> None:
    sender, outbox, _, published = rig(Scripted({"http://a.test/": [Attempt(True, 204)]}), entry(1))
    sender.drain(5)
    [row] = outbox.rows()
    assert (row.status, row.attempts, row.http_status) == (OutboxStatus.DELIVERED, 1, 204)
    [record] = published
    assert record.payload.status is DeliveryStatus.DELIVERED
    assert (record.payload.notification_id, record.payload.attempts) == ("k-1", 1)
    assert record.case_id == "GF-1"
    sender.close()


def test_retries_on_the_schedule_then_a_dead_letter_with_the_reason() -> None:
    fail = Attempt(False, 503, "HTTP 503 Service Unavailable")
    transport = Scripted({"http://a.test/": [fail]})
    sender, outbox, clock, published = rig(transport, entry(1))
    sender.drain(5)
    [row] = outbox.rows()
    assert (row.status, row.attempts, row.next_at) == (
        OutboxStatus.PENDING,
        1,
        NOW + timedelta(seconds=60),
    )
    sender.drain(5)
    assert len(transport.calls) == 1  # not due yet
    clock.now = NOW + timedelta(seconds=60)
    sender.drain(5)
    clock.now = NOW + timedelta(seconds=60 + 120)
    sender.drain(5)
    [row] = outbox.rows()
    assert (row.status, row.attempts, row.error) == (
        OutboxStatus.DEAD,
        3,
        "HTTP 503 Service Unavailable",
    )
    assert transport.calls == [("k-1", 1), ("k-1", 2), ("k-1", 3)]
    [record] = published
    assert (record.payload.status, record.payload.error) == (
        DeliveryStatus.FAILED,
        "HTTP 503 Service Unavailable",
    )
    # replayed, it is sent again, its attempts counted afresh, under the same key
    assert outbox.replay(clock.now) == 1
    transport.script["http://a.test/"] = [Attempt(True, 200)]
    sender.drain(5)
    assert transport.calls[-1] == ("k-1", 1)
    assert outbox.rows()[0].status is OutboxStatus.DELIVERED
    sender.close()


def test_a_permanent_refusal_is_a_dead_letter_at_once() -> None:
    refused = Attempt(False, 404, "HTTP 404 Not Found", permanent=True)
    sender, outbox, _, published = rig(Scripted({"http://a.test/": [refused]}), entry(1))
    sender.drain(5)
    [row] = outbox.rows()
    assert (row.status, row.attempts, row.error) == (OutboxStatus.DEAD, 1, "HTTP 404 Not Found")
    assert published[0].payload.http_status == 404
    sender.close()


def test_a_channel_without_transport_is_a_dead_letter_that_says_so() -> None:
    sms = OutboxEntry(**{**entry(1).__dict__, "channel": NotificationChannel.SMS})
    sender, outbox, _, _ = rig(Scripted({}), sms)
    sender.drain(5)
    [row] = outbox.rows()
    assert row.status is OutboxStatus.DEAD and "no sms transport configured" in (row.error or "")
    sender.close()


def test_a_broken_transport_is_a_failed_attempt() -> None:
    class Broken(Transport):
        channel = NotificationChannel.WEBHOOK

        def send(self, entry: OutboxEntry, attempt: int) -> Attempt:
            raise RuntimeError("boom")

    sender, outbox, _, _ = rig(Broken(), entry(1))
    sender.drain(5)
    [row] = outbox.rows()
    assert (row.status, row.error) == (OutboxStatus.PENDING, "RuntimeError")
    sender.close()


def test_a_hung_address_holds_nobody_else_up() -> None:
    """One address hangs; the others' deliveries all finish while it does, and it takes
    at most ``rate.concurrent`` (1) of the pool's threads."""
    transport = Hanging("http://hung.test/")
    hung = [entry(i, "http://hung.test/") for i in range(5)]
    others = [entry(10 + i, f"http://ok{i % 3}.test/") for i in range(30)]
    sender, outbox, _, _ = rig(transport, *hung, *others, concurrency=4)
    started = time.monotonic()
    deadline = started + 10
    while len(transport.done) < len(others) and time.monotonic() < deadline:
        sender.step(0.05)
    took = time.monotonic() - started
    assert len(transport.done) == len(others), "the others waited on the hung address"
    assert took < 5
    assert sender.in_flight() == 1  # just the one hung attempt
    pending = [r for r in outbox.rows() if r.entry.address == "http://hung.test/"]
    assert sum(1 for r in pending if r.attempts) == 1  # the rest were never claimed
    transport.release.set()
    sender.close()


def test_an_outcome_after_the_lease_is_lost_is_not_recorded() -> None:
    class Slow(Transport):
        channel = NotificationChannel.WEBHOOK

        def send(self, entry: OutboxEntry, attempt: int) -> Attempt:
            return Attempt(True, 200)

    outbox, clock = MemoryOutbox(), Clock()
    outbox.enqueue([entry(1)])
    sender = OutboxSender(outbox, {NotificationChannel.WEBHOOK: Slow()}, POLICY, clock)
    sender.step()  # claimed and started
    clock.now = NOW + timedelta(seconds=sender.lease_seconds)
    [other] = outbox.claim(clock.now, 1, 60, "another")  # the lease ran out; another took it
    while sender.in_flight():
        sender.step(0.1)
    assert sender.stats.lost_lease == 1
    assert outbox.rows()[0].status is OutboxStatus.PENDING  # the other claim decides
    assert outbox.delivered(other.entry.key, "another", clock.now, 200)
    sender.close()

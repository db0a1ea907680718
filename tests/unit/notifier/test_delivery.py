"""Delivery with retries, and the processor's records, against a scripted fake sender."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

import notifier
from notifier import core as notifier_core
from notifier.core import Notifier, retryable
from notifier.ports import Notification, Sender
from notifier.subscriptions import Subscriber, Subscriptions
from schemas.catalogue import Site
from schemas.notifications import DeliveryStatus, NotificationPayload, NotificationRecorded
from schemas.topics import CASE_EVENTS, DEADLINES, NOTIFICATIONS
from tests.support.processing import handle_one
from tests.unit.notifier.factories import CASE_ID, NOW, assigned, escalated

Outcome = tuple[int | None, str | None] | Exception


class ScriptedSender(Sender):
    """Answers from a script per subscriber; records every call."""

    def __init__(self, script: dict[str, Iterable[Outcome]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[str] = []

    def send(self, notification: Notification) -> tuple[int | None, str | None]:
        self.calls.append(notification.subscriber)
        outcome = self.script[notification.subscriber].pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@dataclass
class Rig:
    notifier: Notifier
    sender: ScriptedSender
    sleeps: list[float]

    def records(self) -> list[NotificationPayload]:
        """Handle one assignment; check the emits and return their payloads."""
        out = []
        for emit in handle_one(self.notifier, assigned(), NOW):
            assert (emit.topic, emit.key) == (NOTIFICATIONS.name, CASE_ID)
            assert isinstance(emit.message, NotificationRecorded)
            out.append(emit.message.payload)
        return out


def make(site: Site, script: dict[str, Iterable[Outcome]], **kw: Any) -> Rig:
    subscribers = tuple(
        Subscriber(sid, f"http://{sid}.test/", frozenset({"case.assigned"})) for sid in script
    )
    sender = ScriptedSender(script)
    sleeps: list[float] = []
    notifier = Notifier(Subscriptions(subscribers), site, sender, sleep=sleeps.append, **kw)
    return Rig(notifier, sender, sleeps)


def test_processor_identity() -> None:
    assert Notifier.name == "notifier"
    assert Notifier.topics == (CASE_EVENTS.name, DEADLINES.name)


def test_delivered_first_time(small_site: Site) -> None:
    rig = make(small_site, {"a": [(200, None)]})
    event = assigned()
    [emit] = handle_one(rig.notifier, event, NOW)
    record = emit.message
    assert isinstance(record, NotificationRecorded)
    p = record.payload
    assert (p.status, p.attempts, p.http_status, p.error) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
        None,
    )
    assert (p.recipient, p.template, p.source_type) == ("a", "assignment", "case.assigned")
    assert p.source_event_id == event.event_id
    assert record.causation_id == event.event_id
    assert record.correlation_id == event.correlation_id
    assert (rig.sender.calls, rig.sleeps) == (["a"], [])


def test_500_then_200_retries_with_backoff(small_site: Site) -> None:
    rig = make(small_site, {"a": [(500, "HTTP 500"), (503, None), (204, None)]})
    [p] = rig.records()
    assert (p.status, p.attempts, p.http_status) == (DeliveryStatus.DELIVERED, 3, 204)
    assert rig.sleeps == [0.2, 1.0]


def test_gives_up_after_max_attempts_and_records_the_last_error(small_site: Site) -> None:
    script = {"a": [(None, "ConnectError: refused")] * 4}
    rig = make(small_site, script, max_attempts=4, backoff=(0.5, 2.0))
    [p] = rig.records()
    assert (p.status, p.attempts, p.http_status) == (DeliveryStatus.FAILED, 4, None)
    assert p.error == "ConnectError: refused"
    assert rig.sleeps == [0.5, 2.0, 2.0]  # the last wait repeats
    assert len(rig.sender.calls) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_client_errors_are_not_retried(small_site: Site, status: int) -> None:
    rig = make(small_site, {"a": [(status, None), (200, None)]})
    [p] = rig.records()
    assert (p.status, p.attempts, p.http_status) == (DeliveryStatus.FAILED, 1, status)
    assert p.error == f"HTTP {status}"
    assert (rig.sender.calls, rig.sleeps) == (["a"], [])


@pytest.mark.parametrize("status", [408, 429])
def test_timeout_and_too_many_requests_are_retried(small_site: Site, status: int) -> None:
    rig = make(small_site, {"a": [(status, None), (200, None)]})
    [p] = rig.records()
    assert (p.status, p.attempts, rig.sleeps) == (DeliveryStatus.DELIVERED, 2, [0.2])


def test_a_failing_subscriber_does_not_stop_the_others(small_site: Site) -> None:
    script: dict[str, Iterable[Outcome]] = {
        "broken": [RuntimeError("boom")] * 3,
        "fine": [(200, None)],
    }
    rig = make(small_site, script)
    failed, delivered = rig.records()
    assert (failed.recipient, failed.status, failed.attempts) == ("broken", "failed", 3)
    assert failed.error == "RuntimeError: boom"
    assert (delivered.recipient, delivered.status) == ("fine", "delivered")
    assert rig.sender.calls == ["broken"] * 3 + ["fine"]


def test_record_ids_are_stable_per_notification(small_site: Site) -> None:
    first = make(small_site, {"a": [(500, None), (200, None)], "b": [(200, None)]})
    again = make(small_site, {"a": [(200, None)], "b": [(404, None)]})
    ids_first = [e.message.event_id for e in handle_one(first.notifier, assigned(), NOW)]
    ids_again = [e.message.event_id for e in handle_one(again.notifier, assigned(), NOW)]
    assert ids_first == ids_again and len(set(ids_first)) == 2


def test_nothing_planned_nothing_emitted(small_site: Site) -> None:
    rig = make(small_site, {"a": []})
    assert handle_one(rig.notifier, escalated(), NOW) == []  # "a" wants assignments only
    assert rig.notifier.tick(NOW) == []
    assert rig.sender.calls == []


def test_max_attempts_one_means_no_wait(small_site: Site) -> None:
    rig = make(small_site, {"a": [(503, None)]}, max_attempts=1)
    [p] = rig.records()
    assert (p.status, p.attempts, rig.sleeps) == (DeliveryStatus.FAILED, 1, [])
    with pytest.raises(ValueError):
        make(small_site, {"a": []}, max_attempts=0)


def test_retryable() -> None:
    assert [retryable(s) for s in (None, 500, 502, 408, 429)] == [True] * 5
    assert [retryable(s) for s in (301, 400, 404, 409)] == [False] * 4


def test_the_docs_say_what_happens_to_a_failed_delivery_and_what_bounds_a_batch() -> None:
    """A wording pin: failures are recorded as failed, not "never dropped"; the batch
    bound the runtime must allow is stated where the notifier is configured."""
    docs = [notifier.__doc__, notifier_core.__doc__, Notifier.__doc__]
    assert all(d is not None and "never dropped" not in d for d in docs)
    assert "status ``failed``" in (notifier_core.__doc__ or "")
    assert "future work" in (notifier_core.__doc__ or "")
    bound = " ".join((Notifier.__doc__ or "").split())
    assert "max_poll_interval_ms" in bound
    assert "batch_size x subscribers x max_attempts x timeout" in bound

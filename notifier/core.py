"""The notifier: which subscriber hears about which event, and delivery with retries.

:func:`plan` is pure: an event, the subscriptions and the site in, the
notifications to send out. :class:`Notifier` sends each through a
:class:`~notifier.ports.Sender`, retrying what may succeed later, and records
every outcome on ``gridflow.notifications`` as a ``notification.recorded``.

A delivery still failing after ``max_attempts`` (or refused for good, e.g. a 404)
is given up: it is recorded with status ``failed``, the attempts, the last HTTP
status and error, and is not sent again. A failure is recorded, never silent, and
never stops the processor; but it is not retried later. Retrying over a longer
period (an outbox that resends failed notifications) is future work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from notifier.bodies import Subject, body_for, subject_of
from notifier.ports import Delivery, Notification, Sender
from notifier.subscriptions import Subscriber, Subscriptions
from schemas.catalogue import Site
from schemas.envelope import Envelope, Model, stable_id
from schemas.notifications import (
    DeliveryStatus,
    NotificationChannel,
    NotificationPayload,
    NotificationRecorded,
)
from schemas.processing import Inbound, Outcome, one_at_a_time
from schemas.topics import CASE_EVENTS, DEADLINES, NOTIFICATIONS, Emit

log = logging.getLogger(__name__)

PRODUCER = "notifier"
RETRY_STATUSES = frozenset({408, 429})
"""4xx answers worth retrying: a timeout and "too many requests"."""


def notification_id(event_id: str, subscriber_id: str) -> str:
    return stable_id(event_id, subscriber_id, NotificationChannel.WEBHOOK.value)


def _wants(subscriber: Subscriber, subject: Subject) -> bool:
    if subject.event_type not in subscriber.events:
        return False
    if subscriber.units is not None and not subscriber.units & subject.units:
        return False
    return subscriber.tiers is None or bool(subscriber.tiers & subject.tiers)


def plan(event: Model, subscriptions: Subscriptions, site: Site) -> list[Notification]:
    """The notifications ``event`` calls for, one per interested subscriber, in file order."""
    if not isinstance(event, Envelope):
        return []
    subject = subject_of(event)
    if subject is None:
        return []
    out = []
    for sub in subscriptions.subscribers:
        if not _wants(sub, subject):
            continue
        nid = notification_id(event.event_id, sub.id)
        body = body_for(event, subject, nid, site)
        out.append(
            Notification(
                notification_id=nid,
                subscriber=sub.id,
                url=sub.url,
                template=subject.template,
                event_id=event.event_id,
                event_type=event.type,
                case_id=event.case_id,
                body=body,
                secret=sub.secret,
            )
        )
    return out


def retryable(http_status: int | None) -> bool:
    """No answer, a 5xx, 408 or 429 may go better later; any other answer will not."""
    return http_status is None or http_status >= 500 or http_status in RETRY_STATUSES


def deliver(
    notification: Notification,
    sender: Sender,
    *,
    max_attempts: int,
    backoff: Sequence[float],
    sleep: Callable[[float], None],
) -> Delivery:
    """Send until delivered, refused for good, or out of attempts.

    The wait before attempt *n+1* is ``backoff[n-1]`` (the last one repeats). The
    result says how it ended; a delivery that did not succeed is not tried again
    (:class:`Notifier` records it as ``failed``).
    """
    status: int | None = None
    error: str | None = None
    attempt = 0
    while attempt < max_attempts:
        attempt += 1
        try:
            status, error = sender.send(notification)
        except Exception as exc:  # a broken sender must not stop the processor
            status, error = None, f"{type(exc).__name__}: {exc}"[:300]
        if status is not None and 200 <= status < 300:
            return Delivery(True, attempt, status, None)
        error = error or f"HTTP {status}"
        if not retryable(status) or attempt == max_attempts:
            break
        if backoff:
            sleep(backoff[min(attempt - 1, len(backoff) - 1)])
    return Delivery(False, attempt, status, error)


class Notifier:
    """The notifier processor: case events and deadlines in, delivery records out.

    Deliveries happen inside the batch: :meth:`handle` sends every notification,
    with its retries and backoff sleeps, before it returns, and the runtime
    commits the batch's offsets only after that. A batch therefore takes up to
    about ``batch_size x subscribers x max_attempts x timeout`` (plus the
    backoff waits), where ``timeout`` is what one attempt may take (see
    :mod:`notifier.webhook`; httpx's timeouts are per phase, so that is about
    connect + write + read). The runtime's ``max_poll_interval_ms``
    (:mod:`services.runtime.kafka`) must exceed that, or Kafka takes the
    partitions away mid-batch and the batch is delivered again (receivers
    de-duplicate on ``Idempotency-Key``). Lower ``batch_size`` for the notifier
    when subscribers are many or slow.
    """

    name = PRODUCER
    topics: tuple[str, ...] = (CASE_EVENTS.name, DEADLINES.name)

    def __init__(
        self,
        subscriptions: Subscriptions,
        site: Site,
        sender: Sender,
        max_attempts: int = 3,
        backoff: Sequence[float] = (0.2, 1.0),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.subscriptions = subscriptions
        self.site = site
        self.sender = sender
        self.max_attempts = max_attempts
        self.backoff = tuple(backoff)
        self.sleep = sleep

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        return one_at_a_time(self._notify, batch)

    def _notify(self, message: Model, now: datetime) -> list[Emit]:
        emits = []
        for n in plan(message, self.subscriptions, self.site):
            result = deliver(
                n,
                self.sender,
                max_attempts=self.max_attempts,
                backoff=self.backoff,
                sleep=self.sleep,
            )
            emits.append(self._record(n, result, message, now))
        return emits

    def tick(self, now: datetime) -> list[Emit]:
        return []

    def _record(self, n: Notification, result: Delivery, cause: Model, now: datetime) -> Emit:
        status = DeliveryStatus.DELIVERED if result.delivered else DeliveryStatus.FAILED
        ids = {"notification_id": n.notification_id, "subscriber": n.subscriber}
        extra = {**ids, "case_id": n.case_id, "attempts": result.attempts}
        if result.delivered:
            log.info("notification delivered", extra=extra)
        else:
            log.warning("notification failed", extra={**extra, "http_status": result.http_status})
        payload = NotificationPayload(
            notification_id=n.notification_id,
            channel=NotificationChannel.WEBHOOK,
            recipient=n.subscriber,
            template=n.template,
            source_event_id=n.event_id,
            source_type=n.event_type,
            status=status,
            attempts=result.attempts,
            http_status=result.http_status,
            error=result.error,
        )
        record = NotificationRecorded.derive(
            payload,
            producer=PRODUCER,
            now=now,
            case_id=n.case_id,
            cause=cause if isinstance(cause, Envelope) else None,
            key=(n.notification_id,),
        )
        return Emit(topic=NOTIFICATIONS.name, key=n.case_id, message=record)

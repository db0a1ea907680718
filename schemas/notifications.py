"""What the notifier did, on ``gridflow.notifications``: records of each delivery.

The notifier's batch records ``queued`` (or ``undeliverable``, with the reason) when
it puts a delivery in its outbox; the sender records ``delivered`` or ``failed``
once it is done with it. All of one delivery carry its ``notification_id``, which
is also the ``Idempotency-Key`` the receiver sees.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.edges import (
    Count,
    ErrorText,
    EventId,
    HttpStatus,
    MessageType,
    SubscriberId,
)
from schemas.envelope import Envelope, Model


class NotificationChannel(StrEnum):
    WEBHOOK = "webhook"  # a signed HTTP POST: a unit, a subscriber, the 12345 callback
    EMAIL = "email"  # SMTP, to a resident's address
    SMS = "sms"  # an SMS gateway's HTTP API, to a resident's phone


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # recorded in the outbox by the notifier's batch; the sender delivers it
    DELIVERED = "delivered"  # the receiver took it
    FAILED = "failed"  # given up after the last try (or refused for good): a dead letter
    UNDELIVERABLE = "undeliverable"  # nobody to send it to (no contact, channel off): why


class NotificationPayload(Model):
    notification_id: EventId = Field(description="Stable: one per (event, recipient, channel).")
    channel: NotificationChannel
    recipient: SubscriberId = Field(description="A subscriber id, never a person's name or number.")
    template: MessageType = Field(description="What was said, e.g. 'assignment', 'escalation'.")
    source_event_id: EventId
    source_type: MessageType
    status: DeliveryStatus
    attempts: Count = Field(description="Attempts made so far: 0 while queued.")
    http_status: HttpStatus | None = None
    error: ErrorText | None = None


class NotificationRecorded(Envelope):
    type: Literal["notification.recorded"] = "notification.recorded"
    payload: NotificationPayload

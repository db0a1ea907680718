"""What the notifier did, on ``gridflow.notifications``: one record per delivery."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.edges import (
    ErrorText,
    EventId,
    HttpStatus,
    MessageType,
    Seq,
    SubscriberId,
)
from schemas.envelope import Envelope, Model


class NotificationChannel(StrEnum):
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


class NotificationPayload(Model):
    notification_id: EventId = Field(description="Stable: one per (event, recipient, channel).")
    channel: NotificationChannel
    recipient: SubscriberId = Field(description="A subscriber id, never a person's name or number.")
    template: MessageType = Field(description="What was said, e.g. 'assignment', 'escalation'.")
    source_event_id: EventId
    source_type: MessageType
    status: DeliveryStatus
    attempts: Seq
    http_status: HttpStatus | None = None
    error: ErrorText | None = None


class NotificationRecorded(Envelope):
    type: Literal["notification.recorded"] = "notification.recorded"
    payload: NotificationPayload

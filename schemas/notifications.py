"""What the notifier did, on ``gridflow.notifications``: one record per delivery."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.envelope import Envelope, Model


class NotificationChannel(StrEnum):
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


class NotificationPayload(Model):
    notification_id: str = Field(description="Stable: one per (event, recipient, channel).")
    channel: NotificationChannel
    recipient: str = Field(description="A subscriber id, never a person's name or number.")
    template: str = Field(description="What was said, e.g. 'assignment', 'escalation'.")
    source_event_id: str
    source_type: str
    status: DeliveryStatus
    attempts: int = Field(ge=1)
    http_status: int | None = None
    error: str | None = None


class NotificationRecorded(Envelope):
    type: Literal["notification.recorded"] = "notification.recorded"
    payload: NotificationPayload

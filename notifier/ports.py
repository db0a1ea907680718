"""What the notifier plans (a Notification) and the port it delivers through (Sender)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Notification:
    """One message for one subscriber about one event, ready to deliver.

    ``body`` is what the receiver gets, as JSON. It never carries a resident's
    name, phone or address, nor free text that might: webhooks cross networks we
    do not control, and a unit reads the full case on its own assignment topic.
    """

    notification_id: str
    subscriber: str
    url: str
    template: str
    event_id: str
    event_type: str
    case_id: str | None
    body: dict[str, Any]
    secret: str | None = field(default=None, repr=False, compare=False)
    """The subscriber's HMAC key, when it wants signed deliveries."""


@dataclass(frozen=True)
class Delivery:
    """How delivering one notification went, after every attempt."""

    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None


class Sender(ABC):
    """Delivers a notification once; retries are the caller's."""

    @abstractmethod
    def send(self, notification: Notification) -> tuple[int | None, str | None]:
        """POST the body to the url: (HTTP status or None, error or None)."""

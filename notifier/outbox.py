"""The outbox's rules, as data: idempotency keys, the retry schedule, rate limits.

Pure: the sender (:mod:`notifier.sender`) asks these when to try an entry again,
and whether a recipient may be sent another message now. The policy is the
``delivery:`` section of the subscriptions file (:mod:`notifier.subscriptions`),
validated at load; tests give a schedule of seconds.

The wait after the n-th failed attempt is ``first_seconds x factor^(n-1)``, at most
``max_delay_seconds``, spread by up to ``jitter`` either way so that the deliveries
that failed together (a receiver down for an hour) do not all come back at once.
The jitter is drawn from the key and the attempt, not from a random source: the
schedule of an entry is the same on every sender. After ``max_attempts`` attempts
the entry is a dead letter. The defaults try 12 times over about six hours.
"""

from __future__ import annotations

import hashlib
from collections import deque
from datetime import datetime, timedelta

from pydantic import Field

from schemas.envelope import Model, stable_id
from schemas.notifications import NotificationChannel


def idempotency_key(event_id: str, recipient: str, channel: NotificationChannel) -> str:
    """One delivery's key: the same event, recipient and channel always give the same."""
    return stable_id(event_id, recipient, channel.value)


class RetryPolicy(Model):
    first_seconds: float = Field(default=30.0, gt=0, le=86_400)
    factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_delay_seconds: float = Field(default=3_600.0, gt=0, le=86_400)
    max_attempts: int = Field(default=12, ge=1, le=100)
    jitter: float = Field(default=0.2, ge=0.0, le=0.5)

    def delay(self, key: str, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) of entry ``key``."""
        base = min(self.max_delay_seconds, self.first_seconds * self.factor ** (attempt - 1))
        digest = hashlib.sha256(f"{key}:{attempt}".encode()).digest()
        spread = int.from_bytes(digest[:8], "big") / 2**64  # in [0, 1)
        return base * (1.0 - self.jitter + 2.0 * self.jitter * spread)

    def next_at(self, key: str, attempt: int, now: datetime) -> datetime | None:
        """When to try again after failed attempt ``attempt``; None: that was the last."""
        if attempt >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay(key, attempt))

    def span_seconds(self) -> float:
        """How long the schedule lasts without jitter: first attempt to last."""
        return sum(
            min(self.max_delay_seconds, self.first_seconds * self.factor**i)
            for i in range(self.max_attempts - 1)
        )


class RateLimit(Model):
    """At most ``per_minute`` messages a minute to one address (a webhook URL, a phone,
    an email address), and at most ``concurrent`` attempts to it at a time."""

    per_minute: int = Field(default=600, ge=1, le=1_000_000)
    concurrent: int = Field(default=4, ge=1, le=64)


class DeliveryPolicy(Model):
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    rate: RateLimit = Field(default_factory=RateLimit)
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Most one attempt may take, on any channel."
    )


class RecipientRates:
    """A sliding one-minute window of sends per recipient (in the sender's memory).

    Each sender process counts its own: with several senders the limit holds per
    process. ``now`` is monotonic seconds, passed in.
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._sent: dict[str, deque[float]] = {}

    def allows(self, recipient: str, now: float) -> bool:
        window = self._sent.get(recipient)
        if window is None:
            return True
        while window and window[0] <= now - 60.0:
            window.popleft()
        return len(window) < self.limit.per_minute

    def record(self, recipient: str, now: float) -> None:
        self._sent.setdefault(recipient, deque()).append(now)

    def full(self, now: float) -> set[str]:
        """Recipients that may not be sent another message now."""
        return {r for r in list(self._sent) if not self.allows(r, now)}

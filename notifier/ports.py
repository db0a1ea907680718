"""What the notifier plans and stores, and the ports it stores it through.

The notifier's batch plans :class:`OutboxEntry` rows (one delivery: one message,
one recipient, one channel) and records them in an :class:`Outbox`, in the same
transaction as its inbox. The sender (:mod:`notifier.sender`) claims them from
there, delivers each through a :class:`Transport` and records the outcome.

A resident is told things long after the report came in (closure, the request for
a rating), so the notifier keeps how to reach them, per case, in :class:`Contacts`
from the ``case.received`` until the case is closed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from schemas.notifications import NotificationChannel

RESIDENT = "resident"
"""The recipient id of every delivery to a resident: never a name or a number."""


@dataclass(frozen=True)
class OutboxEntry:
    """One delivery, decided: what to send, to whom, over which channel.

    ``key`` is the idempotency key, ``stable_id(event_id, recipient, channel)``: the
    same event planned again (a redelivered batch) gives the same key, and the
    outbox keeps one row per key. Receivers see it as ``Idempotency-Key``.

    ``address`` is a URL for a webhook, an email address or a phone number for a
    resident: personal data, kept only in the outbox table.
    """

    key: str
    channel: NotificationChannel
    recipient: str
    address: str
    template: str
    event_id: str
    event_type: str
    case_id: str | None
    body: str
    """JSON text for a webhook (sent and signed as these bytes), else the message text."""
    subject: str | None = None
    """An email's subject line; None for other channels."""
    created_at: datetime | None = None


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or claimed, under a lease)
    DELIVERED = "delivered"
    DEAD = "dead"  # the last try failed, or the receiver refused it for good: a dead letter


@dataclass(frozen=True)
class Claimed:
    """An entry a sender holds under a lease: ``attempt`` is the attempt it is making."""

    entry: OutboxEntry
    attempt: int
    token: str
    """The claim's token: an outcome is recorded only by the claim that still holds it."""


@dataclass(frozen=True)
class OutboxRow:
    """An entry and where it stands, for operators (``gridflow notify outbox``)."""

    entry: OutboxEntry
    status: OutboxStatus
    attempts: int
    next_at: datetime | None
    lease_until: datetime | None
    http_status: int | None
    error: str | None
    done_at: datetime | None


class Outbox(ABC):
    """The deliveries decided and not yet done, and what became of the others."""

    @abstractmethod
    def enqueue(self, entries: Sequence[OutboxEntry]) -> None:
        """Record ``entries``, each due at its ``created_at``; a key already there is
        left as it is (a batch delivered again queues nothing twice)."""

    @abstractmethod
    def claim(
        self,
        now: datetime,
        limit: int,
        lease_seconds: float,
        token: str,
        skip: Collection[str] = (),
        room: Mapping[str, int] | None = None,
        per_address: int | None = None,
    ) -> list[Claimed]:
        """Take up to ``limit`` due entries under a lease until ``now + lease_seconds``.

        Due: pending, ``next_at <= now`` and no live lease (an expired lease, the
        sender that held it having died, is due again). Addresses in ``skip`` (over
        their rate) are left for another round; of any other, at most its ``room``
        (default ``per_address``, no bound when None) oldest are taken. Each claim
        counts an attempt.
        """

    @abstractmethod
    def release(self, key: str, token: str) -> bool:
        """Hand a claimed entry back untried (its recipient is busy): the lease lifted
        and the attempt uncounted."""

    @abstractmethod
    def delivered(self, key: str, token: str, at: datetime, http_status: int | None) -> bool:
        """Mark it delivered, if ``token`` still holds it; whether it did."""

    def delivered_all(self, done: Sequence[tuple[str, str, int | None]], at: datetime) -> set[str]:
        """Mark each ``(key, token, http_status)`` delivered; the keys still held."""
        return {key for key, token, status in done if self.delivered(key, token, at, status)}

    @abstractmethod
    def retry(
        self, key: str, token: str, at: datetime, error: str, http_status: int | None
    ) -> bool:
        """Release it for another attempt at ``at``, with the last error."""

    @abstractmethod
    def dead(self, key: str, token: str, at: datetime, error: str, http_status: int | None) -> bool:
        """Give it up: a dead letter with the reason."""

    @abstractmethod
    def replay(self, now: datetime, keys: Collection[str] | None = None) -> int:
        """Dead letters (all, or those of ``keys``) pending again from ``now``, attempts
        counted afresh; how many."""

    @abstractmethod
    def rows(self, status: OutboxStatus | None = None, limit: int = 100) -> list[OutboxRow]:
        """Entries, newest first, optionally of one status."""

    @abstractmethod
    def next_due(self) -> datetime | None:
        """The earliest time a pending entry is due (its next attempt, or its lease's end)."""


@dataclass(frozen=True)
class Contact:
    """How to reach the resident who reported a case (personal data).

    ``channel`` is the report's channel (:class:`schemas.reports.Channel` value);
    ``callback_url`` is the channel's own system's callback (a 12345 work order's,
    ``Case.source.callback_url``).
    """

    channel: str
    phone: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    callback_url: str | None = field(default=None, repr=False)
    external_id: str | None = None
    callback_reference: str | None = None
    """The channel's reference to quote in its callback (the work order's)."""


class Contacts(ABC):
    """Residents' contacts by case id, kept from the report until the case is closed."""

    @abstractmethod
    def remember(self, contacts: Mapping[str, Contact]) -> None: ...

    @abstractmethod
    def recall(self, case_ids: Collection[str]) -> dict[str, Contact]: ...

    @abstractmethod
    def forget(self, case_ids: Collection[str]) -> None: ...


@dataclass(frozen=True)
class Attempt:
    """How one attempt went. ``permanent``: trying again cannot help (a 404, a bad
    address), so the entry goes to the dead letters at once."""

    ok: bool
    http_status: int | None = None
    error: str | None = None
    permanent: bool = False


class Transport(ABC):
    """Delivers one entry once, over one channel; retries are the sender's."""

    channel: NotificationChannel

    @abstractmethod
    def send(self, entry: OutboxEntry, attempt: int) -> Attempt: ...

    def close(self) -> None:  # noqa: B027 - most transports hold nothing
        """Release connections."""

"""The outbox and the contacts in memory: for the pure tests, and the port suite's
reference (the SQL adapter, :mod:`notifier.sql`, must behave the same)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from notifier.ports import (
    Claimed,
    Contact,
    Contacts,
    Outbox,
    OutboxEntry,
    OutboxRow,
    OutboxStatus,
)


@dataclass
class _Row:
    entry: OutboxEntry
    seq: int
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_at: datetime | None = None
    lease_until: datetime | None = None
    token: str | None = None
    http_status: int | None = None
    error: str | None = None
    done_at: datetime | None = None


class MemoryOutbox(Outbox):
    def __init__(self) -> None:
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()  # the sender's threads share it

    def enqueue(self, entries: Sequence[OutboxEntry]) -> None:
        with self._lock:
            for e in entries:
                if e.key not in self._rows:
                    self._rows[e.key] = _Row(e, len(self._rows), next_at=e.created_at)

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
        with self._lock:
            due = [
                r
                for r in self._rows.values()
                if r.status is OutboxStatus.PENDING
                and r.entry.address not in skip
                and (r.next_at is None or r.next_at <= now)
                and (r.lease_until is None or r.lease_until <= now)
            ]
            due.sort(key=lambda r: (r.next_at or now, r.seq))
            taken: dict[str, int] = {}
            chosen = []
            for r in due:
                address = r.entry.address
                cap = (room or {}).get(address, per_address)
                if cap is not None and taken.get(address, 0) >= cap:
                    continue
                taken[address] = taken.get(address, 0) + 1
                chosen.append(r)
            out = []
            for r in chosen[:limit]:
                r.attempts += 1
                r.lease_until = now + timedelta(seconds=lease_seconds)
                r.token = token
                out.append(Claimed(r.entry, r.attempts, token))
            return out

    def _held(self, key: str, token: str) -> _Row | None:
        row = self._rows.get(key)
        if row is None or row.token != token or row.status is not OutboxStatus.PENDING:
            return None
        return row

    def release(self, key: str, token: str) -> bool:
        with self._lock:
            row = self._held(key, token)
            if row is None:
                return False
            row.attempts -= 1
            row.lease_until = row.token = None
            return True

    def delivered(self, key: str, token: str, at: datetime, http_status: int | None) -> bool:
        with self._lock:
            row = self._held(key, token)
            if row is None:
                return False
            row.status, row.done_at, row.http_status, row.error = (
                OutboxStatus.DELIVERED,
                at,
                http_status,
                None,
            )
            row.lease_until = row.token = None
            return True

    def retry(
        self, key: str, token: str, at: datetime, error: str, http_status: int | None
    ) -> bool:
        with self._lock:
            row = self._held(key, token)
            if row is None:
                return False
            row.next_at, row.error, row.http_status = at, error, http_status
            row.lease_until = row.token = None
            return True

    def dead(self, key: str, token: str, at: datetime, error: str, http_status: int | None) -> bool:
        with self._lock:
            row = self._held(key, token)
            if row is None:
                return False
            row.status, row.done_at, row.error, row.http_status = (
                OutboxStatus.DEAD,
                at,
                error,
                http_status,
            )
            row.lease_until = row.token = None
            return True

    def replay(self, now: datetime, keys: Collection[str] | None = None) -> int:
        with self._lock:
            n = 0
            for row in self._rows.values():
                if row.status is OutboxStatus.DEAD and (keys is None or row.entry.key in keys):
                    row.status, row.attempts, row.next_at, row.done_at = (
                        OutboxStatus.PENDING,
                        0,
                        now,
                        None,
                    )
                    n += 1
            return n

    def rows(self, status: OutboxStatus | None = None, limit: int = 100) -> list[OutboxRow]:
        with self._lock:
            found = [r for r in self._rows.values() if status is None or r.status is status]
            found.sort(key=lambda r: -r.seq)
            return [
                OutboxRow(
                    replace(r.entry),
                    r.status,
                    r.attempts,
                    r.next_at,
                    r.lease_until,
                    r.http_status,
                    r.error,
                    r.done_at,
                )
                for r in found[:limit]
            ]

    def next_due(self) -> datetime | None:
        with self._lock:
            times = [
                max(t for t in (r.next_at, r.lease_until) if t is not None)
                for r in self._rows.values()
                if r.status is OutboxStatus.PENDING and (r.next_at or r.lease_until)
            ]
            return min(times, default=None)


class MemoryContacts(Contacts):
    def __init__(self) -> None:
        self._by_case: dict[str, Contact] = {}

    def remember(self, contacts: Mapping[str, Contact]) -> None:
        self._by_case.update(contacts)

    def recall(self, case_ids: Collection[str]) -> dict[str, Contact]:
        return {c: self._by_case[c] for c in case_ids if c in self._by_case}

    def forget(self, case_ids: Collection[str]) -> None:
        for c in case_ids:
            self._by_case.pop(c, None)

"""In-memory DeadlineStore, for unit tests and the port test suite."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from escalator.ports import Deadline, DeadlineStore
from schemas.cases import DeadlineKind


def _same(row: Deadline | None, deadline: Deadline) -> bool:
    """``row`` is still ``deadline``: the same assignment's, due at the same time."""
    return row is not None and row.seq == deadline.seq and row.due_at == deadline.due_at


class MemoryDeadlineStore(DeadlineStore):
    def __init__(self) -> None:
        self._rows: dict[tuple[str, DeadlineKind], Deadline] = {}

    def put(self, deadline: Deadline) -> None:
        self._rows[(deadline.case_id, deadline.kind)] = deadline

    def drop(self, case_id: str, kinds: Collection[DeadlineKind] | None = None) -> None:
        for kind in list(DeadlineKind) if kinds is None else kinds:
            self._rows.pop((case_id, kind), None)

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        hits = [d for d in self._rows.values() if d.due_at <= now]
        return sorted(hits, key=lambda d: (d.due_at, d.case_id, d.kind))[:limit]

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        hits = [
            d
            for d in self._rows.values()
            if not d.warned and d.warn_at is not None and d.warn_at <= now < d.due_at
        ]
        return sorted(hits, key=lambda d: (d.warn_at, d.case_id, d.kind))[:limit]

    def remove(self, deadline: Deadline) -> bool:
        key = (deadline.case_id, deadline.kind)
        if not _same(self._rows.get(key), deadline):
            return False
        del self._rows[key]
        return True

    def mark_warned(self, deadline: Deadline) -> bool:
        key = (deadline.case_id, deadline.kind)
        row = self._rows.get(key)
        if row is None or row.warned or not _same(row, deadline):
            return False
        self._rows[key] = replace(row, warned=True)
        return True

    def get(self, case_id: str) -> list[Deadline]:
        return sorted((d for (c, _), d in self._rows.items() if c == case_id), key=lambda d: d.kind)

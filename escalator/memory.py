"""In-memory DeadlineStore, for unit tests and the port test suite."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from escalator.ports import Deadline, DeadlineStore


class MemoryDeadlineStore(DeadlineStore):
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Deadline] = {}
        self._paused: dict[tuple[str, str], Deadline] = {}  # apart, as in SQL

    def rows(self) -> list[Deadline]:
        """Every armed deadline, by (case_id, slot): for tests to look at."""
        return sorted(self._rows.values(), key=lambda d: (d.case_id, d.slot))

    def paused(self) -> list[Deadline]:
        """Every paused deadline, by (case_id, slot): for tests to look at."""
        return sorted(self._paused.values(), key=lambda d: (d.case_id, d.slot))

    def load(self, case_ids: Collection[str]) -> dict[str, list[Deadline]]:
        out: dict[str, list[Deadline]] = {c: [] for c in case_ids}
        for d in sorted([*self.rows(), *self.paused()], key=lambda d: (d.case_id, d.slot)):
            if d.case_id in out:
                out[d.case_id].append(d)
        return out

    def _table(self, d: Deadline) -> dict[tuple[str, str], Deadline]:
        return self._paused if d.paused_at is not None else self._rows

    def write(self, removed: Sequence[Deadline], added: Sequence[Deadline]) -> None:
        # all or nothing, as the SQL store's transaction would be
        gone = [d for d in removed if self._in(self._table(d), d) is not None]
        slots = [(d.case_id, d.slot) for d in added]
        left = {*self._rows, *self._paused} - {(d.case_id, d.slot) for d in gone}
        if len(set(slots)) < len(slots) or any(s in left for s in slots):
            raise ValueError("a deadline is already armed in that (case, kind) slot")
        for d in gone:
            del self._table(d)[(d.case_id, d.slot)]
        for slot, d in zip(slots, added, strict=True):
            self._table(d)[slot] = d

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        hits = [d for d in self._rows.values() if d.due_at <= now]
        return sorted(hits, key=lambda d: (d.due_at, d.case_id, d.slot))[:limit]

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        hits = [
            d
            for d in self._rows.values()
            if not d.warned and d.warn_at is not None and d.warn_at <= now < d.due_at
        ]
        return sorted(hits, key=lambda d: (d.warn_at, d.case_id, d.slot))[:limit]

    def next_due(self) -> datetime | None:
        times = [d.due_at for d in self._rows.values()]
        times += [d.warn_at for d in self._rows.values() if not d.warned and d.warn_at]
        return min(times, default=None)

    def _exactly(self, deadline: Deadline) -> Deadline | None:
        return self._in(self._rows, deadline)

    @staticmethod
    def _in(table: dict[tuple[str, str], Deadline], deadline: Deadline) -> Deadline | None:
        row = table.get((deadline.case_id, deadline.slot))
        return row if row is not None and row.exact == deadline.exact else None

    def remove(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        out = []
        for d in deadlines:
            if self._exactly(d) is not None:
                del self._rows[(d.case_id, d.slot)]
                out.append(d)
        return out

    def provisional(self, after: tuple[str, str] | None, limit: int) -> list[Deadline]:
        hits = [d for d in self.rows() if d.provisional]
        if after is not None:
            hits = [d for d in hits if (d.case_id, d.slot) > after]
        return hits[:limit]

    def reschedule(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        out = []
        for old, new in pairs:
            if (old.case_id, old.slot) != (new.case_id, new.slot):
                raise ValueError("a deadline is rescheduled in its own (case, kind) slot")
            if self._exactly(old) is not None:
                self._rows[(new.case_id, new.slot)] = new
                out.append(new)
        return out

    def advance_warnings(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        out = []
        for old, new in pairs:
            row = self._exactly(old)
            if row is not None and not row.warned and row.warn_at == old.warn_at:
                self._rows[(old.case_id, old.slot)] = replace(
                    row, warn_at=new.warn_at, warned=new.warned
                )
                out.append(old)
        return out

    def mark_warned(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        out = []
        for d in deadlines:
            row = self._exactly(d)
            if row is not None and not row.warned:
                self._rows[(d.case_id, d.slot)] = replace(row, warned=True)
                out.append(d)
        return out

"""The archive's figures: what ``gridflow demo`` prints at the end and ``gridflow report`` prints
(both through :func:`services.demo.summary.print_report`).

:class:`ArchiveReport` holds counts only; the rates are derived from them, so every
backend yields identical figures. The SQL store computes the counts with GROUP BY
queries (``archive.sql``); the in-memory store with :func:`tally` below. Either
way: ``store.report()`` inside the store's transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.cases import CaseEscalated, Satisfaction, Stage
from schemas.deadlines import DeadlineLapsed, DeadlineWarning
from schemas.notifications import DeliveryStatus, NotificationRecorded

UNKNOWN = "unknown"  # the key for cases whose stage, tier or unit is not known yet
SATISFIED_FROM = min(r for r in range(1, 6) if Satisfaction.of(r) is not Satisfaction.UNSATISFIED)
"""The lowest rating 满意率 counts: 满意 (4-5) and 基本满意 (3), as the hotlines and
archive/kpi.py count it; from :meth:`schemas.cases.Satisfaction.of`, its one source."""
ESCALATED = CaseEscalated.TYPE
LAPSED = DeadlineLapsed.TYPE
WARNING = DeadlineWarning.TYPE
NOTIFICATION = NotificationRecorded.TYPE


@dataclass(frozen=True)
class ArchiveReport:
    """Counts over the archive. Dict keys are sorted; a missing key means zero."""

    cases: int  # cases received (受理), i.e. every case the archive knows
    closed: int  # closed (结案)
    open_by_stage: Mapping[str, int]
    by_tier: Mapping[str, int]  # every case by its holder's tier (the closing one once closed)
    by_unit: Mapping[str, int]
    events: int
    escalations: int
    escalations_by_tier: Mapping[str, int]  # by the tier escalated from
    deadline_warnings: int
    lapsed_deadlines: int
    dead_letters_by_reason: Mapping[str, int]
    closed_on_time: int
    ratings: int
    satisfied: int  # ratings >= SATISFIED_FROM
    rating_sum: int
    notifications: Mapping[str, int]  # by delivery status
    open_overdue: int = 0  # open cases with a lapsed deadline: due, and not done in time

    @property
    def open(self) -> int:
        return self.cases - self.closed

    @property
    def dead_letters(self) -> int:
        return sum(self.dead_letters_by_reason.values())

    @property
    def on_time_rate(self) -> float | None:
        """及时办结率: closed on time / (closed + open ones past a deadline): the open cases
        that are overdue count against it (archive/kpi.py has the per-period figure)."""
        due = self.closed + self.open_overdue
        return self.closed_on_time / due if due else None

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: satisfied ratings / ratings."""
        return self.satisfied / self.ratings if self.ratings else None

    @property
    def mean_rating(self) -> float | None:
        return self.rating_sum / self.ratings if self.ratings else None

    @property
    def notifications_delivered(self) -> int:
        return self.notifications.get(DeliveryStatus.DELIVERED.value, 0)

    @property
    def notifications_failed(self) -> int:
        return self.notifications.get(DeliveryStatus.FAILED.value, 0)


def counts(pairs: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    """GROUP BY rows as a sorted dict; a None key becomes UNKNOWN."""
    out: Counter[str] = Counter()
    for key, n in pairs:
        out[UNKNOWN if key is None else str(key)] += int(n)
    return dict(sorted(out.items()))


def tally(
    cases: Iterable[Any],
    events: Iterable[tuple[str, Mapping[str, Any]]],
    dead_letter_reasons: Iterable[str],
) -> ArchiveReport:
    """The report computed in Python, from case rows, (type, payload) pairs and reasons."""
    rows = list(cases)
    closed = [r for r in rows if r.stage == Stage.CLOSED.value]
    ratings = [r.rating for r in rows if r.rating is not None]
    types: Counter[str] = Counter()
    from_tier: Counter[str | None] = Counter()
    status: Counter[str | None] = Counter()
    for kind, payload in events:
        types[kind] += 1
        if kind == ESCALATED:
            from_tier[payload.get("from_tier")] += 1
        elif kind == NOTIFICATION:
            status[payload.get("status")] += 1
    return ArchiveReport(
        cases=len(rows),
        closed=len(closed),
        open_by_stage=counts(
            Counter(r.stage for r in rows if r.stage != Stage.CLOSED.value).items()
        ),
        by_tier=counts(Counter(r.tier for r in rows).items()),
        by_unit=counts(Counter(r.unit_id for r in rows).items()),
        events=sum(types.values()),
        escalations=types[ESCALATED],
        escalations_by_tier=counts(from_tier.items()),
        deadline_warnings=types[WARNING],
        lapsed_deadlines=types[LAPSED],
        dead_letters_by_reason=counts(Counter(dead_letter_reasons).items()),
        closed_on_time=sum(1 for r in closed if r.on_time),
        ratings=len(ratings),
        satisfied=sum(1 for r in ratings if r >= SATISFIED_FROM),
        rating_sum=sum(ratings),
        notifications=counts(status.items()),
        open_overdue=sum(
            1 for r in rows if r.stage != Stage.CLOSED.value and (r.lapsed_deadlines or 0) > 0
        ),
    )

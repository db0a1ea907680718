"""A seeded archive for the KPI tests: seven case rows whose figures are worked out by
hand in tests/unit/archive/test_kpi.py (and counted in SQLite and PostgreSQL in
tests/integration/archive/test_kpi_store.py). March 2026 has no holiday or make-up day:
its working days are Monday to Friday. Each row's handling time is stamped as the
archive stamps it (:data:`CLOCK`)."""

from __future__ import annotations

from datetime import datetime

from archive.kpi import HandlingClock
from archive.projection import CaseRow
from escalator.calendar import WorkingCalendar
from tests.support.sites import SHANGHAI

A, B = "s.urban", "s.command"
AS_OF = datetime(2026, 4, 2, 12, tzinfo=SHANGHAI)
CLOCK = HandlingClock(WorkingCalendar(), SHANGHAI)


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def row(case_id: str, unit: str, **kw: object) -> CaseRow:
    base: dict[str, object] = {
        "channel": "hotline_12345",
        "category": "street.parking",
        "grid_id": "s-a-g1",
        "tier": "street",
        "owner_tier": "street",
        "seq": 1,
        "external_id": f"WO-{case_id}",
    }
    base.update(kw)
    return CLOCK.stamp(CaseRow(case_id=case_id, unit_id=unit, **base))  # type: ignore[arg-type]


ROWS = [
    # C1: accepted in time, handled in time, followed up (responded, solved), rated 5
    row(
        "C1",
        A,
        stage="closed",
        received_at=at(3, 2, 9),
        assigned_at=at(3, 2, 9, 5),
        accept_due_at=at(3, 3),
        first_accepted_at=at(3, 2, 10),
        accepted_at=at(3, 2, 10),
        due_at=at(3, 9),
        handled_at=at(3, 5, 16),
        closed_at=at(3, 6, 10),
        followed_up_at=at(3, 6, 9),
        responded=True,
        resolved=True,
        rated_at=at(3, 6, 10),
        rating=5,
    ),
    # C2: accepted late, escalated once, reopened once, handled late, rated 3
    row(
        "C2",
        A,
        stage="closed",
        received_at=at(3, 3, 9),
        assigned_at=at(3, 3, 9, 5),
        accept_due_at=at(3, 4),
        first_accepted_at=at(3, 4, 9),
        due_at=at(3, 10),
        handled_at=at(3, 12, 10),
        closed_at=at(3, 13, 10),
        escalations=1,
        reopenings=1,
        lapsed_deadlines=1,
        followed_up_at=at(3, 13, 9),
        responded=True,
        resolved=False,
        rated_at=at(3, 13, 10),
        rating=3,
    ),
    # C3: open, accepted in time, referred up once (an escalation too), supervised twice,
    # past its due time
    row(
        "C3",
        A,
        stage="accepted",
        received_at=at(3, 4, 9),
        assigned_at=at(3, 4, 9),
        accept_due_at=at(3, 5),
        first_accepted_at=at(3, 4, 11),
        due_at=at(3, 11),
        escalations=1,
        referrals=1,
        supervisions=2,
    ),
    # C4: open, never accepted, its same-day limit passed; due after AS_OF
    row(
        "C4",
        A,
        stage="assigned",
        received_at=at(3, 30, 10),
        assigned_at=at(3, 30, 10),
        accept_due_at=at(3, 31),
        due_at=at(4, 6),
    ),
    # C5: the other unit's, in time throughout; followed up: not contacted, solved not asked
    row(
        "C5",
        B,
        channel="grid_app",
        stage="closed",
        received_at=at(3, 2, 8),
        assigned_at=at(3, 2, 9),
        accept_due_at=at(3, 3),
        first_accepted_at=at(3, 2, 9, 30),
        due_at=at(3, 5),
        handled_at=at(3, 4, 12),
        closed_at=at(3, 5, 9),
        followed_up_at=at(3, 5, 8),
        responded=False,
        rated_at=at(3, 5, 9),
        rating=4,
    ),
    # C6: the other unit's, received in April, its accept limit not passed by AS_OF
    row(
        "C6",
        B,
        stage="assigned",
        received_at=at(4, 2, 10),
        assigned_at=at(4, 2, 10),
        accept_due_at=at(4, 3),
        due_at=at(4, 9),
    ),
    # C7: April, accepted in time, due after AS_OF
    row(
        "C7",
        A,
        stage="accepted",
        received_at=at(4, 1, 9),
        assigned_at=at(4, 1, 9),
        accept_due_at=at(4, 2),
        first_accepted_at=at(4, 1, 10),
        due_at=at(4, 8),
    ),
]

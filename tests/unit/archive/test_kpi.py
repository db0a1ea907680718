"""Every KPI figure against numbers worked out by hand on the seeded rows
(tests/unit/archive/kpi_seed.py), by unit and month, and a few by week and channel."""

from __future__ import annotations

import pytest

from archive.kpi import By, Figures, Period, compute, totals
from tests.support.sites import SHANGHAI
from tests.unit.archive.kpi_seed import AS_OF, ROWS, A, B


def by_unit_month() -> dict[tuple[str, str], Figures]:
    found = compute(ROWS, By.UNIT, Period.MONTH, AS_OF, SHANGHAI)
    return {(f.group, f.period): f for f in found}


# Worked out by hand (AS_OF = 2026-04-02 12:00):
#
# s.urban, 2026-03: received C1 C2 C3 C4 = 4, closed of them C1 C2: completion (办结率) 0.5.
#   acceptance (受理率): first dispatched in March and settled: C1, C2, C3, C4 (its limit
#     3-31 00:00 passed) = 4; in time: C1 (10:00 <= 3-3 00:00), C3 = 2 -> 0.5.
#   on-time completion (按时办结率): due in March: C1 (3-9), C2 (3-10), C3 (3-11, open,
#     past due) = 3 (C4 is due 4-6, after AS_OF); closed with the handling report by the
#     due time: C1 only (C2 handled 3-12) -> 1/3.
#   follow-ups in March: C1 (responded, solved), C2 (responded, not solved): response
#     2/2 = 1.0, resolution 1/2 = 0.5.
#   ratings in March: C1 5 (satisfied), C2 3 (basically satisfied): 2/2 = 1.0.
#   escalations: C2 1, C3 1 - 1 referral = 0 -> 1; referrals 1 (C3); supervisions 2 (C3);
#     reopenings 1 (C2).
#   handling time of the cases closed in March: C1 3-2 -> 3-5: 3, 4, 5 March = 3 working
#     days; C2 3-3 -> 3-12: 4, 5, 6, 9, 10, 11, 12 March = 7; mean 5.0; p90 by nearest
#     rank: the ceil(0.9 * 2) = 2nd smallest = 7.
# s.urban, 2026-04: received C7 = 1, open: completion 0/1; acceptance C7 1/1; nothing due by
#   AS_OF.
# s.command, 2026-03: received C5 = 1, closed: completion 1/1; acceptance 1/1; on-time
#   completion 1/1 (handled 3-4 12:00, due 3-5); follow-up: not contacted: response 0/1,
#   resolution not asked; rating 4: 1/1; handling 3-2 -> 3-4 = 2 days, mean 2.0, p90 2.
# s.command, 2026-04: received C6 = 1, open: completion 0/1; its acceptance is not settled:
#   none counted.
EXPECTED = {
    (A, "2026-03"): dict(
        received=4,
        received_closed=2,
        completion_rate=0.5,
        acceptance_due=4,
        accepted_on_time=2,
        acceptance_rate=0.5,
        completion_due=3,
        completed_on_time=1,
        on_time_rate=1 / 3,
        response_asked=2,
        responded=2,
        response_rate=1.0,
        resolution_asked=2,
        resolved=1,
        resolution_rate=0.5,
        ratings=2,
        satisfied=1,
        basically_satisfied=1,
        unsatisfied=0,
        satisfaction_rate=1.0,
        escalations=1,
        referrals=1,
        supervisions=2,
        reopenings=1,
        closed=2,
        handled_cases=2,
        mean_handling_days=5.0,
        p90_handling_days=7,
    ),
    (A, "2026-04"): dict(
        received=1,
        received_closed=0,
        completion_rate=0.0,
        acceptance_due=1,
        accepted_on_time=1,
        acceptance_rate=1.0,
        completion_due=0,
        completed_on_time=0,
        on_time_rate=None,
        response_asked=0,
        responded=0,
        response_rate=None,
        resolution_asked=0,
        resolved=0,
        resolution_rate=None,
        ratings=0,
        satisfied=0,
        basically_satisfied=0,
        unsatisfied=0,
        satisfaction_rate=None,
        escalations=0,
        referrals=0,
        supervisions=0,
        reopenings=0,
        closed=0,
        handled_cases=0,
        mean_handling_days=None,
        p90_handling_days=None,
    ),
    (B, "2026-03"): dict(
        received=1,
        received_closed=1,
        completion_rate=1.0,
        acceptance_due=1,
        accepted_on_time=1,
        acceptance_rate=1.0,
        completion_due=1,
        completed_on_time=1,
        on_time_rate=1.0,
        response_asked=1,
        responded=0,
        response_rate=0.0,
        resolution_asked=0,
        resolved=0,
        resolution_rate=None,
        ratings=1,
        satisfied=1,
        basically_satisfied=0,
        unsatisfied=0,
        satisfaction_rate=1.0,
        escalations=0,
        referrals=0,
        supervisions=0,
        reopenings=0,
        closed=1,
        handled_cases=1,
        mean_handling_days=2.0,
        p90_handling_days=2,
    ),
    (B, "2026-04"): dict(
        received=1,
        received_closed=0,
        completion_rate=0.0,
        acceptance_due=0,
        accepted_on_time=0,
        acceptance_rate=None,
        completion_due=0,
        completed_on_time=0,
        on_time_rate=None,
        response_asked=0,
        responded=0,
        response_rate=None,
        resolution_asked=0,
        resolved=0,
        resolution_rate=None,
        ratings=0,
        satisfied=0,
        basically_satisfied=0,
        unsatisfied=0,
        satisfaction_rate=None,
        escalations=0,
        referrals=0,
        supervisions=0,
        reopenings=0,
        closed=0,
        handled_cases=0,
        mean_handling_days=None,
        p90_handling_days=None,
    ),
}


def check(found: dict[tuple[str, str], Figures]) -> None:
    assert set(found) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        got = found[key].as_dict()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value) if value is not None else got[name] is None, (
                key,
                name,
                got[name],
                value,
            )


def test_every_figure_by_unit_and_month() -> None:
    check(by_unit_month())


def test_by_week_and_channel() -> None:
    weeks = {f.period: f.received for f in compute(ROWS, By.ALL, Period.WEEK, AS_OF, SHANGHAI)}
    # received: W10 (2-8 March): C1 C2 C3 C5; W14 (30 March - 5 April): C4 C7 C6; W11
    # (9-15 March) has C1 C2 C3 due and C2 closed, and nothing received
    assert weeks == {"2026-W10": 4, "2026-W11": 0, "2026-W14": 3}
    channels = compute(ROWS, By.CHANNEL, Period.MONTH, AS_OF, SHANGHAI)
    march = {f.group: f for f in channels if f.period == "2026-03"}
    assert {g: f.received for g, f in march.items()} == {"grid_app": 1, "hotline_12345": 4}
    days = {f.period for f in compute(ROWS, By.ALL, Period.DAY, AS_OF, SHANGHAI)}
    assert "2026-03-02" in days and "2026-04-02" in days


def test_totals_sum_the_counts_and_rates_follow() -> None:
    total = totals(by_unit_month().values())
    # acceptance: 2 + 1 + 1 in time of 4 + 1 + 1 + 0 settled
    assert (total.accepted_on_time, total.acceptance_due) == (4, 6)
    assert total.on_time_rate == pytest.approx(2 / 4)  # C1, C5 of C1, C2, C3, C5
    assert total.handling_days == {2: 1, 3: 1, 7: 1}


def test_since_and_until_bound_the_days_counted() -> None:
    found = compute(
        ROWS,
        By.ALL,
        Period.MONTH,
        AS_OF,
        SHANGHAI,
        since=AS_OF.date().replace(month=4, day=1),
    )
    assert [(f.period, f.received) for f in found] == [("2026-04", 2)]


def test_a_duplicate_is_counted_apart_and_in_no_other_figure() -> None:
    """A report linked to an open case (重复件, stage ``duplicate``) adds one duplicate to
    its period and nothing else: not received, not due, not rated."""
    from dataclasses import replace

    from archive.projection import DUPLICATE

    base = compute(ROWS, By.ALL, Period.MONTH, AS_OF, SHANGHAI)
    seeded = next(r for r in ROWS if r.received_at is not None and r.rating is not None)
    twin = replace(seeded, case_id="GF-DUPLICATE", stage=DUPLICATE)
    found = compute([*ROWS, twin], By.ALL, Period.MONTH, AS_OF, SHANGHAI)
    month = next(f.period for f in base if f.received)
    before = {f.period: f for f in base}[month]
    after = {f.period: f for f in found}[month]
    assert after.duplicates == before.duplicates + 1
    assert replace(after, duplicates=before.duplicates) == before


def test_the_archive_stamps_the_hand_counted_handling_days() -> None:
    """C1 3-2 -> 3-5: 3 working days; C2 3-3 -> 3-12: 7; C5 3-2 -> 3-4: 2; none unhandled."""
    days = {r.case_id: r.handling_days for r in ROWS}
    assert days == {"C1": 3, "C2": 7, "C3": None, "C4": None, "C5": 2, "C6": None, "C7": None}


def test_p90_by_nearest_rank_in_integers() -> None:
    """ceil(0.9 n) in integer arithmetic: 0.9 * 70 is 63.00000000000001 in floats, whose
    ceiling would pick the 64th; the 63rd is the nearest rank."""
    f = Figures("g", "p", handling_days={d: 1 for d in range(1, 71)})
    assert (f.handled_cases, f.p90_handling_days, f.mean_handling_days) == (70, 63, 35.5)
    assert Figures("g", "p", handling_days={4: 9, 30: 1}).p90_handling_days == 4
    assert Figures("g", "p", handling_days={4: 8, 30: 2}).p90_handling_days == 30
    assert Figures("g", "p", handling_days={5: 1}).p90_handling_days == 5


def test_a_case_counts_for_its_current_holder_with_all_its_dates() -> None:
    """C1 moved (escalated) to s.command after closing in March's figures for s.urban:
    every figure it adds, its March acceptance included, is s.command's now."""
    from dataclasses import replace

    moved = [replace(r, unit_id=B, seq=2) if r.case_id == "C1" else r for r in ROWS]
    found = {(f.group, f.period): f for f in compute(moved, By.UNIT, Period.MONTH, AS_OF, SHANGHAI)}
    a, b = found[(A, "2026-03")], found[(B, "2026-03")]
    assert (a.received, a.accepted_on_time, a.completed_on_time, a.ratings) == (3, 1, 0, 1)
    assert (b.received, b.accepted_on_time, b.completed_on_time, b.ratings) == (2, 2, 2, 2)
    assert b.handling_days == {2: 1, 3: 1}


def test_a_scope_keeps_only_the_rows_it_admits() -> None:
    from archive.kpi import OneOf

    scoped = compute(
        ROWS, By.ALL, Period.MONTH, AS_OF, SHANGHAI, scope=OneOf("unit_id", frozenset({B}))
    )
    assert [(f.period, f.received) for f in scoped] == [("2026-03", 1), ("2026-04", 1)]

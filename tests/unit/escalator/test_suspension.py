"""Suspension and extension in the escalator: stopped clocks do not lapse, resumed ones
run on with exactly the working time they had left, extensions move the due time.

The tiny site's community limits: accept the same working day, resolve in 3.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from escalator.suspension import Counting
from schemas.cases import (
    CaseAccepted,
    CaseExtended,
    CaseResumed,
    CaseSuspended,
    DeadlineKind,
    ExtensionRequested,
    RequestFacts,
    RequestReason,
    SuspensionRequested,
)
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.processing import Outcome
from schemas.suspension import DeadlineExtended, DeadlinePaused, DeadlineResumed
from schemas.topics import DEADLINES
from tests.support.sites import tiny_site

from .builders import LIMITS, ROUTER, THU, assigned, at, closed, escalated, inbound, step

UNIT = "community-unit"
REQUEST = "5b1c4f7e-8a2d-4c3b-9e1f-0a1b2c3d4e5f"
HOUR = 3600
RESOLVE_DUE = at(2026, 3, 11, 0)  # 3 working days from Thursday 5 March: 24:00 Tue 10


def _facts(when: datetime, seq: int) -> dict[str, object]:
    return {"request_id": REQUEST, "by": "s.approve", "unit_id": UNIT, "seq": seq, "at": when}


def suspended(case_id: str, when: datetime, seq: int = 1) -> CaseSuspended:
    payload = SuspensionRequested(**_facts(when, seq), reason=RequestReason.AWAITING_REPORTER)  # type: ignore[arg-type]
    return CaseSuspended.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=(seq,))


def resumed(case_id: str, when: datetime, seq: int = 1) -> CaseResumed:
    payload = RequestFacts(**_facts(when, seq))  # type: ignore[arg-type]
    return CaseResumed.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=(seq,))


def extended(case_id: str, when: datetime, days: int, seq: int = 1) -> CaseExtended:
    payload = ExtensionRequested(
        **_facts(when, seq),  # type: ignore[arg-type]
        reason=RequestReason.COMPLEX_MATTER,
        working_days=days,
    )
    return CaseExtended.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=(seq,))


def feed(escalator: Escalator, *messages: Envelope) -> list[Outcome]:
    return escalator.handle(inbound(messages))


def emitted(outcomes: list[Outcome]) -> list[Envelope]:
    return [e.message for o in outcomes if isinstance(o, list) for e in o]  # type: ignore[misc]


def ticked(escalator: Escalator, now: datetime) -> list[Envelope]:
    """What a tick at ``now`` put on gridflow.deadlines."""
    return [e.message for e in escalator.tick(now) if e.topic == DEADLINES.name]  # type: ignore[misc]


def due_of(store: MemoryDeadlineStore, case_id: str, kind: DeadlineKind) -> datetime:
    [d] = [d for d in store.load([case_id])[case_id] if d.kind is kind]
    return d.due_at


def working(escalator: Escalator, when: datetime = THU) -> None:
    """c1 assigned at ``when`` and accepted at once: its resolve clock alone runs."""
    feed(escalator, assigned("c1", when=when), step(CaseAccepted, "c1", 1, when))


# --- a suspension stops the clocks -------------------------------------------------------


def test_a_suspension_stops_the_clock_and_says_what_it_has_left(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    out = feed(escalator, suspended("c1", at(2026, 3, 6, 10)))  # Friday 10:00
    [paused] = emitted(out)
    assert isinstance(paused, DeadlinePaused)
    assert out[0][0].topic == f"gridflow.assignments.{UNIT}"  # type: ignore[index]
    p = paused.payload
    assert (p.kind, p.seq, p.request_id, p.due_at) == (
        DeadlineKind.RESOLVE,
        1,
        REQUEST,
        RESOLVE_DUE,
    )
    assert p.remaining_seconds == (14 + 24 + 24) * HOUR  # rest of Friday, Monday, Tuesday
    assert store.rows() == [] and [d.kind for d in store.paused()] == [DeadlineKind.RESOLVE]
    assert store.next_due() is None  # nothing for a tick to wait for


def test_a_stopped_clock_never_warns_or_lapses(escalator: Escalator) -> None:
    working(escalator)
    feed(escalator, suspended("c1", at(2026, 3, 6, 10)))
    assert escalator.tick(at(2027, 1, 1)) == []


def test_a_clock_due_before_the_suspension_lapses_all_the_same(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    assert emitted(feed(escalator, suspended("c1", RESOLVE_DUE))) == []  # due: not paused
    assert [m.type for m in ticked(escalator, RESOLVE_DUE)] == ["deadline.lapsed"]


def test_only_the_suspended_assignments_clocks_stop(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    assert emitted(feed(escalator, suspended("c1", at(2026, 3, 6, 10), seq=2))) == []
    assert store.paused() == []


def test_a_second_suspension_changes_nothing(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    feed(escalator, suspended("c1", at(2026, 3, 6, 10)))
    before = store.paused()
    assert emitted(feed(escalator, suspended("c1", at(2026, 3, 9, 10)))) == []
    assert store.paused() == before


# --- resuming restarts them with what was left -----------------------------------------------


def test_resuming_after_a_weekend_counts_only_working_time(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    feed(escalator, suspended("c1", at(2026, 3, 6, 10)))  # 62 working hours left
    [again] = emitted(feed(escalator, resumed("c1", at(2026, 3, 13, 18))))  # Friday 18:00
    # 6 h of Friday, Monday 16 and Tuesday 17 whole (48 h), then 8 h of Wednesday 18
    new_due = at(2026, 3, 18, 8)
    assert isinstance(again, DeadlineResumed)
    assert (again.payload.due_at, again.payload.previous_due_at) == (new_due, RESOLVE_DUE)
    assert again.payload.remaining_seconds == 62 * HOUR
    assert again.payload.resumed_at == at(2026, 3, 13, 18)
    assert store.paused() == [] and due_of(store, "c1", DeadlineKind.RESOLVE) == new_due
    assert store.next_due() is not None
    before = ticked(escalator, new_due - timedelta(seconds=1))
    assert {m.type for m in before} <= {"deadline.warning"}  # warned, never lapsed early
    [lapse] = ticked(escalator, new_due)
    assert lapse.type == "deadline.lapsed" and lapse.payload.due_at == new_due


def test_resuming_across_a_holiday_skips_it(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    # Tuesday 28 April 2026: resolve by 24:00 on Wednesday 6 May (1-5 May are off)
    working(escalator, at(2026, 4, 28, 10))
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == at(2026, 5, 7, 0)
    feed(escalator, suspended("c1", at(2026, 4, 29, 10)))  # 14 + 24 + 24 = 62 h left
    feed(escalator, resumed("c1", at(2026, 4, 30, 16)))  # 8 h on Thursday, then May 6, 7
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == at(2026, 5, 8, 6)


def test_resuming_on_a_holiday_starts_counting_on_the_next_working_day(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator, at(2026, 4, 28, 10))
    feed(escalator, suspended("c1", at(2026, 4, 29, 10)))  # 62 h left
    feed(escalator, resumed("c1", at(2026, 5, 2, 10)))  # a Saturday of the May holiday
    # nothing until Wednesday 6 May 00:00; then 24 + 24 + 14: Friday 8 May 14:00
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == at(2026, 5, 8, 14)


def test_stopped_and_restarted_at_once_it_is_due_as_it_was(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    moment = at(2026, 3, 6, 10, 30)
    feed(escalator, suspended("c1", moment), resumed("c1", moment))
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == RESOLVE_DUE
    assert store.paused() == []


def test_a_resume_with_nothing_stopped_changes_nothing(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    assert emitted(feed(escalator, resumed("c1", at(2026, 3, 6, 10)))) == []
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == RESOLVE_DUE


def test_the_close_of_business_ends_each_counted_day() -> None:
    site = tiny_site(tiers=LIMITS)
    site = site.model_copy(
        update={"deadlines": site.deadlines.model_copy(update={"business_hours_end": time(17)})}
    )
    counting = Counting(site, WorkingCalendar())
    # Thursday 10:00 to Monday 17:00: 7 h Thursday, 17 h Friday, nothing at the weekend, 17 h Monday
    assert counting.between(THU, at(2026, 3, 9, 17)) == timedelta(hours=7 + 17 + 17)
    assert counting.between(at(2026, 3, 5, 18), at(2026, 3, 6, 1)) == timedelta(hours=1)
    # 20 h from Thursday 18:00 (after hours): from Friday 00:00, 17 h, then Monday 3 h
    assert counting.after(at(2026, 3, 5, 18), timedelta(hours=20)).due_at == at(2026, 3, 9, 3)


def test_a_stopped_clock_goes_with_its_holder(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    feed(escalator, suspended("c1", at(2026, 3, 6, 10)))
    feed(escalator, escalated("c1", UNIT, "street-unit", at(2026, 3, 7)))
    assert store.paused() == []
    working(escalator)
    feed(escalator, suspended("c1", at(2026, 3, 6, 10)), closed("c1", at(2026, 3, 7)))
    assert store.paused() == [] and store.rows() == []


# --- an extension moves the due time ------------------------------------------------------


def test_an_extension_moves_the_resolve_clock_by_working_days(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    feed(escalator, assigned("c1", when=THU))  # accept and resolve
    accept_due = due_of(store, "c1", DeadlineKind.ACCEPT)
    [moved] = emitted(feed(escalator, extended("c1", at(2026, 3, 5, 11), 2)))
    assert isinstance(moved, DeadlineExtended)
    p = moved.payload
    assert (p.kind, p.previous_due_at, p.working_days) == (DeadlineKind.RESOLVE, RESOLVE_DUE, 2)
    assert p.due_at == at(2026, 3, 13, 0)  # Wednesday 11 and Thursday 12 more
    assert p.warn_at is not None and at(2026, 3, 5, 11) < p.warn_at < p.due_at
    [resolve] = [d for d in store.rows() if d.kind is DeadlineKind.RESOLVE]
    assert (resolve.due_at, resolve.working_days) == (p.due_at, 3 + 2)
    assert due_of(store, "c1", DeadlineKind.ACCEPT) == accept_due  # the same day still
    lapsed = [m for m in ticked(escalator, at(2026, 3, 13, 0)) if m.type == "deadline.lapsed"]
    assert [m.payload.kind for m in lapsed] == [DeadlineKind.ACCEPT, DeadlineKind.RESOLVE]  # type: ignore[attr-defined]


def test_an_extension_crosses_the_weekend(escalator: Escalator, store: MemoryDeadlineStore) -> None:
    working(escalator, at(2026, 3, 3, 10))  # Tuesday: due 24:00 on Friday 6
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == at(2026, 3, 7, 0)
    feed(escalator, extended("c1", at(2026, 3, 4, 9), 1))
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == at(2026, 3, 10, 0)  # 24:00 Monday


def test_an_extension_of_a_stopped_clock_adds_to_what_it_has_left(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    working(escalator)
    feed(escalator, suspended("c1", at(2026, 3, 6, 10)))  # 62 h left
    feed(escalator, extended("c1", at(2026, 3, 9, 10), 1))
    [d] = store.paused()
    assert d.remaining_seconds == (62 + 24) * HOUR
    feed(escalator, resumed("c1", at(2026, 3, 13, 18)))
    assert due_of(store, "c1", DeadlineKind.RESOLVE) == at(2026, 3, 19, 8)


def test_announcements_are_a_function_of_the_story() -> None:
    runs = []
    for _ in range(2):
        e = Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), MemoryDeadlineStore())
        working(e)
        out = feed(e, suspended("c1", at(2026, 3, 6, 10)))
        out += feed(e, resumed("c1", at(2026, 3, 9, 10)), extended("c1", at(2026, 3, 9, 11), 1))
        runs.append([encode(m) for m in emitted(out)])
    assert runs[0] == runs[1] and len(set(runs[0])) == 3

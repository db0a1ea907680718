"""The escalator over the in-memory store: what arms, what disarms, what a tick emits."""

from __future__ import annotations

from datetime import datetime

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from escalator.ports import Deadline
from schemas.cases import (
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseHandled,
    CaseVerified,
    ClosedPayload,
    DeadlineKind,
    EscalatedPayload,
    StepPayload,
    VerifiedPayload,
)
from schemas.deadlines import DeadlineLapsed, DeadlineWarning
from schemas.reports import Tier
from schemas.topics import DEADLINES
from tests.support.sites import tiny_site

from .builders import LIMITS, ROUTER, assigned, at

THU = at(2026, 3, 5, 10)  # Thursday 5 March 2026, 10:00: a working day
ACCEPT_DUE = at(2026, 3, 6, 0)  # same working day: 24:00 on Thursday
RESOLVE_DUE = at(2026, 3, 11, 0)  # community: 3 working days -> 24:00 on Tue 10 March


def step(kind: type[CaseAccepted | CaseHandled], case_id: str, seq: int, when: datetime):
    payload = StepPayload(unit_id="community-unit", seq=seq, at=when)
    return kind.derive(payload, producer=ROUTER, now=when, case_id=case_id, key=(seq,))


def kinds(store: MemoryDeadlineStore, case_id: str) -> dict[DeadlineKind, datetime]:
    return {d.kind: d.due_at for d in store.get(case_id)}


def test_assignment_arms_accept_and_resolve(escalator: Escalator, store) -> None:
    assert escalator.handle(assigned("c1", when=THU), THU) == []
    assert kinds(store, "c1") == {
        DeadlineKind.ACCEPT: ACCEPT_DUE,
        DeadlineKind.RESOLVE: RESOLVE_DUE,
    }
    accept = store.get("c1")[0]
    assert accept.warn_at == at(2026, 3, 5, 20) and accept.seq == 1 and not accept.warned
    assert accept.unit_id == "community-unit" and accept.working_days == 0


def test_street_holding_a_district_matter_must_refer_it_within_one_day(
    escalator: Escalator, store
) -> None:
    """Beyond the street's duties there is no accept limit, only "report it up within
    1 working day" (DOMAIN.md): the refer deadline alone is armed."""
    escalator.handle(assigned("c1", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT), THU)
    got = {d.kind: d for d in store.get("c1")}
    assert set(got) == {DeadlineKind.REFER}
    assert got[DeadlineKind.REFER].due_at == at(2026, 3, 7, 0)  # end of Friday
    assert got[DeadlineKind.REFER].working_days == 1


def test_accept_clears_only_the_accept_deadline(escalator: Escalator, store) -> None:
    escalator.handle(assigned("c1", when=THU), THU)
    assert escalator.handle(step(CaseAccepted, "c1", 1, at(2026, 3, 5, 11)), THU) == []
    assert kinds(store, "c1") == {DeadlineKind.RESOLVE: RESOLVE_DUE}


def test_accept_of_an_earlier_assignment_does_not_clear(escalator: Escalator, store) -> None:
    escalator.handle(assigned("c1", when=THU, seq=2, reason=AssignmentReason.ESCALATED), THU)
    escalator.handle(step(CaseAccepted, "c1", 1, at(2026, 3, 5, 11)), THU)
    assert DeadlineKind.ACCEPT in kinds(store, "c1")


def test_handled_clears_the_holders_deadlines_and_closed_clears_all(
    escalator: Escalator, store
) -> None:
    escalator.handle(assigned("c1", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT), THU)
    escalator.handle(step(CaseHandled, "c1", 2, THU), THU)  # not this assignment's
    assert set(kinds(store, "c1")) == {DeadlineKind.REFER}
    escalator.handle(step(CaseHandled, "c1", 1, THU), THU)
    assert store.get("c1") == []
    escalator.handle(assigned("c1", when=THU, seq=2), THU)
    assert len(store.get("c1")) == 2
    closed = ClosedPayload(at=THU, unit_id="u", tier=Tier.COMMUNITY, escalations=0, on_time=True)
    escalator.handle(CaseClosed.derive(closed, producer=ROUTER, now=THU, case_id="c1"), THU)
    assert store.get("c1") == []


def test_escalated_drops_the_old_holders_deadlines_not_the_new_ones(
    escalator: Escalator, store
) -> None:
    escalator.handle(assigned("c1", when=THU), THU)
    up = assigned("c1", when=THU, tier=Tier.STREET, seq=2, reason=AssignmentReason.ESCALATED)
    escalator.handle(up, THU)  # the new assignment first, the escalation after
    payload = EscalatedPayload(
        from_unit_id="community-unit",
        from_tier=Tier.COMMUNITY,
        to_unit_id="street-unit",
        to_tier=Tier.STREET,
        reason=AssignmentReason.ESCALATED,
    )
    escalator.handle(CaseEscalated.derive(payload, producer=ROUTER, now=THU, case_id="c1"), THU)
    assert {(d.kind, d.seq, d.unit_id) for d in store.get("c1")} == {
        (DeadlineKind.ACCEPT, 2, "street-unit"),
        (DeadlineKind.RESOLVE, 2, "street-unit"),
    }
    supervised = payload.model_copy(update={"from_unit_id": "street-unit", "to_unit_id": None})
    msg = CaseEscalated.derive(supervised, producer=ROUTER, now=THU, case_id="c1", key=(2,))
    escalator.handle(msg, THU)
    assert store.get("c1") == []


def test_rework_rearms_resolve_without_accept(escalator: Escalator, store) -> None:
    escalator.handle(assigned("c1", when=THU), THU)
    escalator.handle(step(CaseAccepted, "c1", 1, THU), THU)
    escalator.handle(step(CaseHandled, "c1", 1, THU), THU)
    monday = at(2026, 3, 9, 9)
    escalator.handle(assigned("c1", when=monday, seq=2, reason=AssignmentReason.REWORK), monday)
    assert kinds(store, "c1") == {DeadlineKind.RESOLVE: at(2026, 3, 13, 0)}  # end of Thu 12


def test_stale_assignment_is_ignored(escalator: Escalator, store) -> None:
    escalator.handle(assigned("c1", when=THU, seq=2), THU)
    escalator.handle(assigned("c1", when=THU, seq=1, tier=Tier.STREET), THU)
    assert {d.seq for d in store.get("c1")} == {2}


def test_other_events_change_nothing(escalator: Escalator, store) -> None:
    escalator.handle(assigned("c1", when=THU), THU)
    before = store.get("c1")
    verified = VerifiedPayload(unit_id="v", seq=1, at=THU, passed=True)
    msg = CaseVerified.derive(verified, producer=ROUTER, now=THU, case_id="c1")
    assert escalator.handle(msg, THU) == []
    assert store.get("c1") == before


def test_tick_warns_once_then_lapses_once(escalator: Escalator, store) -> None:
    escalator.handle(assigned("c1", when=THU), THU)
    assert escalator.tick(at(2026, 3, 5, 19, 59)) == []
    warned = escalator.tick(at(2026, 3, 5, 20))
    assert [type(e.message) for e in warned] == [DeadlineWarning]
    emit = warned[0]
    assert emit.topic == DEADLINES.name and emit.key == "c1"
    assert emit.message.payload.kind is DeadlineKind.ACCEPT
    assert emit.message.payload.due_at == ACCEPT_DUE
    assert escalator.tick(at(2026, 3, 5, 21)) == []  # warned once only
    lapsed = escalator.tick(ACCEPT_DUE)
    assert [type(e.message) for e in lapsed] == [DeadlineLapsed]
    assert lapsed[0].message.payload.kind is DeadlineKind.ACCEPT
    assert lapsed[0].message.producer == "escalator"
    assert set(kinds(store, "c1")) == {DeadlineKind.RESOLVE}
    assert escalator.tick(ACCEPT_DUE) == []


def test_lapse_carries_the_case_correlation_id(escalator: Escalator) -> None:
    msg = assigned("c1", when=THU)
    escalator.handle(msg, THU)
    (lapse,) = [e for e in escalator.tick(ACCEPT_DUE) if isinstance(e.message, DeadlineLapsed)]
    assert lapse.message.correlation_id == msg.correlation_id
    assert lapse.message.causation_id is None


def test_no_warning_when_the_warning_moment_is_before_the_start(
    escalator: Escalator, store
) -> None:
    late = at(2026, 3, 5, 22)  # same-day accept due at 24:00: 4 h before is 20:00
    escalator.handle(assigned("c1", when=late), late)
    assert store.get("c1")[0].warn_at is None
    assert escalator.tick(at(2026, 3, 5, 23)) == []
    assert [type(e.message) for e in escalator.tick(ACCEPT_DUE)] == [DeadlineLapsed]


def test_a_backlog_is_worked_through_in_bounded_ticks(site, store) -> None:
    escalator = Escalator(site, WorkingCalendar(), store, batch=2)
    for i in range(5):
        escalator.handle(assigned(f"c{i}", when=THU), THU)
    after = at(2026, 3, 20)  # everything lapsed: 5 accept + 5 resolve
    sizes = [len(escalator.tick(after)) for _ in range(6)]
    assert sizes == [2, 2, 2, 2, 2, 0]
    assert all(store.get(f"c{i}") == [] for i in range(5))


def run_once(late: datetime) -> list[tuple[str, str]]:
    escalator = Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), MemoryDeadlineStore())
    escalator.handle(assigned("c1", when=THU), THU)
    escalator.handle(assigned("c2", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT), THU)
    out = escalator.tick(at(2026, 3, 5, 21)) + escalator.tick(late)
    return [(e.message.type, e.message.event_id) for e in out]


def test_ids_are_stable_across_runs() -> None:
    first, second = run_once(at(2026, 3, 20)), run_once(at(2026, 3, 23, 8))  # a late re-run
    assert first == second
    # c1: accept warned, accept and resolve lapsed; c2: refer (alone) lapsed, never warned
    assert len(first) == 1 + 3 and len({i for _, i in first}) == 4


# --- a tick racing another transaction ---------------------------------------------


class RearmedWhileTicking(MemoryDeadlineStore):
    """Right after a tick reads its lapses (``after="due"``) or its warnings
    (``after="warnings_due"``), another transaction (an escalator instance, or the
    case story handled meanwhile) handles the ``meanwhile`` messages."""

    def __init__(self, after: str) -> None:
        super().__init__()
        self.after = after
        self.meanwhile: list[CaseAssigned] = []
        self.escalator: Escalator | None = None

    def _interleave(self, read: str) -> None:
        assert self.escalator is not None
        while read == self.after and self.meanwhile:
            message = self.meanwhile.pop(0)
            self.escalator.handle(message, message.payload.assignment.assigned_at)

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        read = super().due(now, limit)
        self._interleave("due")
        return read

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        read = super().warnings_due(now, limit)
        self._interleave("warnings_due")
        return read


def racing(site, after: str) -> tuple[Escalator, RearmedWhileTicking]:
    store = RearmedWhileTicking(after)
    store.escalator = Escalator(site, WorkingCalendar(), store)
    return store.escalator, store


def test_a_lapse_does_not_remove_the_deadline_rearmed_meanwhile(site) -> None:
    escalator, store = racing(site, after="due")
    escalator.handle(assigned("c1", when=THU), THU)
    escalator.handle(step(CaseAccepted, "c1", 1, THU), THU)
    tuesday = at(2026, 3, 10, 10)
    store.meanwhile.append(assigned("c1", when=tuesday, seq=2, reason=AssignmentReason.REWORK))
    # the seq-1 resolve (due 24:00 Tue) is read as lapsed; the rework replaces it
    # with a seq-2 resolve before the tick writes
    out = escalator.tick(at(2026, 3, 11, 9))
    assert store.meanwhile == []  # the race did happen
    assert [(d.kind, d.seq, d.due_at) for d in store.get("c1")] == [
        (DeadlineKind.RESOLVE, 2, at(2026, 3, 14)),  # 3 working days after Tue 10
    ]
    assert out == []  # what it read was superseded: not reported
    lapsed = escalator.tick(at(2026, 3, 14))
    assert [(type(e.message), e.message.payload.seq) for e in lapsed] == [(DeadlineLapsed, 2)]


def test_a_warning_does_not_mark_the_deadline_rearmed_meanwhile(site) -> None:
    escalator, store = racing(site, after="warnings_due")
    escalator.handle(assigned("c1", when=THU), THU)
    up = assigned("c1", when=THU, seq=2, tier=Tier.STREET, reason=AssignmentReason.ESCALATED)
    store.meanwhile.append(up)  # a seq-2 accept, due (and warned) at the same times
    out = escalator.tick(at(2026, 3, 5, 20))
    assert store.meanwhile == []  # the race did happen
    (accept,) = [d for d in store.get("c1") if d.kind is DeadlineKind.ACCEPT]
    assert (accept.seq, accept.warned) == (2, False)
    assert out == []  # it read seq 1's warning, superseded: not reported
    warned = escalator.tick(at(2026, 3, 5, 20))
    assert [(type(e.message), e.message.payload.seq) for e in warned] == [(DeadlineWarning, 2)]

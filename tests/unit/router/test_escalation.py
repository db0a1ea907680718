"""Up the ladder (升级): referrals, lapsed deadlines, supervision at the top, stale lapses."""

from __future__ import annotations

from itertools import pairwise

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import (
    AssignmentReason,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    DeadlineKind,
    Stage,
)
from schemas.catalogue import Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.reports import Tier
from schemas.topics import Emit
from tests.unit.router.support import (
    LATER,
    T0,
    accept,
    act,
    case,
    deadline,
    events,
    file_of,
    rate,
    received,
    refer_up,
    report_handled,
    verify,
)

ACCEPT, RESOLVE, REFER = DeadlineKind.ACCEPT, DeadlineKind.RESOLVE, DeadlineKind.REFER


def _escalation(out: list[Emit]) -> tuple[CaseEscalated, CaseAssigned]:
    escalated, assigned = events(out)
    assert isinstance(escalated, CaseEscalated) and isinstance(assigned, CaseAssigned)
    return escalated, assigned


def test_referring_a_district_matter_up_from_the_street(
    router: Router, store: MemoryCaseStore
) -> None:
    act(router, received(case(category="district.pollution")), T0)
    out = act(router, refer_up("GF-1", "s.command"), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        ("gridflow.cases.events", "case.escalated"),
        ("gridflow.assignments.s.command", "case.escalated"),  # taken from it: it is told
        ("gridflow.cases.events", "case.assigned"),
        ("gridflow.assignments.d.env", "case.dispatched"),
        ("gridflow.assignments.s.command", "command.acknowledged"),
    ]
    escalated, assigned = _escalation(out)
    assert escalated.payload.model_dump() == {
        "from_unit_id": "s.command",
        "from_tier": Tier.STREET,
        "to_unit_id": "d.env",
        "to_tier": Tier.DISTRICT,
        "reason": AssignmentReason.REFERRED,
        "deadline_kind": None,
        "due_at": None,
        "seq": 1,  # the assignment it was taken from
    }
    a = assigned.payload.assignment
    assert (a.unit_id, a.tier, a.owner_tier, a.jurisdiction_id, a.seq, a.reason) == (
        "d.env",
        Tier.DISTRICT,
        Tier.DISTRICT,
        "d",
        2,
        AssignmentReason.REFERRED,
    )
    file = file_of(store, "GF-1")
    assert file is not None
    assert (file.stage, file.assignment, file.escalations, file.lapsed) == (
        Stage.ASSIGNED,
        a,
        1,
        False,
    )


def test_an_accepted_case_may_be_referred_too(router: Router) -> None:
    act(router, received(case(category="grid.noise")), T0)
    act(router, accept("GF-1", "s-a-g1.leader"), T0)
    _, assigned = _escalation(act(router, refer_up("GF-1", "s-a-g1.leader"), LATER))
    assert assigned.payload.assignment.unit_id == "s-a.station"


def test_only_the_holder_may_refer(router: Router) -> None:
    act(router, received(case(category="grid.noise")), T0)
    with pytest.raises(Rejected) as caught:
        act(router, refer_up("GF-1", "s-a.station"), LATER)
    assert caught.value.reason is RejectionReason.PERMISSION
    assert "s-a.station (unit) may not send case.refer_up" in caught.value.message
    (answer,) = caught.value.replies
    assert answer.topic == "gridflow.assignments.s-a.station"
    assert answer.message.type == "command.refused"


def test_a_lapse_walks_the_case_up_the_whole_ladder_then_supervision(
    router: Router, store: MemoryCaseStore
) -> None:
    act(router, received(case(category="grid.noise")), T0)
    ladder = [
        ("s-a-g1.leader", Tier.GRID),
        ("s-a.station", Tier.COMMUNITY),
        ("s.command", Tier.STREET),
        ("d.command", Tier.DISTRICT),
        ("c.hotline", Tier.CITY),
    ]
    for seq, ((unit, tier), (up_unit, up_tier)) in enumerate(pairwise(ladder), 1):
        out = act(router, deadline("GF-1", unit, tier, seq, ACCEPT), LATER)
        escalated, assigned = _escalation(out)
        assert (escalated.payload.from_unit_id, escalated.payload.to_unit_id) == (unit, up_unit)
        assert escalated.payload.reason is AssignmentReason.ESCALATED
        assert (escalated.payload.deadline_kind, escalated.payload.due_at) == (ACCEPT, T0)
        a = assigned.payload.assignment
        assert (a.unit_id, a.tier, a.seq, a.owner_tier) == (up_unit, up_tier, seq + 1, Tier.GRID)
        assert out[-1].topic == f"gridflow.assignments.{up_unit}"

    # the city has no tier above it: supervisors are told (督办), the holder keeps it
    out = act(router, deadline("GF-1", "c.hotline", Tier.CITY, 5, ACCEPT), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        ("gridflow.cases.events", "case.escalated"),
        ("gridflow.assignments.c.hotline", "case.escalated"),  # the holder is told too
    ]
    top = out[0].message
    assert isinstance(top, CaseEscalated)
    assert (top.payload.from_unit_id, top.payload.to_unit_id, top.payload.to_tier) == (
        "c.hotline",
        None,
        None,
    )
    file = file_of(store, "GF-1")
    assert file is not None
    assert (file.assignment.unit_id, file.assignment.seq, file.stage) == (
        "c.hotline",
        5,
        Stage.ASSIGNED,
    )
    assert (file.escalations, file.lapsed) == (5, True)


def test_a_lapsed_case_still_closes_but_late(router: Router) -> None:
    act(router, received(case()), T0)
    act(router, accept("GF-1", "s.urban"), T0)
    out = act(router, deadline("GF-1", "s.urban", Tier.STREET, 1, RESOLVE), LATER)
    _, assigned = _escalation(out)
    unit = assigned.payload.assignment.unit_id
    assert unit == "d.command"  # the district has no urban_management unit: its default
    for message in (
        accept("GF-1", unit, 2),
        report_handled("GF-1", unit, 2),
        verify("GF-1", unit, 2),
    ):
        act(router, message, LATER)
    closed = events(act(router, rate("GF-1", 3), LATER))[-1]
    assert isinstance(closed, CaseClosed)
    assert (closed.payload.on_time, closed.payload.escalations) == (False, 1)
    assert (closed.payload.unit_id, closed.payload.tier) == ("d.command", Tier.DISTRICT)


def test_a_missed_referral_escalates_with_its_kind(router: Router) -> None:
    act(router, received(case(category="district.pollution")), T0)
    act(router, accept("GF-1", "s.command"), T0)
    escalated, assigned = _escalation(
        act(router, deadline("GF-1", "s.command", Tier.STREET, 1, REFER), LATER)
    )
    assert escalated.payload.deadline_kind is REFER
    assert assigned.payload.assignment.unit_id == "d.env"


def test_referral_at_the_top_is_refused(router: Router) -> None:
    act(router, received(case(category="city.water")), T0)
    act(router, refer_up("GF-1", "s.command"), T0)
    act(router, refer_up("GF-1", "d.command", seq=2, n=2), T0)
    with pytest.raises(Rejected) as caught:
        act(router, refer_up("GF-1", "c.water", seq=3, n=3), LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    assert "case GF-1" in caught.value.message and "no tier above" in caught.value.message


@pytest.mark.parametrize(
    ("steps", "lapse"),
    [
        # accepted in time: the accept deadline no longer applies
        (["accept"], deadline("GF-1", "s.urban", Tier.STREET, 1, ACCEPT)),
        # reported handled in time
        (["accept", "handled"], deadline("GF-1", "s.urban", Tier.STREET, 1, RESOLVE)),
        (["accept", "handled"], deadline("GF-1", "s.urban", Tier.STREET, 1, REFER)),
        # an earlier assignment's deadline, after a referral
        (["refer"], deadline("GF-1", "s.urban", Tier.STREET, 1, ACCEPT)),
        # a deadline of a unit that is not the holder
        ([], deadline("GF-1", "s.command", Tier.STREET, 1, ACCEPT)),
        # the case is closed
        (["accept", "handled", "verified", "rated"], deadline("GF-1", "s.urban", Tier.STREET)),
    ],
)
def test_stale_lapses_are_ignored(
    router: Router, store: MemoryCaseStore, steps: list[str], lapse: Envelope
) -> None:
    act(router, received(case()), T0)
    commands = {
        "accept": accept("GF-1", "s.urban"),
        "handled": report_handled("GF-1", "s.urban"),
        "verified": verify("GF-1", "s.urban"),
        "rated": rate("GF-1"),
        "refer": refer_up("GF-1", "s.urban"),
    }
    for name in steps:
        act(router, commands[name], T0)
    before = file_of(store, "GF-1")
    assert act(router, lapse, LATER) == []
    assert file_of(store, "GF-1") == before


def test_a_lapse_for_an_unknown_case_is_a_conflict(router: Router) -> None:
    with pytest.raises(Rejected) as caught:
        act(router, deadline("GF-404", "s.urban", Tier.STREET), LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    assert "GF-404" in caught.value.message


def test_a_warning_changes_nothing(router: Router, store: MemoryCaseStore) -> None:
    act(router, received(case()), T0)
    before = file_of(store, "GF-1")
    assert act(router, deadline("GF-1", "s.urban", Tier.STREET, warning=True), LATER) == []
    assert file_of(store, "GF-1") == before


def test_escalation_ids_are_stable_and_distinct(router: Router, tiny: Site) -> None:
    act(router, received(case()), T0)
    lapse = deadline("GF-1", "s.urban", Tier.STREET)
    first = act(router, lapse, LATER)
    other = Router(tiny, MemoryCaseStore())
    act(other, received(case()), T0)
    second = act(other, lapse, LATER)
    ids = [m.event_id for m in events(first)]
    assert ids == [m.event_id for m in events(second)]
    assert len(set(ids)) == 2  # escalated and assigned (the latter on two topics)

"""A new case: where it goes first (调度分流), and what refuses it."""

from __future__ import annotations

import json

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import (
    AssignmentReason,
    CaseAssigned,
    CaseDispatched,
    CaseQueued,
    QueueReason,
    Stage,
)
from schemas.catalogue import RoutingMode, Site
from schemas.codec import encode
from schemas.deadletter import Rejected, RejectionReason
from schemas.reports import CaseFacts, Tier
from schemas.topics import CASE_EVENTS
from tests.support.sites import tiny_site
from tests.unit.router.support import LATER, T0, act, case, file_of, received


def _assigned(router: Router, category: str, grid: str = "s-a-g1") -> CaseAssigned:
    out = act(router, received(case(category=category, grid=grid)), LATER)
    assert len(out) == 2
    message = out[0].message
    assert isinstance(message, CaseAssigned)
    return message


@pytest.mark.parametrize(
    ("category", "grid", "unit", "tier", "place"),
    [
        ("grid.noise", "s-a-g2", "s-a-g2.leader", Tier.GRID, "s-a-g2"),
        ("community.mediation", "s-b-g1", "s-b.station", Tier.COMMUNITY, "s-b"),
        ("street.parking", "s-a-g1", "s.urban", Tier.STREET, "s"),
    ],
)
def test_a_case_goes_to_the_owning_tier_unit_serving_its_grid(
    router: Router, category: str, grid: str, unit: str, tier: Tier, place: str
) -> None:
    a = _assigned(router, category, grid).payload.assignment
    assert (a.unit_id, a.tier, a.owner_tier, a.jurisdiction_id) == (unit, tier, tier, place)
    assert (a.seq, a.reason, a.assigned_at) == (1, AssignmentReason.INITIAL, LATER)


def test_assignment_goes_to_the_story_and_the_units_topic(
    router: Router, store: MemoryCaseStore
) -> None:
    c = case()
    cause = received(c)
    out = act(router, cause, LATER)
    assert [(e.topic, e.key) for e in out] == [
        (CASE_EVENTS.name, "GF-1"),
        ("gridflow.assignments.s.urban", "GF-1"),
    ]
    message, whole = out[0].message, out[1].message
    assert isinstance(message, CaseAssigned) and isinstance(whole, CaseDispatched)
    # the story carries the facts alone; the unit's topic, the whole case
    assert message.payload.case == CaseFacts.of(c)
    assert whole.payload.case == c
    assert whole.payload.assignment == message.payload.assignment
    assert whole.event_id != message.event_id
    assert (whole.causation_id, whole.occurred_at) == (cause.event_id, LATER)
    story = json.loads(encode(message))
    assert "reporter" not in story["payload"]["case"]
    assert "description" not in story["payload"]["case"]
    assert (message.producer, message.causation_id, message.occurred_at) == (
        "router",
        cause.event_id,
        LATER,
    )
    assert message.correlation_id == "GF-1"
    file = file_of(store, "GF-1")
    assert file is not None
    assert (file.stage, file.assignment, file.escalations, file.lapsed, file.rating) == (
        Stage.ASSIGNED,
        message.payload.assignment,
        0,
        False,
        None,
    )


def test_stepwise_a_district_matter_enters_at_the_street(router: Router) -> None:
    a = _assigned(router, "district.pollution").payload.assignment
    # the street has no environment unit: its command room holds it and must refer it up
    assert (a.unit_id, a.tier, a.owner_tier) == ("s.command", Tier.STREET, Tier.DISTRICT)


def test_flat_a_district_matter_goes_straight_to_the_district_department() -> None:
    router = Router(tiny_site(mode=RoutingMode.FLAT), MemoryCaseStore())
    a = _assigned(router, "district.pollution").payload.assignment
    assert (a.unit_id, a.tier, a.owner_tier, a.jurisdiction_id) == (
        "d.env",
        Tier.DISTRICT,
        Tier.DISTRICT,
        "d",
    )


def test_flat_a_grid_matter_still_stays_in_the_grid() -> None:
    router = Router(tiny_site(mode=RoutingMode.FLAT), MemoryCaseStore())
    assert _assigned(router, "grid.noise").payload.assignment.unit_id == "s-a-g1.leader"


def test_a_second_receipt_of_a_dispatched_case_with_other_content_is_a_conflict(
    router: Router, store: MemoryCaseStore
) -> None:
    """A redelivery never reaches the router (the runtime's inbox drops it); another
    message opening a case that exists already with other content is refused, and
    changes nothing (test_resend covers resends in full)."""
    first = act(router, received(case()), LATER)
    assert len(first) == 2
    before = file_of(store, "GF-1")
    again = received(case(category="urban.garbage"))
    with pytest.raises(Rejected) as caught:
        act(router, again, LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    assert "opened already" in caught.value.message
    assert [e.loc for e in caught.value.errors] == ["category"]
    assert file_of(store, "GF-1") == before


def test_the_same_input_gives_byte_identical_output(tiny: Site) -> None:
    outputs = [act(Router(tiny, MemoryCaseStore()), received(case()), LATER) for _ in range(2)]
    assert [encode(e.message) for e in outputs[0]] == [encode(e.message) for e in outputs[1]]


def test_an_unknown_category_goes_to_the_dispatch_queue_not_a_dead_letter(
    router: Router, store: MemoryCaseStore
) -> None:
    """Nothing dropped: the case is opened, queued for the command room nearest its grid
    (community A's, over s-a-g1) with the reason, and no unit is assigned."""
    out = act(router, received(case(category="street.nonsense")), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        (CASE_EVENTS.name, "case.queued"),
        ("gridflow.replies.s-a.approve", "case.queued"),
    ]
    queued = out[0].message
    assert isinstance(queued, CaseQueued)
    p = queued.payload
    assert (p.reason, p.room, p.seq, p.returned_by) == (
        QueueReason.UNKNOWN_CATEGORY,
        "s-a.approve",
        1,
        [],
    )
    assert p.detail == "unknown category street.nonsense"
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.QUEUED and file.queued is not None
    assert file.assignment.unit_id == "s-a.station"  # stands for the room: never told


@pytest.mark.parametrize("grid", ["s-a", "s", "nowhere"])
def test_a_case_not_in_a_grid_is_refused(router: Router, grid: str) -> None:
    with pytest.raises(Rejected) as caught:
        act(router, received(case(grid=grid)), LATER)
    assert caught.value.reason is RejectionReason.UNKNOWN_REFERENCE
    assert "GF-1" in caught.value.message and repr(grid) in caught.value.message
    assert [e.loc for e in caught.value.errors] == ["grid_id"]


def test_an_unknown_category_and_grid_are_refused_naming_the_grid(router: Router) -> None:
    """A grid the site does not know is no point to place: refused (intake refuses it
    first); the category is named beside it."""
    with pytest.raises(Rejected) as caught:
        act(router, received(case(category="x.y", grid="nowhere")), LATER)
    assert [e.loc for e in caught.value.errors] == ["category", "grid_id"]


def test_no_unit_at_the_tier_is_unroutable(tiny: Site) -> None:
    """Only a catalogue that skipped validation can lack a default unit; say so if it does."""
    units = [u for u in tiny.units if u.id != "s-a.station"]
    broken = Site.model_construct(**{**dict(tiny), "units": units})
    router = Router(broken, MemoryCaseStore())
    with pytest.raises(Rejected) as caught:
        act(router, received(case(category="community.mediation")), T0)
    assert caught.value.reason is RejectionReason.UNROUTABLE
    assert "GF-1" in caught.value.message and "s-a-g1" in caught.value.message


def test_the_unit_gets_each_clocks_due_time_as_the_escalator_arms_it(
    router: Router, tiny: Site
) -> None:
    """The assignment on the unit's topic carries its deadlines, the escalator's own."""
    from escalator.clocks import site_calendar
    from escalator.core import Escalator
    from escalator.memory import MemoryDeadlineStore
    from schemas.cases import DeadlineKind
    from schemas.processing import Inbound

    out = act(router, received(case()), T0)
    dispatched = next(e.message for e in out if isinstance(e.message, CaseDispatched))
    story = next(e.message for e in out if isinstance(e.message, CaseAssigned))
    due = {d.kind: d for d in dispatched.payload.due}
    assert set(due) == {DeadlineKind.ACCEPT, DeadlineKind.RESOLVE}
    # 2026-03-05 is a Thursday: accept by the end of the day, resolve in 3 working days
    assert due[DeadlineKind.ACCEPT].due_at.isoformat() == "2026-03-06T00:00:00+08:00"
    assert due[DeadlineKind.RESOLVE].due_at.isoformat() == "2026-03-11T00:00:00+08:00"

    store = MemoryDeadlineStore()
    Escalator(tiny, site_calendar(tiny), store).handle([Inbound(story, T0)])
    armed = {d.kind: d for d in store.load(["GF-1"])["GF-1"]}
    assert {k: (d.due_at, d.warn_at, d.working_days) for k, d in armed.items()} == {
        k: (d.due_at, d.warn_at, d.working_days) for k, d in due.items()
    }


def test_a_matter_beyond_the_tier_gets_the_refer_clock_alone(router: Router) -> None:
    from schemas.cases import DeadlineKind

    out = act(router, received(case(category="district.pollution")), T0)
    dispatched = next(e.message for e in out if isinstance(e.message, CaseDispatched))
    assert [d.kind for d in dispatched.payload.due] == [DeadlineKind.REFER]

"""The dispatch queue (人工分拨) beyond returns: a point on no grid and an unknown category
are queued with the reason, the queue has its own clock (the escalator's ``dispatch``),
and returned and dispatched assignments say why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalator.clocks import site_calendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import (
    AssignmentReason,
    CaseAssigned,
    CaseQueued,
    DeadlineKind,
    QueueReason,
    RoutingRule,
    Stage,
    UnitChoice,
)
from schemas.catalogue import Site
from schemas.deadlines import DeadlineLapsed, DeadlineWarning
from schemas.processing import Inbound
from schemas.reports import Case, PointPlacement, Tier
from schemas.topics import CASE_EVENTS, Emit
from tests.support.sites import SAME_FOR_EVERY_TIER, tiny_site
from tests.unit.router.support import (
    LATER,
    T0,
    accept,
    act,
    case,
    deadline,
    dispatch,
    file_of,
    received,
    return_case,
    types,
)


def off_map(site: Site) -> Case:
    """A case as intake makes it from a point on no grid: filed under the site's area."""
    placement = PointPlacement(grids=[], on_boundary=False, off_map=True)
    return case(grid=site.area.id).model_copy(update={"placement": placement})


def test_a_point_on_no_grid_is_queued_for_the_areas_command_room(
    router: Router, store: MemoryCaseStore, tiny: Site
) -> None:
    assert tiny.area.id == "s"  # the smallest place holding every grid
    out = act(router, received(off_map(tiny)), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        (CASE_EVENTS.name, "case.queued"),
        ("gridflow.replies.s.approve", "case.queued"),
    ]
    queued = out[0].message
    assert isinstance(queued, CaseQueued)
    assert queued.payload.reason is QueueReason.OFF_MAP
    assert queued.payload.detail == "point on no grid of site tiny"
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.QUEUED
    # the room over the queue's place dispatches it, like a returned case
    out = act(router, dispatch("GF-1", "s.urban"), LATER)
    assigned = out[0].message
    assert isinstance(assigned, CaseAssigned)
    a = assigned.payload.assignment
    assert (a.unit_id, a.seq, a.reason) == ("s.urban", 2, AssignmentReason.DISPATCHED)


def test_a_dispatched_case_of_an_unknown_category_is_owned_where_the_dispatcher_chose(
    router: Router, store: MemoryCaseStore
) -> None:
    act(router, received(case(category="street.unheard_of")), T0)
    out = act(router, dispatch("GF-1", "s-a.station", sender="s-a.approve"), LATER)
    a = out[0].message.payload.assignment  # type: ignore[attr-defined]
    assert (a.tier, a.owner_tier) == (Tier.COMMUNITY, Tier.COMMUNITY)
    # a lapse cannot route what the catalogue does not know: back to the queue, not lost
    out = act(router, deadline("GF-1", "s-a.station", Tier.COMMUNITY, seq=2), LATER)
    assert types(out) == ["case.queued"]
    queued = out[0].message
    assert isinstance(queued, CaseQueued)
    assert queued.payload.reason is QueueReason.UNKNOWN_CATEGORY
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.QUEUED and file.lapsed


def _story(out: list[Emit]) -> list[Inbound]:
    return [Inbound(e.message, LATER) for e in out if e.topic == CASE_EVENTS.name]


@pytest.mark.parametrize("days", [0, 2])
def test_the_queue_has_its_own_clock_from_the_policies(days: int) -> None:
    site = tiny_site(tiers={t: {**SAME_FOR_EVERY_TIER, "dispatch": days} for t in Tier})
    router = Router(site, MemoryCaseStore())
    deadlines = MemoryDeadlineStore()
    escalator = Escalator(site, site_calendar(site), deadlines)
    escalator.handle(_story(act(router, received(off_map(site)), LATER)))
    [clock] = deadlines.rows()
    assert (clock.kind, clock.unit_id, clock.tier, clock.seq) == (
        DeadlineKind.DISPATCH,
        "s.approve",
        Tier.STREET,
        1,
    )
    calendar = site_calendar(site)
    assert (
        clock.due_at
        == calendar.reckon_limit(
            LATER, days, clock.unit, site.deadlines.business_hours_end, site.tz
        ).due_at
    )
    # warned and lapsed on the room's own reply topic, and on the deadlines topic
    out = escalator.tick(clock.due_at + timedelta(seconds=1))
    warned = [e for e in out if isinstance(e.message, DeadlineWarning)]
    lapsed = [e for e in out if isinstance(e.message, DeadlineLapsed)]
    assert {e.topic for e in lapsed} == {"gridflow.deadlines", "gridflow.replies.s.approve"}
    assert {e.topic for e in warned} <= {"gridflow.deadlines", "gridflow.replies.s.approve"}
    # the router counts the case late; it stays in the queue
    assert act(router, lapsed[0].message, LATER) == []
    file = router._store.load({"GF-1"})["GF-1"]  # type: ignore[attr-defined]
    assert file.stage is Stage.QUEUED and file.lapsed


def test_the_dispatch_stops_the_queues_clock(router: Router, tiny: Site) -> None:
    deadlines = MemoryDeadlineStore()
    escalator = Escalator(tiny, site_calendar(tiny), deadlines)
    escalator.handle(_story(act(router, received(off_map(tiny)), LATER)))
    escalator.handle(_story(act(router, dispatch("GF-1", "s.urban"), LATER)))
    assert {(d.kind, d.unit_id) for d in deadlines.rows()} == {
        (DeadlineKind.ACCEPT, "s.urban"),
        (DeadlineKind.RESOLVE, "s.urban"),
    }
    late = deadline("GF-1", "s.approve", Tier.STREET, kind=DeadlineKind.DISPATCH)
    assert act(router, late, LATER) == []  # dispatched meanwhile: ignored


def test_a_returned_assignment_says_who_returned_it_why_and_by_which_rule(
    router: Router, tiny: Site
) -> None:
    act(router, received(case()), T0)
    out = act(router, return_case("GF-1", "s.urban"), LATER)
    a = next(e.message for e in out if isinstance(e.message, CaseAssigned)).payload.assignment
    assert a.catalogue_version == tiny.version
    assert a.why is not None
    assert (a.why.rule, a.why.unit_choice) == (RoutingRule.RETURNED, UnitChoice.DEFAULT)
    assert "Returned (退回) by s.urban for not its duty" in a.why.text
    assert "re-routed to s.command" in a.why.text and "never a unit" in a.why.text
    assert a.why.path[-1].jurisdiction_id == "s"


def test_a_dispatched_assignment_names_its_dispatcher(router: Router, tiny: Site) -> None:
    act(router, received(case()), T0)
    act(router, return_case("GF-1", "s.urban"), T0)
    act(router, return_case("GF-1", "s.command", seq=2), T0)
    out = act(router, dispatch("GF-1", "s-a.station"), LATER)
    a = out[0].message.payload.assignment  # type: ignore[attr-defined]
    assert a.catalogue_version == tiny.version and a.why is not None
    assert (a.why.rule, a.why.unit_choice) == (RoutingRule.DISPATCHED, UnitChoice.CHOSEN)
    assert "dispatcher s.approve (Street command room) assigned it to s-a.station" in a.why.text
    assert "queued for s.approve" in a.why.text
    assert types(act(router, accept("GF-1", "s-a.station", seq=3), LATER)) == ["case.accepted"]

"""Returns (退回) and manual dispatch (人工分拨): on to the next unit, never back to a
returner, the queue after ``routing.max_returns`` returns, and a dispatcher's assignment.

GF-1 is street.parking in grid s-a-g1: routed to s.urban (the street's urban
management). Its candidates after a return: s.urban, s.command (the street's default
unit), then one tier up d.command (the district has no urban management unit).
"""

from __future__ import annotations

import pytest

from archive.projection import project
from escalator.clocks import site_calendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from router.core import Router
from router.memory import MemoryCaseStore
from router.returns import candidates
from schemas.cases import (
    AssignmentReason,
    CaseAssigned,
    CaseDispatched,
    CaseQueued,
    CaseReturned,
    QueueReason,
    Stage,
)
from schemas.catalogue import Routing, Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.processing import Inbound
from schemas.reports import Tier
from tests.support.sites import tiny_site
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


def _site(max_returns: int) -> Site:
    site = tiny_site()
    routing = Routing(mode=site.routing.mode, entry_tier=Tier.STREET, max_returns=max_returns)
    return site.model_copy(update={"routing": routing})


def _router(max_returns: int = 2) -> tuple[Router, MemoryCaseStore]:
    store = MemoryCaseStore()
    router = Router(_site(max_returns), store)
    act(router, received(case()), T0)
    return router, store


def test_the_candidates_are_the_tiers_typed_unit_its_default_then_one_tier_up(
    tiny: Site,
) -> None:
    facts = case()
    category = tiny.category(facts.category)
    assert category is not None
    found = [(c.unit.id, c.tier) for c in candidates(tiny, facts, category, Tier.STREET)]
    assert found == [
        ("s.urban", Tier.STREET),
        ("s.command", Tier.STREET),
        ("d.command", Tier.DISTRICT),
    ]


def test_a_return_sends_the_case_on_to_the_next_unit_with_the_note() -> None:
    router, store = _router(max_returns=3)
    out = act(router, return_case("GF-1", "s.urban"), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        ("gridflow.cases.events", "case.returned"),
        ("gridflow.cases.events", "case.assigned"),
        ("gridflow.assignments.s.command", "case.dispatched"),
        ("gridflow.assignments.s.command", "case.returned"),  # with the returner's note
        ("gridflow.assignments.s.urban", "command.acknowledged"),
    ]
    returned, assigned = out[0].message, out[1].message
    assert isinstance(returned, CaseReturned) and isinstance(assigned, CaseAssigned)
    assert returned.payload.note is None  # no free text on the story
    assert (returned.payload.by, returned.payload.to_unit_id, returned.payload.returns) == (
        "s.urban",
        "s.command",
        1,
    )
    told = out[3].message
    assert isinstance(told, CaseReturned) and told.payload.note
    a = assigned.payload.assignment
    assert (a.unit_id, a.seq, a.reason, a.assigned_at) == (
        "s.command",
        2,
        AssignmentReason.RETURNED,
        LATER,
    )
    dispatched = out[2].message
    assert isinstance(dispatched, CaseDispatched) and dispatched.payload.due  # fresh clocks
    file = file_of(store, "GF-1")
    assert file is not None
    assert (file.stage, file.returned_by) == (Stage.ASSIGNED, ("s.urban",))


def test_never_back_to_a_unit_that_returned_it() -> None:
    router, store = _router(max_returns=5)
    act(router, return_case("GF-1", "s.urban"), LATER)  # -> s.command
    act(router, accept("GF-1", "s.command", seq=2), LATER)  # accepted, then returned too
    out = act(router, return_case("GF-1", "s.command", seq=2), LATER)
    (assigned,) = [e.message for e in out if isinstance(e.message, CaseAssigned)]
    assert assigned.payload.assignment.unit_id == "d.command"  # not s.urban again
    out = act(router, return_case("GF-1", "d.command", seq=3), LATER)
    (assigned,) = [e.message for e in out if isinstance(e.message, CaseAssigned)]
    assert assigned.payload.assignment.unit_id == "c.hotline"  # the district's next: the city
    out = act(router, return_case("GF-1", "c.hotline", seq=4), LATER)
    assert types(out) == ["case.returned", "case.queued"]  # no candidate is left
    queued = out[1].message
    assert isinstance(queued, CaseQueued)
    assert queued.payload.reason is QueueReason.NO_CANDIDATE
    assert queued.payload.returned_by == ["s.urban", "s.command", "d.command", "c.hotline"]
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.QUEUED


def test_after_max_returns_the_case_goes_to_the_command_rooms_queue() -> None:
    router, store = _router(max_returns=2)
    act(router, return_case("GF-1", "s.urban"), LATER)
    out = act(router, return_case("GF-1", "s.command", seq=2), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        ("gridflow.cases.events", "case.returned"),
        ("gridflow.cases.events", "case.queued"),
        ("gridflow.replies.s.approve", "case.queued"),  # the room over s.command
        ("gridflow.assignments.s.command", "command.acknowledged"),
    ]
    story, room = out[1].message, out[2].message
    assert isinstance(story, CaseQueued) and isinstance(room, CaseQueued)
    assert story.payload.reason is QueueReason.TOO_MANY_RETURNS
    assert (story.payload.room, story.payload.at, story.payload.seq) == ("s.approve", LATER, 2)
    assert story.payload.note is None and room.payload.note  # the note on the room's copy
    returned = out[0].message
    assert isinstance(returned, CaseReturned) and returned.payload.to_unit_id is None
    file = file_of(store, "GF-1")
    assert file is not None and file.queued is not None
    assert (file.stage, file.queued.since, file.queued.room) == (
        Stage.QUEUED,
        LATER,
        "s.approve",
    )


def test_max_returns_zero_queues_at_the_first_return() -> None:
    router, _ = _router(max_returns=0)
    out = act(router, return_case("GF-1", "s.urban"), LATER)
    assert types(out) == ["case.returned", "case.queued"]


def test_a_queued_case_takes_no_steps_and_ignores_its_old_clocks() -> None:
    router, _ = _router(max_returns=0)
    act(router, return_case("GF-1", "s.urban"), LATER)
    with pytest.raises(Rejected) as caught:
        act(router, accept("GF-1", "s.urban"), LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    assert act(router, deadline("GF-1", "s.urban", Tier.STREET), LATER) == []  # no escalation


def test_a_dispatcher_assigns_from_the_queue_with_fresh_clocks() -> None:
    router, store = _router(max_returns=0)
    act(router, return_case("GF-1", "s.urban"), LATER)
    out = act(router, dispatch("GF-1", "s-a.station"), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        ("gridflow.cases.events", "case.assigned"),
        ("gridflow.assignments.s-a.station", "case.dispatched"),
        ("gridflow.replies.s.approve", "command.acknowledged"),
    ]
    assigned = out[0].message
    assert isinstance(assigned, CaseAssigned)
    a = assigned.payload.assignment
    assert (a.unit_id, a.tier, a.jurisdiction_id, a.seq, a.reason) == (
        "s-a.station",
        Tier.COMMUNITY,
        "s-a",
        2,
        AssignmentReason.DISPATCHED,
    )
    dispatched = out[1].message
    assert isinstance(dispatched, CaseDispatched) and dispatched.payload.due
    file = file_of(store, "GF-1")
    assert file is not None
    assert (file.stage, file.queued, file.returned_by) == (Stage.ASSIGNED, None, ("s.urban",))
    act(router, accept("GF-1", "s-a.station", seq=2), LATER)  # the loop goes on


def test_a_dispatch_needs_a_queued_case_and_a_known_unit() -> None:
    router, _ = _router(max_returns=0)
    with pytest.raises(Rejected) as caught:
        act(router, dispatch("GF-1", "s-a.station"), LATER)  # not queued
    assert caught.value.reason is RejectionReason.CONFLICT
    act(router, return_case("GF-1", "s.urban"), LATER)
    with pytest.raises(Rejected) as caught:
        act(router, dispatch("GF-1", "nobody"), LATER)
    assert caught.value.reason is RejectionReason.UNKNOWN_REFERENCE


def test_the_returners_clocks_stop_and_the_next_units_start() -> None:
    router, _ = _router(max_returns=3)
    site = _site(3)
    deadlines = MemoryDeadlineStore()
    escalator = Escalator(site, site_calendar(site), deadlines)
    story = [e.message for e in act(router, received(case("GF-2")), T0)]
    story += [e.message for e in act(router, return_case("GF-2", "s.urban"), LATER)]
    for message in story:
        if message.type.startswith("case."):
            escalator.handle([Inbound(message, LATER)])
    held = {(d.unit_id, d.seq) for d in deadlines.rows()}
    assert held == {("s.command", 2)}


def test_the_archive_counts_a_queued_case_at_its_stage() -> None:
    router, _ = _router(max_returns=0)
    row = None
    for e in act(router, return_case("GF-1", "s.urban"), LATER):
        if e.topic == "gridflow.cases.events":
            row = project(row, e.message)
    assert row is not None and row.stage == "queued"

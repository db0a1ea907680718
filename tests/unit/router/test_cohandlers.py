"""Lead and co-handlers (主办/协办): chosen by the category or a dispatcher, each told on
its own topic with its own clock, each feeding back; the lead closes the loop once
every co-handler has reported. The escalator tracks the co-handlers' clocks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalator.clocks import site_calendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import (
    CaseAssigned,
    CaseDispatched,
    CasePartReported,
    DeadlineKind,
    Role,
)
from schemas.catalogue import Category, Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.deadlines import DeadlineLapsed
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.reports import Tier
from schemas.topics import CASE_EVENTS, Emit
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
    report_handled,
    report_part,
    return_case,
    types,
)

LEAD, CO = "s.urban", "d.env"
FIRE_LANE = "street.fire_lane"
"""A street matter for urban management, co-handled by the environment department."""


@pytest.fixture
def site(tiny: Site) -> Site:
    lane = Category(
        code=FIRE_LANE,
        name="Blocked fire lane",
        name_zh="消防通道堵塞",
        group="street",
        tier=Tier.STREET,
        unit_type="urban_management",
        co_handlers=["environment"],
    )
    data = tiny.model_dump()
    data["categories"] = [*data["categories"], lane.model_dump()]
    return Site.model_validate(data)


@pytest.fixture
def router(site: Site, store: MemoryCaseStore) -> Router:
    return Router(site, store)


def _opened(router: Router) -> list[Emit]:
    return act(router, received(case(category=FIRE_LANE)), T0)


def test_the_category_names_a_co_handler_told_on_its_own_topic_with_its_role(
    router: Router,
) -> None:
    out = _opened(router)
    assert [(e.topic, e.message.type) for e in out] == [
        (CASE_EVENTS.name, "case.assigned"),
        (f"gridflow.assignments.{LEAD}", "case.dispatched"),
        (f"gridflow.assignments.{CO}", "case.dispatched"),
    ]
    story, lead, co = (e.message for e in out)
    assert isinstance(story, CaseAssigned) and isinstance(lead, CaseDispatched)
    assert isinstance(co, CaseDispatched)
    a = story.payload.assignment
    assert (a.unit_id, a.role, [c.unit_id for c in a.co_handlers]) == (LEAD, Role.LEAD, [CO])
    assert a.co_handlers[0].tier is Tier.DISTRICT  # none at the street: one tier up
    assert a.why is not None and "Co-handlers (协办): d.env" in a.why.text
    mine = co.payload.assignment
    assert (mine.unit_id, mine.role, mine.tier, mine.seq) == (CO, Role.CO_HANDLER, Tier.DISTRICT, 1)
    assert [d.kind for d in co.payload.due] == [DeadlineKind.ASSIST]
    assert co.event_id not in {story.event_id, lead.event_id}


def test_the_lead_is_refused_until_every_co_handler_has_reported(
    router: Router, store: MemoryCaseStore
) -> None:
    _opened(router)
    act(router, accept("GF-1", LEAD), LATER)
    with pytest.raises(Rejected) as caught:
        act(router, report_handled("GF-1", LEAD), LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    assert "co-handler(s) d.env have not reported their part" in caught.value.message
    (answer,) = caught.value.replies  # the lead reads why on its own topic
    assert answer.topic == f"gridflow.assignments.{LEAD}"
    out = act(router, report_part("GF-1", CO), LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        (CASE_EVENTS.name, "case.part_reported"),
        (f"gridflow.assignments.{LEAD}", "case.part_reported"),  # the lead is told, with the note
        (f"gridflow.assignments.{CO}", "command.acknowledged"),
    ]
    story, told = out[0].message, out[1].message
    assert isinstance(story, CasePartReported) and isinstance(told, CasePartReported)
    assert story.payload.note is None and told.payload.note == "hydrant checked"
    assert (story.payload.lead, story.payload.pending) == (LEAD, [])
    file = file_of(store, "GF-1")
    assert file is not None and file.parts == (CO,) and file.pending() == ()
    assert types(act(router, report_handled("GF-1", LEAD), LATER)) == ["case.handled"]


def test_a_co_handler_reports_once_on_the_current_assignment_only(router: Router) -> None:
    _opened(router)
    act(router, report_part("GF-1", CO), LATER)
    with pytest.raises(Rejected) as again:
        act(router, report_part("GF-1", CO, n=2), LATER)
    assert "has reported its part already" in again.value.message
    with pytest.raises(Rejected) as stale:
        act(router, report_part("GF-1", CO, seq=2, n=3), LATER)
    assert "seq 2 is not its current assignment" in stale.value.message


def test_a_dispatcher_names_co_handlers_and_a_lead_that_is_none_of_them(
    tiny: Site, store: MemoryCaseStore
) -> None:
    router = Router(tiny, store)
    act(router, received(case()), T0)
    act(router, return_case("GF-1", LEAD), T0)
    act(router, return_case("GF-1", "s.command", seq=2), T0)  # queued (max_returns 2)
    with pytest.raises(Rejected) as caught:
        act(router, dispatch("GF-1", LEAD, co_handlers=(LEAD, "nobody")), LATER)
    assert {e.loc for e in caught.value.errors} == {
        "payload.co_handlers.0",
        "payload.co_handlers.1",
    }
    out = act(router, dispatch("GF-1", LEAD, n=2, co_handlers=("s-a.station",)), LATER)
    told = {e.topic: e.message for e in out if isinstance(e.message, CaseDispatched)}
    assert set(told) == {f"gridflow.assignments.{LEAD}", "gridflow.assignments.s-a.station"}
    co = told["gridflow.assignments.s-a.station"].payload.assignment
    assert (co.role, co.seq, co.tier) == (Role.CO_HANDLER, 3, Tier.COMMUNITY)


def test_a_new_assignment_chooses_its_co_handlers_again_and_reports_start_over(
    router: Router, store: MemoryCaseStore
) -> None:
    _opened(router)
    act(router, report_part("GF-1", CO), LATER)
    act(router, deadline("GF-1", LEAD, Tier.STREET), LATER)  # accept lapsed: up to the district
    file = file_of(store, "GF-1")
    assert file is not None and file.assignment.seq == 2 and file.parts == ()
    assert file.assignment.unit_id == "d.command"  # no urban management there: its default
    assert [c.unit_id for c in file.assignment.co_handlers] == [CO]  # to report again
    assert file.pending() == (CO,)


def _events(out: list[Emit]) -> list[Inbound]:
    return [Inbound(e.message, LATER) for e in out if e.topic == CASE_EVENTS.name]


def test_the_escalator_tracks_each_co_handlers_clock(router: Router, site: Site) -> None:
    store = MemoryDeadlineStore()
    escalator = Escalator(site, site_calendar(site), store)
    escalator.handle(_events(_opened(router)))
    slots = {d.slot: d for d in store.rows()}
    assert set(slots) == {"accept", "resolve", "assist.1"}
    assist = slots["assist.1"]
    assert (assist.kind, assist.unit_id, assist.tier, assist.seq) == (
        DeadlineKind.ASSIST,
        CO,
        Tier.DISTRICT,
        1,
    )
    # its lapse reaches the co-handler's topic; the router marks the case late, no move
    lapses = [
        e
        for e in escalator.tick(assist.due_at + timedelta(seconds=1))
        if isinstance(e.message, DeadlineLapsed) and e.message.payload.kind is DeadlineKind.ASSIST
    ]
    assert {e.topic for e in lapses} == {"gridflow.deadlines", f"gridflow.assignments.{CO}"}
    lapse: Envelope = lapses[0].message
    assert act(router, lapse, LATER) == []
    assert router._store.load({"GF-1"})["GF-1"].lapsed  # type: ignore[attr-defined]


def test_a_co_handlers_report_stops_its_clock_and_the_leads_stops_the_rest(
    router: Router, site: Site
) -> None:
    store = MemoryDeadlineStore()
    escalator = Escalator(site, site_calendar(site), store)
    escalator.handle(_events(_opened(router)))
    escalator.handle(_events(act(router, report_part("GF-1", CO), LATER)))
    assert {d.slot for d in store.rows()} == {"accept", "resolve"}
    stale = deadline("GF-1", CO, Tier.DISTRICT, kind=DeadlineKind.ASSIST)
    assert act(router, stale, LATER) == []  # reported: its lapse no longer applies


def test_the_bundled_street_has_a_co_handled_category() -> None:
    """Data, validated at load: a blocked fire lane is work safety's, with the street's
    enforcement squad (城管) co-handling."""
    from schemas.catalogue import load_site

    site = load_site()
    router = Router(site, MemoryCaseStore())
    grid = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)[0]
    out = act(router, received(case(category="public_safety.fire_lane", grid=grid)), T0)
    story = out[0].message
    assert isinstance(story, CaseAssigned)
    a = story.payload.assignment
    assert a.unit_id == "zs.safety"
    assert [c.unit_id for c in a.co_handlers] == ["zs.urban"]
    assert "gridflow.assignments.zs.urban" in {e.topic for e in out}

"""Every assignment says why: the rule, the unit's choice, the path, the catalogue version."""

from __future__ import annotations

from router.core import Router
from router.memory import MemoryCaseStore
from router.routing import initial_placement, path
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAssigned,
    CaseDispatched,
    DeadlineKind,
    RoutingRule,
    UnitChoice,
)
from schemas.catalogue import BUNDLED_SITES, RoutingMode, Site, load_site
from schemas.reports import Tier
from tests.support.sites import tiny_site
from tests.unit.router.support import (
    LATER,
    accept,
    act,
    case,
    deadline,
    file_of,
    received,
    refer_up,
    report_handled,
    verify,
)


def _first(router: Router, category: str, grid: str = "s-a-g1") -> Assignment:
    out = act(router, received(case(category=category, grid=grid)), LATER)
    story, told = out[0].message, out[1].message
    assert isinstance(story, CaseAssigned) and isinstance(told, CaseDispatched)
    assert told.payload.assignment == story.payload.assignment  # the unit is told why too
    return story.payload.assignment


def _steps(a: Assignment) -> list[tuple[str, Tier]]:
    assert a.why is not None
    return [(s.jurisdiction_id, s.tier) for s in a.why.path]


def test_initial_typed_unit_at_the_owner_tier(router: Router, tiny: Site) -> None:
    a = _first(router, "street.parking")
    assert a.unit_id == "s.urban" and a.catalogue_version == tiny.version
    assert a.why is not None
    assert (a.why.rule, a.why.unit_choice, a.why.unit_type) == (
        RoutingRule.OWNER_TIER,
        UnitChoice.TYPED,
        "urban_management",
    )
    assert _steps(a) == [("s-a-g1", Tier.GRID), ("s-a", Tier.COMMUNITY), ("s", Tier.STREET)]
    assert "调度分流" in a.why.text and "s.urban" in a.why.text
    assert tiny.version in a.why.text


def test_stepwise_entry_tier_and_the_default_unit_fallback(router: Router) -> None:
    a = _first(router, "district.pollution")
    assert (a.unit_id, a.tier) == ("s.command", Tier.STREET)  # the decision is unchanged
    assert a.why is not None
    assert (a.why.rule, a.why.unit_choice) == (RoutingRule.ENTRY_TIER, UnitChoice.DEFAULT)
    assert "entry tier" in a.why.text and "default unit (兜底)" in a.why.text
    assert "No environment unit serves Street (s, street)" in a.why.text
    assert _steps(a)[-1] == ("s", Tier.STREET)


def test_flat_mode_goes_straight_to_the_owner() -> None:
    router = Router(tiny_site(mode=RoutingMode.FLAT), MemoryCaseStore())
    a = _first(router, "district.pollution")
    assert a.why is not None
    assert (a.unit_id, a.why.rule, a.why.unit_choice) == (
        "d.env",
        RoutingRule.FLAT,
        UnitChoice.TYPED,
    )
    assert "扁平化" in a.why.text
    assert _steps(a) == [
        ("s-a-g1", Tier.GRID),
        ("s-a", Tier.COMMUNITY),
        ("s", Tier.STREET),
        ("d", Tier.DISTRICT),
    ]


def test_a_grid_matter_walks_no_further_than_its_grid(router: Router) -> None:
    a = _first(router, "grid.noise", "s-a-g2")
    assert a.why is not None and a.why.rule is RoutingRule.OWNER_TIER
    assert _steps(a) == [("s-a-g2", Tier.GRID)]


def test_escalation_one_tier_up(router: Router, store: MemoryCaseStore) -> None:
    act(router, received(case()))  # street.parking: s.urban at the street
    out = act(router, deadline("GF-1", "s.urban", Tier.STREET, kind=DeadlineKind.ACCEPT))
    a = next(m.message for m in out if isinstance(m.message, CaseAssigned)).payload.assignment
    assert (a.unit_id, a.reason) == ("d.command", AssignmentReason.ESCALATED)
    assert a.why is not None
    assert (a.why.rule, a.why.unit_choice) == (RoutingRule.ESCALATED, UnitChoice.DEFAULT)
    assert "升级" in a.why.text and _steps(a)[-1] == ("d", Tier.DISTRICT)
    held = file_of(store, "GF-1")
    assert held is not None and held.assignment == a  # stored with its explanation


def test_referral_one_tier_up(router: Router) -> None:
    act(router, received(case(category="district.pollution")))  # held by s.command
    act(router, accept("GF-1", "s.command"))
    out = act(router, refer_up("GF-1", "s.command"))
    a = next(m.message for m in out if isinstance(m.message, CaseAssigned)).payload.assignment
    assert (a.unit_id, a.reason) == ("d.env", AssignmentReason.REFERRED)
    assert a.why is not None
    assert (a.why.rule, a.why.unit_choice) == (RoutingRule.REFERRED, UnitChoice.TYPED)
    assert "上报" in a.why.text


def test_rework_goes_back_to_the_same_unit(router: Router, tiny: Site) -> None:
    act(router, received(case()))
    act(router, accept("GF-1", "s.urban"))
    act(router, report_handled("GF-1", "s.urban"))
    out = act(router, verify("GF-1", "s.urban", passed=False))
    a = next(m.message for m in out if isinstance(m.message, CaseAssigned)).payload.assignment
    assert (a.unit_id, a.seq, a.reason) == ("s.urban", 2, AssignmentReason.REWORK)
    assert a.why is not None and a.catalogue_version == tiny.version
    assert (a.why.rule, a.why.unit_choice) == (RoutingRule.REWORK, UnitChoice.SAME)
    assert "返工" in a.why.text and _steps(a)[-1] == ("s", Tier.STREET)


def test_an_old_assignment_without_version_or_why_still_loads() -> None:
    """Stored case files and archived events from before this change."""
    old = {
        "unit_id": "s.urban",
        "unit_name": "Street urban management",
        "tier": "street",
        "owner_tier": "street",
        "jurisdiction_id": "s",
        "seq": 1,
        "reason": "initial",
        "assigned_at": "2026-03-05T10:00:00+08:00",
    }
    a = Assignment.model_validate(old)
    assert a.catalogue_version is None and a.why is None


def test_a_nested_grid_without_units_is_worked_by_the_grid_it_lies_in() -> None:
    site = load_site(BUNDLED_SITES / "maigaoqiao")  # seed 001: three levels of grids
    staffed = {u.jurisdiction for u in site.units}
    inner = next(
        j
        for j in site.jurisdictions
        if j.tier is Tier.GRID and j.id not in staffed and site.is_grid(j.parent or "")
    )
    grid_matter = next(c for c in site.categories if c.tier is Tier.GRID)
    c = case(category=grid_matter.code, grid=inner.id)
    _, to = initial_placement(site, c)
    assert to.why is not None and to.jurisdiction_id == inner.parent
    assert f"Grid {inner.id} has no units of its own" in to.why.text
    assert [s.jurisdiction_id for s in to.why.path] == [inner.id, inner.parent]


def test_path_outside_the_grid_is_the_jurisdiction_alone(tiny: Site) -> None:
    assert [s.jurisdiction_id for s in path(tiny, "s-b-g1", "s-a")] == ["s-a"]

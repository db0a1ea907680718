"""Per-jurisdiction overrides of the routing rules (site.yaml ``routing.overrides``).

In a jurisdiction, and the grids within it, a category may be owned by another unit
type or tier, or routed in another mode; the override nearest the case's grid wins,
and the explanation names it. On the bundled street's own overrides, and on the
other three sample sites with one added; then the catalogue's refusals.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from router.routing import first_assignment
from schemas.cases import CaseDispatched, RoutingRule
from schemas.catalogue import BUNDLED_SITES, RoutingMode, Site, load_site
from schemas.reports import Tier
from tests.unit.router.support import T0, act, case, received

SAMPLES = ("zhuangshi", "pidu", "yichang", "maigaoqiao")


@cache
def _site(name: str) -> Site:
    return load_site(BUNDLED_SITES / name)


def _with_overrides(site: Site, overrides: list[dict[str, Any]]) -> Site:
    """``site`` validated again with these routing overrides instead of its own."""
    data = site.model_dump(mode="json")
    data["routing"]["overrides"] = overrides
    return Site.model_validate(data)


def test_the_bundled_street_routes_straw_burning_in_yongwang_flat_to_the_district() -> None:
    site = _site("zhuangshi")
    here = first_assignment(site, case(category="agriculture.straw_burning", grid="zs-yw-g01"), T0)
    assert (here.unit_id, here.tier, here.owner_tier) == (
        "nb-zh.agriculture",
        "district",
        "district",
    )
    assert here.why is not None and here.why.rule is RoutingRule.FLAT
    assert "Routing override yw-straw-burning of 永旺村 (zs-yw, community)" in here.why.text
    elsewhere = first_assignment(
        site, case(category="agriculture.straw_burning", grid="zs-xzl-g01"), T0
    )
    assert (elsewhere.unit_id, elsewhere.tier) == ("zs.agriculture", "street")
    assert elsewhere.why is not None and "override" not in elsewhere.why.text


def test_the_bundled_street_keeps_wage_arrears_in_daxuecheng_at_the_street() -> None:
    site = _site("zhuangshi")
    router = Router(site, MemoryCaseStore())
    out = act(router, received(case("GF-W", "economy.wage_arrears", "zs-dxc-g01")))
    [told] = [e.message for e in out if isinstance(e.message, CaseDispatched)]
    a = told.payload.assignment  # type: ignore[attr-defined]
    assert (a.unit_id, a.tier, a.owner_tier) == ("zs.economy", Tier.STREET, Tier.STREET)
    assert a.why.rule is RoutingRule.OWNER_TIER and a.why.unit_type == "economy"
    assert "dxc-wage-arrears" in a.why.text and a.catalogue_version == site.version
    plain = first_assignment(site, case(category="economy.wage_arrears", grid="zs-xzl-g01"), T0)
    assert (plain.tier, plain.owner_tier) == ("street", "district")  # enters, is referred up
    assert plain.why is not None and plain.why.rule is RoutingRule.ENTRY_TIER


def _above_street(site: Site) -> tuple[str, str, str]:
    """A category owned above the street, a grid, and the street that grid lies in."""
    category = next(c for c in site.categories if c.tier.rank > Tier.STREET.rank)
    grid = next(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    street = site.ancestor(grid, Tier.STREET)
    assert street is not None
    return category.code, grid, street.id


@pytest.mark.parametrize("name", SAMPLES)
def test_a_street_may_route_in_the_other_mode(name: str) -> None:
    site = _site(name)
    code, grid, street = _above_street(site)
    other = RoutingMode.STEPWISE if site.routing.mode is RoutingMode.FLAT else RoutingMode.FLAT
    changed = _with_overrides(
        site, [{"name": "other-mode", "jurisdiction": street, "categories": [code], "mode": other}]
    )
    before = first_assignment(site, case(category=code, grid=grid), T0)
    after = first_assignment(changed, case(category=code, grid=grid), T0)
    owner = site.category(code).tier  # type: ignore[union-attr]
    entry = site.routing.entry_tier
    if other is RoutingMode.FLAT:
        assert (before.tier, after.tier) == (entry, owner)
        assert after.why is not None and after.why.rule is RoutingRule.FLAT
    else:
        assert (before.tier, after.tier) == (owner, entry)
        assert after.why is not None and after.why.rule is RoutingRule.ENTRY_TIER
    assert after.why is not None and "Routing override other-mode" in after.why.text
    assert after.catalogue_version == changed.version != site.version


@pytest.mark.parametrize("name", SAMPLES)
def test_the_override_nearest_the_grid_wins(name: str) -> None:
    site = _site(name)
    code, grid, street = _above_street(site)
    community = site.ancestor(grid, Tier.COMMUNITY)
    assert community is not None
    default_type = next(u.unit_types[0] for u in site.units if u.jurisdiction == community.id)
    changed = _with_overrides(
        site,
        [
            {"name": "street-wide", "jurisdiction": street, "tier": "district"},
            {
                "name": "community",
                "jurisdiction": community.id,
                "categories": [code],
                "tier": "community",
                "unit_type": default_type,
            },
        ],
    )
    a = first_assignment(changed, case(category=code, grid=grid), T0)
    assert (a.tier, a.owner_tier, a.jurisdiction_id) == ("community", "community", community.id)
    assert a.why is not None and "Routing override community " in a.why.text
    other = next(c.code for c in site.categories if c.code != code and c.tier is Tier.GRID)
    b = first_assignment(changed, case(category=other, grid=grid), T0)
    assert b.owner_tier == "district"  # the street-wide one, for every other category
    assert b.why is not None and "street-wide" in b.why.text


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ({"jurisdiction": "zs-nowhere", "tier": "street"}, "unknown jurisdiction zs-nowhere"),
        (
            {"jurisdiction": "zs", "categories": ["no.such"], "tier": "street"},
            "unknown categories ['no.such']",
        ),
        ({"jurisdiction": "zs", "unit_type": "forestry"}, "no unit has type forestry"),
        ({"jurisdiction": "zs"}, "sets none of unit_type, tier, mode"),
    ],
)
def test_a_bad_override_is_refused_with_a_clear_reason(override: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=said.replace("[", r"\[").replace("]", r"\]")):
        _with_overrides(_site("zhuangshi"), [{"name": "bad", **override}])


def test_two_overrides_for_one_category_at_one_jurisdiction_are_refused() -> None:
    both = [
        {"name": "a", "jurisdiction": "zs", "categories": ["urban.garbage"], "tier": "street"},
        {"name": "b", "jurisdiction": "zs", "categories": ["urban.garbage"], "mode": "flat"},
    ]
    with pytest.raises(ValueError, match="routing overrides a and b both apply in zs"):
        _with_overrides(_site("zhuangshi"), both)
    twice = [{**both[0], "name": "a"}, {**both[1], "name": "a", "jurisdiction": "zs-yw"}]
    with pytest.raises(ValueError, match="duplicate routing override names"):
        _with_overrides(_site("zhuangshi"), twice)


def test_route_explain_names_the_override() -> None:
    from typer.testing import CliRunner

    from services.cli import app

    args = ["route", "--explain", "--category", "agriculture.straw_burning", "--grid", "zs-yw-g02"]
    result = CliRunner().invoke(app, [*args, "--at", "2026-03-05T10:00:00+08:00"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["unit_id"], out["tier"]) == ("nb-zh.agriculture", "district")
    assert out["why"]["rule"] == "flat"
    assert "Routing override yw-straw-burning" in out["why"]["text"]

"""Every bundled site loads, is sized like its seed, and is what its generator writes.

The figures are the seeds' (docs: README, "The bundled sites"): seed 000's street
with 14 communities and 133 grids; seed 004's district with 589 grids (555 general,
34 dedicated) and fifteen duties; seed 002's city with 112 communities and 1,110 grids,
routed flat; seed 001's street with 13, 255 and 3,052 grids on three levels.
"""

from __future__ import annotations

import time
from collections import Counter
from functools import cache

import pytest

from schemas.catalogue import BUNDLED_SITES, GridKind, RoutingMode, Site, load_site
from schemas.reports import Tier
from schemas.sites import generate

NAMES = ("zhuangshi", "pidu", "yichang", "maigaoqiao")


@cache
def site(name: str) -> Site:
    return load_site(BUNDLED_SITES / name)


def _tiers(s: Site) -> Counter[Tier]:
    return Counter(j.tier for j in s.jurisdictions)


def _nested(s: Site) -> list[str]:
    """Grids whose parent is a grid (seed 001's third level)."""
    return [
        j.id
        for j in s.jurisdictions
        if j.tier is Tier.GRID and (p := s.jurisdiction(j.parent or "")) and p.tier is Tier.GRID
    ]


def test_every_bundled_site_is_tested_here() -> None:
    found = sorted(p.parent.name for p in BUNDLED_SITES.glob("*/site.yaml"))
    assert found == sorted(NAMES)


def test_the_generated_files_are_what_the_generator_writes() -> None:
    """``python -m schemas.sites.generate`` after editing it: this fails until then."""
    stale = [
        str(path.relative_to(BUNDLED_SITES))
        for path, content in generate.render().items()
        if not path.exists() or path.read_text(encoding="utf-8") != content
    ]
    assert stale == []


def test_zhuangshi_is_seed_000s_street() -> None:
    s = site("zhuangshi")
    assert _tiers(s)[Tier.COMMUNITY] == 14 and _tiers(s)[Tier.GRID] == 133
    assert len({c.group for c in s.categories}) == 7


def test_pidu_is_seed_004s_district() -> None:
    s = site("pidu")
    grids = [j for j in s.jurisdictions if j.tier is Tier.GRID]
    assert len(grids) == 589
    assert Counter(g.kind for g in grids) == {GridKind.GENERAL: 555, GridKind.DEDICATED: 34}
    assert _tiers(s)[Tier.DISTRICT] == 1 and s.routing.mode is RoutingMode.STEPWISE
    # fifteen duties, sunk by fifteen district departments; 48 items (the seed's 48 tasks)
    assert len({c.group for c in s.categories}) == 15
    assert len(s.categories) == 48
    departments = [u for u in s.units if u.jurisdiction == "cd-pd" and not u.default]
    assert len(departments) == 15
    assert len({t for u in departments for t in u.unit_types}) == 15
    # each duty's department owns at least one of its items at the district
    duties = {zh: unit_type for _, zh, unit_type, _ in generate.PIDU_DUTIES}
    owned = {(c.group, c.unit_type) for c in s.categories if c.tier is Tier.DISTRICT}
    assert all((group, owner) in owned for group, owner in duties.items())


def test_yichang_is_seed_002s_city_in_flat_mode() -> None:
    s = site("yichang")
    assert s.routing.mode is RoutingMode.FLAT
    assert _tiers(s)[Tier.COMMUNITY] == 112 and _tiers(s)[Tier.GRID] == 1110
    assert {c.group for c in s.categories} == {
        "信息采集",
        "综合治理",
        "民政服务",
        "劳动保障",
        "计生服务",
        "城市管理",
    }
    # one grid manager a grid (一格一员), three stations a community
    managers = [u for u in s.units if u.id.endswith(".manager")]
    assert len(managers) == 1110
    stations = Counter(
        u.jurisdiction for u in s.units if s.jurisdiction(u.jurisdiction).tier is Tier.COMMUNITY
    )  # type: ignore[union-attr]
    assert set(stations.values()) == {3}


def test_maigaoqiao_is_seed_001s_street_with_three_levels_of_grids() -> None:
    s = site("maigaoqiao")
    first = [j for j in s.jurisdictions if j.tier is Tier.COMMUNITY]
    assert len(first) == 13  # 12 communities and the start-up park
    nested = set(_nested(s))
    second = [j for j in s.jurisdictions if j.tier is Tier.GRID and j.id not in nested]
    assert len(second) == 255 and len(nested) == 3052
    assert {c.group for c in s.categories} == {
        "市容环境",
        "流动人口",
        "便民为民",
        "平安和谐",
        "商业网点",
    }
    # a third-level grid has no unit: its second-level grid's leader works it
    third = sorted(nested)[0]
    serving = s.serving(third, Tier.GRID)
    assert serving is not None and serving.id == s.jurisdiction(third).parent  # type: ignore[union-attr]
    assert s.unit_for(serving.id, "grid_general").id == f"{serving.id}.leader"  # type: ignore[union-attr]
    assert s.ancestor(third, Tier.COMMUNITY).tier is Tier.COMMUNITY  # type: ignore[union-attr]
    assert s.within(third, serving.id) and s.within(third, "mgq")
    assert not s.within(serving.id, third)


@pytest.mark.parametrize("name", NAMES)
def test_every_grid_is_mapped_and_its_inside_locates_to_it(name: str) -> None:
    s = site(name)
    mapped = s.grid_map
    assert mapped is not None
    grids = {j.id for j in s.jurisdictions if j.tier is Tier.GRID}
    assert set(mapped.grids) == grids
    leaves = grids - {j.parent for j in s.jurisdictions if j.parent in grids}
    for grid in sorted(leaves):
        inside = mapped.shapes[grid].representative_point()
        found = s.locate(inside.y, inside.x)
        assert found is not None and found.grids == (grid,), grid


def test_the_largest_site_loads_in_reasonable_time() -> None:
    """3,323 places, 3,321 polygons: validated and indexed in well under a restart's
    budget (about 0.5-0.9 s here; the bound leaves room for a busy machine)."""
    start = time.perf_counter()
    load_site(BUNDLED_SITES / "maigaoqiao")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("name", NAMES)
def test_every_unit_has_a_verifier_and_an_approver_over_it(name: str) -> None:
    """A unit's handled cases are checked (核查), and its suspensions and extensions
    (挂起, 延期) decided, by a command room whose jurisdiction holds the unit's place:
    without one, the unit's requests could never be answered."""
    s = site(name)
    for unit in s.units:
        assert s.verifier_for(unit.jurisdiction) is not None, unit.id
        assert s.approver_for(unit.jurisdiction) is not None, unit.id

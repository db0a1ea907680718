"""The bundled site (schemas/sites/zhuangshi) loads and is complete; broken copies fail loudly."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from schemas.catalogue import DEFAULT_SITE, CatalogueError, Site, Warnings, load_site
from schemas.reports import Tier
from schemas.topics import assignment_topic


@pytest.fixture(scope="module")
def bundled() -> Site:
    """The bundled site, loaded by this module itself (not the shared fixture)."""
    return load_site()


def _grids(site: Site) -> list[str]:
    return [j.id for j in site.jurisdictions if j.tier is Tier.GRID]


def test_bundled_site_loads_with_its_identity(bundled: Site) -> None:
    assert bundled.id == "zhuangshi"
    assert bundled.timezone == "Asia/Shanghai"
    assert bundled.routing.mode == "stepwise"
    assert bundled.routing.entry_tier is Tier.STREET
    street = bundled.jurisdiction("zs")
    assert street is not None and street.tier is Tier.STREET and street.parent == "nb-zh"


def test_fourteen_communities_and_133_grids(bundled: Site) -> None:
    communities = [j for j in bundled.jurisdictions if j.tier is Tier.COMMUNITY]
    assert len(communities) == 14
    assert sum(c.name.endswith("村") for c in communities) == 7
    assert sum(c.name.endswith("社区") for c in communities) == 7
    assert bundled.jurisdiction("zs-xzl") is not None  # 兴庄路社区, named in seed 000
    assert len(_grids(bundled)) == 133
    assert all(bundled.ancestor(g, Tier.STREET).id == "zs" for g in _grids(bundled))  # type: ignore[union-attr]


def test_deadlines_follow_seed_000(bundled: Site) -> None:
    community, street = bundled.deadlines_for(Tier.COMMUNITY), bundled.deadlines_for(Tier.STREET)
    assert (community.accept, community.resolve) == (0, 3)
    assert (street.accept, street.resolve, street.refer) == (0, 5, 1)
    assert bundled.deadlines.warn_before_hours is None  # migrated to warnings:
    assert bundled.deadlines.warning == Warnings(shares=[0.5, 0.8], last_day=True)


def test_seven_major_classes(bundled: Site) -> None:
    groups = {c.group for c in bundled.categories}
    assert groups == {
        "综合治理",
        "公共安全",
        "经济管理",
        "农业管理",
        "城建管理",
        "党群文化",
        "社会事务",
    }
    assert {c.tier for c in bundled.categories} == set(Tier)


def test_every_category_has_a_typed_unit_from_every_grid(bundled: Site) -> None:
    """Each category reaches a unit of its own type at its tier, not just a catch-all."""
    missing = []
    for grid in _grids(bundled):
        for category in bundled.categories:
            place = bundled.ancestor(grid, category.tier)
            unit = bundled.unit_for(place.id, category.unit_type) if place else None
            if unit is None or category.unit_type not in unit.unit_types:
                missing.append((grid, category.code))
    assert missing == []


def test_every_tier_above_a_grid_has_a_unit_for_every_category(bundled: Site) -> None:
    """Escalation may lift any case to any tier: a unit (typed or default) must answer."""
    for grid in _grids(bundled)[:20]:
        for tier in Tier:
            place = bundled.ancestor(grid, tier)
            assert place is not None, (grid, tier)
            for category in bundled.categories:
                assert bundled.unit_for(place.id, category.unit_type) is not None


def test_unit_ids_name_topics_and_no_webhooks(bundled: Site) -> None:
    for unit in bundled.units:
        assert assignment_topic(unit.id).name.endswith(unit.id)
        assert unit.webhook is None


# --- broken copies -----------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_copy_loads_unchanged(copy: Path) -> None:
    assert load_site(copy).id == "zhuangshi"


def test_duplicate_jurisdiction_id(copy: Path) -> None:
    with (copy / "jurisdictions.yaml").open("a", encoding="utf-8") as f:
        f.write("- {id: zs-xzl-g01, name: 重复网格, tier: grid, parent: zs-xzl}\n")
    with pytest.raises(CatalogueError, match=r"duplicate jurisdiction ids: \['zs-xzl-g01'\]"):
        load_site(copy)


def test_duplicate_category_code(copy: Path) -> None:
    with (copy / "categories.yaml").open("a", encoding="utf-8") as f:
        f.write(
            "- {code: urban.garbage, name: Again, name_zh: 再次, group: 城建管理, "
            "tier: street, unit_type: urban_management}\n"
        )
    with pytest.raises(CatalogueError, match=r"duplicate category ids: \['urban.garbage'\]"):
        load_site(copy)


def test_duplicate_unit_id(copy: Path) -> None:
    with (copy / "units.yaml").open("a", encoding="utf-8") as f:
        f.write(
            "- {id: zs.urban, name: 又一个城管, jurisdiction: zs, unit_types: [urban_management]}\n"
        )
    with pytest.raises(CatalogueError, match=r"duplicate unit ids: \['zs.urban'\]"):
        load_site(copy)


def test_a_category_no_unit_owns(copy: Path) -> None:
    with (copy / "categories.yaml").open("a", encoding="utf-8") as f:
        f.write(
            "- {code: urban.forest_fire, name: Forest fire, name_zh: 山林火情, group: 城建管理, "
            "tier: street, unit_type: forestry}\n"
        )
    with pytest.raises(
        CatalogueError, match=r"category urban\.forest_fire: no unit has type forestry"
    ):
        load_site(copy)


def test_unknown_parent(copy: Path) -> None:
    _edit(
        copy / "jurisdictions.yaml",
        "{id: zs-xzl-g01, name: 兴庄路社区第1网格, tier: grid, parent: zs-xzl}",
        "{id: zs-xzl-g01, name: 兴庄路社区第1网格, tier: grid, parent: zs-nowhere}",
    )
    with pytest.raises(CatalogueError, match="jurisdiction zs-xzl-g01: unknown parent zs-nowhere"):
        load_site(copy)


def test_missing_default_unit(copy: Path) -> None:
    path = copy / "units.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if not ln.startswith("- {id: zs-xzl-g01.leader,")]
    assert len(kept) == len(lines) - 1
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    with pytest.raises(
        CatalogueError, match="jurisdiction zs-xzl-g01 needs exactly one default unit, has 0"
    ):
        load_site(copy)


def test_unit_in_unknown_jurisdiction(copy: Path) -> None:
    with (copy / "units.yaml").open("a", encoding="utf-8") as f:
        f.write("- {id: zs.ghost, name: 幽灵部门, jurisdiction: zs-ghost, unit_types: [x]}\n")
    with pytest.raises(CatalogueError, match=r"unit zs\.ghost: unknown jurisdiction zs-ghost"):
        load_site(copy)


def test_bad_yaml(copy: Path) -> None:
    (copy / "categories.yaml").write_text("- {code: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"categories\.yaml is not valid YAML"):
        load_site(copy)


def test_missing_file(copy: Path) -> None:
    (copy / "units.yaml").unlink()
    with pytest.raises(CatalogueError, match=r"site file missing: .*units\.yaml"):
        load_site(copy)


def test_missing_tier_deadlines(copy: Path) -> None:
    path = copy / "site.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("    city:\n")], encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"deadlines missing for tiers \['city'\]"):
        load_site(copy)


def test_unit_id_that_cannot_name_a_topic(copy: Path) -> None:
    long_id = "zs." + "x" * 160  # the Unit pattern allows it; a topic name does not
    with (copy / "units.yaml").open("a", encoding="utf-8") as f:
        f.write(f"- {{id: {long_id}, name: 太长的部门, jurisdiction: zs, unit_types: [x]}}\n")
    with pytest.raises(CatalogueError, match=rf"unit id '{long_id}' cannot name a topic"):
        load_site(copy)


# --- local additions to the official calendar ---------------------------------------

_CALENDAR_ANCHOR = "  reminder_every: {hours: 24}\n"


def _add_calendar(copy: Path, lines: str) -> None:
    _edit(copy / "site.yaml", _CALENDAR_ANCHOR, _CALENDAR_ANCHOR + lines)


def test_no_local_calendar_by_default(bundled: Site) -> None:
    assert bundled.deadlines.holidays == [] and bundled.deadlines.workdays == []


def test_local_holidays_and_workdays_load(copy: Path) -> None:
    _add_calendar(copy, "  holidays: [2027-01-01, 2027-02-08]\n  workdays:\n    - 2027-02-20\n")
    deadlines = load_site(copy).deadlines
    assert deadlines.holidays == [date(2027, 1, 1), date(2027, 2, 8)]
    assert deadlines.workdays == [date(2027, 2, 20)]


def test_a_date_both_holiday_and_workday(copy: Path) -> None:
    _add_calendar(copy, "  holidays: [2027-01-01, 2027-02-08]\n  workdays: [2027-02-08]\n")
    with pytest.raises(CatalogueError, match=r"dates both holidays and workdays: \['2027-02-08'\]"):
        load_site(copy)


def test_a_calendar_entry_that_is_not_a_date(copy: Path) -> None:
    _add_calendar(copy, "  holidays: [next-tuesday]\n")
    with pytest.raises(CatalogueError, match=r"deadlines\.holidays\.0"):
        load_site(copy)


def test_the_memo_keeps_the_keys_used_last_and_is_never_shared_by_a_copy() -> None:
    import schemas.catalogue as catalogue
    from tests.support.sites import tiny_site

    site = tiny_site()
    calls: list[int] = []

    def compute(n: int) -> int:
        calls.append(n)
        return n * n

    assert site.memo(("sq", 3), lambda: compute(3)) == 9
    assert site.memo(("sq", 3), lambda: compute(3)) == 9
    assert calls == [3]  # once per key
    copy = site.model_copy()
    assert copy.memo(("sq", 3), lambda: compute(3)) == 9 and calls == [3, 3]  # its own
    size, catalogue.MEMO_SIZE = catalogue.MEMO_SIZE, 2
    try:
        site.memo(("sq", 4), lambda: compute(4))
        site.memo(("sq", 3), lambda: compute(3))  # used again: the most recent now
        site.memo(("sq", 5), lambda: compute(5))  # evicts 4, the least recent
        site.memo(("sq", 3), lambda: compute(3))
        site.memo(("sq", 4), lambda: compute(4))
    finally:
        catalogue.MEMO_SIZE = size
    assert calls == [3, 3, 4, 5, 4]

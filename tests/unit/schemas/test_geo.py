"""Boundaries: validated at load (a grid outside its parent, overlaps, unknown places are
refused, all named), and points placed by rule (innermost grid; on a shared edge the
smallest id, said so; off the map, nothing). Nested grids: the catalogue's rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.catalogue import DEFAULT_SITE, CatalogueError, Jurisdiction, Site, Unit, load_site
from schemas.geo import GeoError
from schemas.reports import Tier
from tests.support.sites import tiny_site

Box = tuple[float, float, float, float]


def _feature(place: str, box: Box) -> dict[str, Any]:
    w, s, e, n = box
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    return {
        "type": "Feature",
        "properties": {"id": place},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def _doc(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


# the tiny site: street s > communities s-a (west half), s-b (east half) > grids
STREET = ("s", (120.0, 30.0, 120.2, 30.1))
A = ("s-a", (120.0, 30.0, 120.1, 30.1))
B = ("s-b", (120.1, 30.0, 120.2, 30.1))
A1 = ("s-a-g1", (120.0, 30.0, 120.05, 30.1))
A2 = ("s-a-g2", (120.05, 30.0, 120.1, 30.1))
B1 = ("s-b-g1", (120.1, 30.0, 120.2, 30.1))
GOOD = (STREET, A, B, A1, A2, B1)


def _mapped(*places: tuple[str, Box]) -> Site:
    return tiny_site().with_map(_doc(*(_feature(p, b) for p, b in places)))


def test_a_good_map_places_points_inside_on_edges_and_off_it() -> None:
    site = _mapped(*GOOD)
    inside = site.locate(30.05, 120.02)
    assert inside is not None and inside.grids == ("s-a-g1",) and not inside.on_boundary
    edge = site.locate(30.05, 120.05)  # the edge s-a-g1 and s-a-g2 share
    assert edge is not None and edge.grid_id == "s-a-g1" and edge.grids == ("s-a-g1", "s-a-g2")
    assert edge.on_boundary
    across = site.locate(30.05, 120.1)  # between communities: still the smallest id
    assert across is not None and across.grids == ("s-a-g2", "s-b-g1")
    assert site.locate(30.05, 120.3) is None  # off the map
    assert site.locate(30.0, 120.02) is not None  # the map's outer edge is inside
    assert tiny_site().locate(30.05, 120.02) is None  # no map at all


def test_a_grid_outside_its_parent_is_refused() -> None:
    wide = ("s-a-g2", (120.05, 30.0, 120.12, 30.1))  # reaches into s-b
    with pytest.raises(GeoError, match="s-a-g2 lies outside its parent s-a"):
        _mapped(STREET, A, B, A1, wide)


def test_overlapping_grids_are_refused_and_shared_edges_are_not() -> None:
    over = ("s-a-g2", (120.04, 30.0, 120.1, 30.1))  # overlaps s-a-g1 by 0.01 degree
    with pytest.raises(GeoError, match="s-a-g1 and s-a-g2 overlap"):
        _mapped(A, A1, over)
    same = ("s-a-g2", A1[1])  # the very same square: neither overlaps, both cover
    with pytest.raises(GeoError, match="overlap"):
        _mapped(A1, same)
    _mapped(A1, A2)  # neighbours: fine


def test_unknown_duplicate_and_broken_features_are_named_together() -> None:
    bow_tie = _feature("s-b-g1", B1[1])
    bow_tie["geometry"]["coordinates"] = [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]
    doc = _doc(_feature("nowhere", A1[1]), _feature(*A1), _feature(*A1), bow_tie)
    with pytest.raises(GeoError) as info:
        tiny_site().with_map(doc)
    text = str(info.value)
    assert "nowhere: unknown jurisdiction" in text
    assert "s-a-g1: mapped twice" in text
    assert "s-b-g1: not a valid polygon" in text
    point = _doc({"type": "Feature", "properties": {"id": "s"}, "geometry": {"type": "Point"}})
    with pytest.raises(GeoError, match="Polygon or MultiPolygon"):
        tiny_site().with_map(point)
    with pytest.raises(GeoError, match="FeatureCollection"):
        tiny_site().with_map([])


def test_load_site_refuses_a_bad_map_as_a_catalogue_error(tmp_path: Path) -> None:
    root = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, root)
    doc = json.loads((root / "boundaries.geojson").read_text(encoding="utf-8"))
    first = doc["features"][-1]["geometry"]["coordinates"][0]
    first[1][0] += 1.0  # one grid's corner far east: outside its community, over others
    (root / "boundaries.geojson").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(CatalogueError, match="outside its parent"):
        load_site(root)
    (root / "boundaries.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not JSON"):
        load_site(root)


# --- nested grids in the catalogue -----------------------------------------------------


def _with(places: list[Jurisdiction], units: list[Unit] | None = None) -> Site:
    base = tiny_site()
    data = base.model_dump()
    data["jurisdictions"] += [p.model_dump() for p in places]
    data["units"] += [u.model_dump() for u in units or []]
    return Site.model_validate(data)


def test_a_grid_may_nest_in_a_grid_and_is_worked_by_it() -> None:
    site = _with([Jurisdiction(id="s-a-g1-01", name="Building 1", tier=Tier.GRID, parent="s-a-g1")])
    assert site.is_grid("s-a-g1-01")
    assert site.serving("s-a-g1-01", Tier.GRID).id == "s-a-g1"  # type: ignore[union-attr]
    assert site.serving("s-a-g1-01", Tier.COMMUNITY).id == "s-a"  # type: ignore[union-attr]
    assert site.within("s-a-g1-01", "s-a-g1") and not site.within("s-a-g1", "s-a-g1-01")
    # one with a unit of its own is worked by it
    own = Unit(
        id="s-a-g1-02.leader",
        name="B2",
        jurisdiction="s-a-g1-02",
        unit_types=["general"],
        default=True,
    )
    site = _with([Jurisdiction(id="s-a-g1-02", name="B2", tier=Tier.GRID, parent="s-a-g1")], [own])
    assert site.serving("s-a-g1-02", Tier.GRID).id == "s-a-g1-02"  # type: ignore[union-attr]


def test_nested_grids_keep_the_tree_rules() -> None:
    def refused(places: list[Jurisdiction], units: list[Unit] | None = None) -> str:
        with pytest.raises(ValueError) as info:
            _with(places, units)
        return str(info.value)

    loop = [
        Jurisdiction(id="x1", name="x1", tier=Tier.GRID, parent="x2"),
        Jurisdiction(id="x2", name="x2", tier=Tier.GRID, parent="x1"),
    ]
    assert "loop" in refused(loop)
    street_in_grid = [Jurisdiction(id="z", name="z", tier=Tier.COMMUNITY, parent="s-a-g1")]
    assert "is not one up" in refused(street_in_grid)
    kind = [Jurisdiction(id="z", name="z", tier=Tier.COMMUNITY, parent="s", kind="general")]
    assert "only grids have a kind" in refused(kind)
    # a nested grid with units must still have exactly one default among them
    units = [Unit(id="n.u", name="u", jurisdiction="n", unit_types=["general"])]
    nested = [Jurisdiction(id="n", name="n", tier=Tier.GRID, parent="s-a-g1")]
    assert "needs exactly one default unit, has 0" in refused(nested, units)
    # a grid under a community still needs its own
    assert "needs exactly one default" in refused(
        [Jurisdiction(id="s-a-g9", name="g9", tier=Tier.GRID, parent="s-a")]
    )


def test_zhuangshi_map_is_yaml_consistent() -> None:
    """The bundled site maps its street, its 14 communities and its 133 grids."""
    places = yaml.safe_load((DEFAULT_SITE / "jurisdictions.yaml").read_text(encoding="utf-8"))
    site = load_site()
    assert site.grid_map is not None
    assert len(site.grid_map) == len(places) - 2  # all but the city and the district


def test_many_points_at_once_are_placed_as_one_at_a_time() -> None:
    site = _mapped(*GOOD)
    points = [(30.05, 120.02), (30.05, 120.05), (30.05, 120.1), (30.05, 120.3), (30.0, 120.02)]
    assert site.locate_many(points) == [site.locate(lat, lon) for lat, lon in points]
    assert site.locate_many([]) == []
    assert tiny_site().locate_many(points[:2]) == [None, None]  # no map at all


def test_many_points_on_nested_grids_keep_the_innermost() -> None:
    from schemas.catalogue import BUNDLED_SITES, load_site

    site = load_site(BUNDLED_SITES / "maigaoqiao")  # three levels of grids
    mapped = site.grid_map
    assert mapped is not None
    leaves = sorted(mapped.grids)[::97]
    points = [(p.y, p.x) for p in (mapped.shapes[g].representative_point() for g in leaves)] + [
        (0.0, 0.0)
    ]
    assert site.locate_many(points) == [site.locate(lat, lon) for lat, lon in points]
    assert site.locate_many(points)[-1] is None

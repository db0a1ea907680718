"""Places from coordinates: a site's boundaries, and the grid a point lies in.

A site may map its jurisdictions in ``boundaries.geojson`` beside ``site.yaml``: a
GeoJSON FeatureCollection with one Polygon or MultiPolygon feature per mapped
jurisdiction, whose ``properties.id`` is the jurisdiction's id, in WGS 84
longitude/latitude (GeoJSON's own order: lon first). Any tier may be mapped; only
grids are placed into.

It is validated at load, with every problem named at once (:class:`GeoError`):

- each feature names a known jurisdiction, once, with a valid polygon of some area;
- a jurisdiction lies inside its nearest mapped ancestor (within
  :data:`AREA_TOLERANCE`: shared edges are fine, a sliver outside is not);
- two jurisdictions of which neither contains the other never overlap (more than
  :data:`AREA_TOLERANCE`): neighbours may share edges, never area.

A point is placed by :meth:`GridMap.locate` through an STRtree over the grids'
polygons, built once when the site loads: a look-up costs a tree query, never a
loop over the grids. A point lies in a grid when the grid's closed polygon (its
edges included) contains it. Of nested grids that contain it, the innermost is
kept. A point on an edge that several grids share lies in all of them: the
smallest id (in string order) wins, and the caller is told the point was on a
boundary, so that whoever works the case knows the place was decided by rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import shape

BOUNDARIES_FILE = "boundaries.geojson"
AREA_TOLERANCE = 1e-12
"""Square degrees: about a hundredth of a square metre at China's latitudes. An area
outside a parent, or shared by two places, up to this is a rounding error."""


class GeoError(ValueError):
    """Boundaries that cannot be used, with every reason found."""


@dataclass(frozen=True)
class Located:
    """Where a point lies: the grid it is placed in, and every grid that contains it.

    ``grids`` is sorted, and ``grid_id`` is its first. More than one means the point
    is on a boundary shared by those grids.
    """

    grids: tuple[str, ...]

    @property
    def grid_id(self) -> str:
        return self.grids[0]

    @property
    def on_boundary(self) -> bool:
        return len(self.grids) > 1


class GridMap:
    """The mapped jurisdictions of one site, and an STRtree over its grids."""

    def __init__(
        self,
        shapes: Mapping[str, shapely.Geometry],
        grids: Sequence[str],
        parent_of: Callable[[str], str | None],
    ) -> None:
        self.shapes = dict(shapes)
        self._grid_ids = list(grids)
        self._grid_array = np.array(self._grid_ids, dtype=object)
        self._tree = STRtree([self.shapes[g] for g in self._grid_ids])
        self._parent_of = parent_of

    def __len__(self) -> int:
        return len(self.shapes)

    @property
    def grids(self) -> list[str]:
        """The grids points are placed into, in file order."""
        return list(self._grid_ids)

    def locate(self, lat: float, lon: float) -> Located | None:
        """The grid the point (``lat``, ``lon``) lies in, or None when it lies in none."""
        hits = self._tree.query(shapely.Point(lon, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        found = set(self._grid_array[hits].tolist())
        if len(found) > 1:  # nested grids: keep the innermost
            found -= {a for g in found for a in self._ancestors(g)}
        return Located(grids=tuple(sorted(found)))

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[Located | None]:
        """:meth:`locate` for each ``(lat, lon)`` of ``points``, in one query of the tree:
        what a batch of reports asks at once (a loop of :meth:`locate` builds a point and
        queries the tree once per report)."""
        if not points:
            return []
        coords = np.asarray(points, dtype=float)
        query = shapely.points(coords[:, 1], coords[:, 0])
        inputs, hits = self._tree.query(query, predicate="intersects")
        found: list[set[str]] = [set() for _ in points]
        for i, g in zip(inputs.tolist(), self._grid_array[hits].tolist(), strict=True):
            found[i].add(g)
        out: list[Located | None] = []
        for grids in found:
            if len(grids) > 1:  # nested grids: keep the innermost
                grids -= {a for g in grids for a in self._ancestors(g)}
            out.append(Located(grids=tuple(sorted(grids))) if grids else None)
        return out

    def _ancestors(self, place: str) -> list[str]:
        out = []
        up = self._parent_of(place)
        while up is not None and len(out) < 64:
            out.append(up)
            up = self._parent_of(up)
        return out


def read_geojson(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GeoError(f"{path} is not JSON: {exc}") from exc


def build(
    doc: Any,
    parent_of: Mapping[str, str | None],
    is_grid: Callable[[str], bool],
) -> GridMap:
    """Validate a GeoJSON FeatureCollection against the site's jurisdictions
    (``parent_of``: every jurisdiction id to its parent's) and index its grids."""
    problems: list[str] = []
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise GeoError("boundaries: a GeoJSON FeatureCollection is expected")
    features = doc.get("features")
    if not isinstance(features, list):
        raise GeoError("boundaries: features must be a list")
    shapes: dict[str, shapely.Geometry] = {}
    rings: list[tuple[str, Any]] = []  # one-ring polygons, built together below
    for n, feature in enumerate(features):
        where = f"boundaries feature {n}"
        props = feature.get("properties") if isinstance(feature, dict) else None
        place = props.get("id") if isinstance(props, dict) else None
        if not isinstance(place, str):
            problems.append(f"{where}: properties.id must name a jurisdiction")
            continue
        where = f"boundaries of {place}"
        if place not in parent_of:
            problems.append(f"{where}: unknown jurisdiction")
            continue
        if place in shapes:
            problems.append(f"{where}: mapped twice")
            continue
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            problems.append(f"{where}: geometry must be a Polygon or MultiPolygon")
            continue
        shapes[place] = shapely.Point()  # a placeholder, keeping the file's order
        coords = geometry.get("coordinates")
        if geometry["type"] == "Polygon" and isinstance(coords, list) and len(coords) == 1:
            rings.append((place, coords[0]))
            continue
        try:
            shapes[place] = shape(geometry)
        except (ValueError, TypeError, KeyError, IndexError, shapely.errors.ShapelyError) as exc:
            problems.append(f"{where}: not a polygon ({type(exc).__name__})")
    problems.extend(_simple_polygons(rings, shapes))
    for place, geom in shapes.items():
        if geom.is_empty:
            continue  # refused above
        if not geom.is_valid or geom.area <= AREA_TOLERANCE:
            problems.append(f"boundaries of {place}: not a valid polygon with an area")
            continue
        west, south, east, north = geom.bounds
        if west < -180 or east > 180 or south < -90 or north > 90:
            problems.append(f"boundaries of {place}: outside longitude -180..180, latitude -90..90")
    if problems:
        raise GeoError("; ".join(problems[:20]))

    def ancestors(place: str) -> list[str]:
        out: list[str] = []
        up = parent_of.get(place)
        while up is not None and len(out) <= len(parent_of):
            out.append(up)
            up = parent_of.get(up)
        return out

    lineage = {p: ancestors(p) for p in shapes}
    problems.extend(_outside_parents(shapes, lineage))
    problems.extend(_overlaps(shapes, lineage))
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise GeoError("; ".join(problems[:20]) + more)
    # the grids a point is placed into: mapped grids, in file order
    grids = [p for p in shapes if is_grid(p)]
    return GridMap(shapes, grids, parent_of.get)


def _simple_polygons(
    rings: Sequence[tuple[str, Any]], shapes: dict[str, shapely.Geometry]
) -> list[str]:
    """The one-ring polygons, built in one call: the bulk of a generated map, and a
    few times faster than one GeoJSON shape at a time."""
    if not rings:
        return []
    try:
        sizes = [len(r) for _, r in rings]
        coords = np.asarray([xy for _, r in rings for xy in r], dtype=float)
        if coords.ndim != 2 or coords.shape[1] != 2 or min(sizes) < 4:
            raise ValueError("a ring is [lon, lat] pairs, at least four")
        ring_of = np.repeat(np.arange(len(rings)), sizes)
        built = shapely.polygons(shapely.linearrings(coords, indices=ring_of))
    except (ValueError, TypeError, shapely.errors.ShapelyError):
        built = None  # one by one, to say which
    if built is not None:
        for (place, _), geom in zip(rings, built.tolist(), strict=True):
            shapes[place] = geom
        return []
    problems = []
    for place, ring in rings:
        try:
            shapes[place] = shape({"type": "Polygon", "coordinates": [ring]})
        except (ValueError, TypeError, KeyError, IndexError, shapely.errors.ShapelyError) as exc:
            problems.append(f"boundaries of {place}: not a polygon ({type(exc).__name__})")
    return problems


def _array(geoms: Iterable[shapely.Geometry]) -> np.ndarray:
    items = list(geoms)
    return np.fromiter(items, dtype=object, count=len(items))


def _outside_parents(
    shapes: Mapping[str, shapely.Geometry], lineage: Mapping[str, list[str]]
) -> list[str]:
    """Each mapped place against its nearest mapped ancestor, all pairs at once."""
    pairs = [(p, next((a for a in lineage[p] if a in shapes), None)) for p in shapes if lineage[p]]
    pairs = [(p, a) for p, a in pairs if a is not None]
    if not pairs:
        return []
    children = _array(shapes[p] for p, _ in pairs)
    parents = _array(shapes[a] for _, a in pairs)
    inside = shapely.covered_by(children, parents)  # a fast predicate; areas only for the rest
    out = np.flatnonzero(~inside)
    if len(out) == 0:
        return []
    outside = shapely.area(shapely.difference(children[out], parents[out]))
    return [
        f"{pairs[i][0]} lies outside its parent {pairs[i][1]}"
        for i, area in zip(out.tolist(), outside.tolist(), strict=True)
        if area > AREA_TOLERANCE
    ]


def _overlaps(
    shapes: Mapping[str, shapely.Geometry], lineage: Mapping[str, list[str]]
) -> list[str]:
    """Pairs of places, neither inside the other, that share area.

    The tree gives the pairs whose bounding boxes meet; only those whose boxes share
    area (neighbours that share an edge do not) are measured, together.
    """
    ids = list(shapes)
    geoms = _array(shapes[p] for p in ids)
    left, right = STRtree(geoms).query(geoms)
    ahead = left < right
    left, right = left[ahead], right[ahead]
    box = shapely.bounds(geoms)
    width = np.minimum(box[left, 2], box[right, 2]) - np.maximum(box[left, 0], box[right, 0])
    height = np.minimum(box[left, 3], box[right, 3]) - np.maximum(box[left, 1], box[right, 1])
    meet = (width > 0) & (height > 0) & (width * height > AREA_TOLERANCE)
    keep = [
        (i, j)
        for i, j in zip(left[meet].tolist(), right[meet].tolist(), strict=True)
        if ids[j] not in lineage[ids[i]] and ids[i] not in lineage[ids[j]]
    ]
    if not keep:
        return []
    shared = shapely.area(
        shapely.intersection(geoms[[i for i, _ in keep]], geoms[[j for _, j in keep]])
    )
    return [
        f"{ids[i]} and {ids[j]} overlap"
        for (i, j), area in zip(keep, shared.tolist(), strict=True)
        if area > AREA_TOLERANCE
    ]

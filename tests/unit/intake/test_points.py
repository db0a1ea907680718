"""Reports that give a point and no grid: placed by intake through the site's map.

And the rule that a report names its grid or gives a point, which the model and the
published JSON Schema state alike.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from intake import Intake
from schemas.cases import CaseReceived
from schemas.catalogue import BUNDLED_SITES, Site, load_site
from schemas.deadletter import Rejected, RejectionReason
from schemas.jsonschema import OUT
from schemas.reports import RawReport
from tests.support.processing import handle_one
from tests.unit.intake.conftest import NOW


@cache
def maigaoqiao() -> Site:
    return load_site(BUNDLED_SITES / "maigaoqiao")


def data(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "channel": "grid_app",
        "external_id": "APP-1",
        "reported_at": "2024-06-03T09:12:45+08:00",
        "category": "appearance.garbage",
        "description": "垃圾桶满了。",
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def _case(site: Site, raw: dict[str, Any]) -> CaseReceived:
    [emit] = handle_one(Intake(site), RawReport.model_validate(raw), NOW)
    assert isinstance(emit.message, CaseReceived)
    return emit.message


def _box(site: Site, grid: str) -> tuple[float, float, float, float]:
    assert site.grid_map is not None
    return site.grid_map.shapes[grid].bounds


def test_a_point_inside_a_third_level_grid_is_placed_there() -> None:
    site = maigaoqiao()
    w, s, e, n = _box(site, "mgq-c03-g04-05")
    case = _case(site, data(location={"lat": (s + n) / 2 + 1e-6, "lon": (w + e) / 2 + 1e-6}))
    assert case.payload.grid_id == "mgq-c03-g04-05"
    placement = case.payload.placement
    assert placement is not None and placement.grids == ["mgq-c03-g04-05"]
    assert not placement.on_boundary


def test_a_point_on_a_shared_edge_takes_the_smallest_id_and_says_so() -> None:
    site = maigaoqiao()
    _, s, e, n = _box(site, "mgq-c03-g04-05")
    case = _case(site, data(location={"lat": (s + n) / 2, "lon": e}))  # its east edge
    placement = case.payload.placement
    assert placement is not None and placement.on_boundary
    assert case.payload.grid_id == placement.grids[0] == min(placement.grids)
    assert "mgq-c03-g04-05" in placement.grids and len(placement.grids) >= 2


def test_a_point_on_no_grid_is_a_case_filed_under_the_site_area_for_manual_dispatch() -> None:
    """Not a dead letter: a case with its id, marked off the map, its grid the site's area
    (the router queues it for that area's command room)."""
    site = maigaoqiao()
    case = _case(site, data(location=POINT_AWAY)).payload
    assert case.case_id.startswith("GF-")
    assert case.grid_id == site.area.id == "mgq"
    assert case.placement is not None and case.placement.off_map
    assert case.placement.grids == [] and not case.placement.on_boundary


def test_a_point_on_no_grid_with_another_problem_is_refused_naming_both() -> None:
    """Refused for the other problem; the off-map point is named, never its coordinates."""
    with pytest.raises(Rejected) as info:
        handle_one(
            Intake(maigaoqiao()),
            RawReport.model_validate(data(location=POINT_AWAY, external_id="  ")),
            NOW,
        )
    refused = info.value
    assert refused.reason is RejectionReason.INVALID
    assert {(e.loc, e.type) for e in refused.errors} == {
        ("external_id", "blank"),
        ("location", "no_grid"),
    }
    assert "31.5" not in refused.message and "118.5" not in refused.message


def test_an_unknown_category_and_a_point_on_no_grid_is_still_a_case() -> None:
    case = _case(maigaoqiao(), data(location=POINT_AWAY, category="no.such")).payload
    assert case.category == "no.such" and case.placement is not None and case.placement.off_map


POINT_AWAY = {"lat": 31.5, "lon": 118.5}  # west of the street's map


def test_a_named_grid_wins_over_the_point() -> None:
    site = maigaoqiao()
    case = _case(site, data(grid_id="mgq-c01-g01", location=POINT_AWAY))
    assert case.payload.grid_id == "mgq-c01-g01" and case.payload.placement is None


# --- the model and the JSON Schema agree ------------------------------------------------

AGREED = [
    (data(grid_id="g"), True),
    (data(location={"lat": 32.1, "lon": 118.8}), True),
    (data(grid_id="g", location={"lat": 32.1, "lon": 118.8}), True),
    (data(grid_id="g", location={"address": "某路1号"}), True),
    (data(grid_id=None, location={"lat": 32.1, "lon": 118.8, "address": "某路1号"}), True),
    (data(), False),  # neither
    (data(location={"lat": 32.1}), False),  # half a point
    (data(location={"lat": 32.1, "lon": None}), False),
    (data(location={"address": "某路1号"}), False),
    (data(location=None), False),
    ({**data(location={"lat": 32.1, "lon": 118.8}), "grid_id": None}, True),
    ({**data(), "grid_id": None, "location": None}, False),
    (data(location={"lat": 132.1, "lon": 118.8}), False),  # out of range
]


@cache
def _schema() -> Draft202012Validator:
    return Draft202012Validator(
        json.loads((OUT / "report.raw.schema.json").read_text(encoding="utf-8"))
    )


@pytest.mark.parametrize(("raw", "valid"), AGREED)
def test_the_model_and_the_published_schema_agree(raw: dict[str, Any], valid: bool) -> None:
    assert _schema().is_valid(raw) is valid
    try:
        RawReport.model_validate_json(json.dumps(raw))
        model_valid = True
    except ValidationError:
        model_valid = False
    assert model_valid is valid

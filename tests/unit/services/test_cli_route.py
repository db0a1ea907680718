"""``gridflow route --explain``: intake's normalisation and the first dispatch, no servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from typer.testing import CliRunner

from schemas.catalogue import DEFAULT_SITE, load_site
from services.cli import app

runner = CliRunner()
AT = "2026-03-05T10:00:00+08:00"  # a Thursday, a working day
GRID = "zs-xzl-g01"
MEDIATION = "governance.neighbour_dispute"  # a community matter, for a mediation committee


def route(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, ["route", *args, "--at", AT])
    assert result.exit_code == code, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_flags_give_the_unit_tier_explanation_and_clocks() -> None:
    out = route("--explain", "--category", MEDIATION, "--grid", GRID, "--channel", "hotline_12345")
    assert (out["unit_id"], out["tier"], out["jurisdiction_id"]) == (
        "zs-xzl.mediation",
        "community",
        "zs-xzl",
    )
    assert out["catalogue_version"] == load_site(DEFAULT_SITE).version
    assert out["case"]["channel"] == "hotline_12345"
    why = out["why"]
    assert (why["rule"], why["unit_choice"]) == ("owner_tier", "typed")
    assert [s["jurisdiction_id"] for s in why["path"]] == [GRID, "zs-xzl"]
    assert [d["kind"] for d in out["due"]] == ["accept", "resolve"]
    assert out["due"][0]["due_at"] == "2026-03-06T00:00:00+08:00"  # the same working day


def test_without_explain_there_is_no_why() -> None:
    out = route("--category", MEDIATION, "--grid", GRID, "--urgency", "urgent")
    assert "why" not in out and out["case"]["urgency"] == "urgent"


def test_a_raw_report_file_with_a_point_is_placed_then_routed(tmp_path: Path) -> None:
    doc = json.loads((DEFAULT_SITE / "boundaries.geojson").read_text(encoding="utf-8"))
    polygon = next(f for f in doc["features"] if f["properties"]["id"] == GRID)["geometry"]
    inside = shape(polygon).representative_point()
    report = {
        "channel": "grid_app",
        "external_id": "W-1",
        "reported_at": "2026-03-05T09:30:00+08:00",
        "category": f"  {MEDIATION.upper()} ",  # intake normalises codes
        "description": "两户邻居\t因噪音争吵",
        "location": {"lat": inside.y, "lon": inside.x},
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    out = route(str(path), "--explain")
    assert out["case"]["category"] == MEDIATION and out["case"]["grid_id"] == GRID
    assert out["case"]["placement"] is not None
    assert out["unit_id"] == "zs-xzl.mediation" and out["why"]["path"][0]["jurisdiction_id"] == GRID


def test_a_refused_report_prints_why_and_exits_1() -> None:
    out = route("--category", "no.such", "--grid", GRID, code=1)
    assert out["refused"] == "unknown_reference"
    assert [e["loc"] for e in out["errors"]] == ["category"]


def test_a_file_and_flags_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["route", str(path), "--category", MEDIATION])
    assert result.exit_code == 2 and "not both" in result.output


def test_an_invalid_report_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"channel": "pigeon"}', encoding="utf-8")
    result = runner.invoke(app, ["route", str(path)])
    assert result.exit_code == 2 and "not a valid raw report" in result.output

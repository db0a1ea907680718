"""The KPIs read from the archive in SQLite and PostgreSQL equal the hand-computed ones
(tests/unit/archive/test_kpi.py), and `gridflow kpi` prints them as table, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from archive.kpi import By, Period, compute
from archive.sql import SqlArchiveStore
from escalator.calendar import WorkingCalendar
from services.api.queries import all_cases
from services.cli import app
from storage.db import Transaction, make_engine, metadata
from tests.support.sites import SHANGHAI
from tests.unit.archive.kpi_seed import AS_OF, ROWS
from tests.unit.archive.test_kpi import EXPECTED, check


def _seed(engine: Engine) -> None:
    tx = Transaction(engine)
    with tx.begin():
        SqlArchiveStore(tx).save_cases(ROWS)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_kpis_from_the_database_equal_the_hand_computed(
    db: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(f"{db}_engine")
    _seed(engine)
    with engine.connect() as conn:
        rows = list(all_cases(conn, chunk=3))
    assert sorted(rows, key=lambda r: r.case_id) == ROWS  # every field round-trips
    found = compute(rows, By.UNIT, Period.MONTH, AS_OF, WorkingCalendar(), SHANGHAI)
    check({(f.group, f.period): f for f in found})


def test_the_cli_prints_table_csv_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    _seed(engine)
    monkeypatch.setenv("GRIDFLOW_DATABASE_URL", url)
    runner = CliRunner()
    base = ["kpi", "--by", "unit", "--period", "month", "--as-of", AS_OF.isoformat()]
    out = runner.invoke(app, [*base, "--format", "json"])
    assert out.exit_code == 0, out.output
    figures = {(f["group"], f["period"]): f for f in json.loads(out.output)}
    assert set(figures) == set(EXPECTED)
    assert figures[("s.urban", "2026-03")]["acceptance_rate"] == 0.5
    assert figures[("s.urban", "2026-03")]["p90_handling_days"] == 7
    out = runner.invoke(app, [*base, "--format", "csv"])
    assert out.exit_code == 0, out.output
    lines = list(csv.DictReader(io.StringIO(out.output)))
    assert len(lines) == 4 and lines[0]["group"] == "s.command"
    out = runner.invoke(app, [*base, "--format", "table"])
    assert out.exit_code == 0 and "受理率" in out.output and "s.urban" in out.output
    out = runner.invoke(app, ["report", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert {f["group"] for f in json.loads(out.output)} == {"all"}

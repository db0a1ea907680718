"""The KPIs counted by the database (archive.sql.kpi_figures) in SQLite and PostgreSQL
equal the hand-computed ones (tests/unit/archive/test_kpi.py) and archive.kpi.compute's
over every row, by every grouping and period; `gridflow kpi` prints them as table, CSV
and JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from archive.kpi import By, OneOf, Period, compute
from archive.projection import CaseRow
from archive.sql import SqlArchiveStore, kpi_figures
from services.api.queries import all_cases
from services.cli import app
from storage.db import Transaction, make_engine, metadata
from tests.support.sites import SHANGHAI
from tests.unit.archive.kpi_seed import AS_OF, ROWS, at
from tests.unit.archive.test_kpi import EXPECTED, check

BACKENDS = ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)]

# Rows at the edges of the local periods: 00:30 on New Year's Day in Shanghai is still
# 2026-12-31 in UTC and in ISO week 2026-W53; a case with no unit and a duplicate.
EDGES = [
    replace(ROWS[0], case_id="E1", received_at=datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI)),
    replace(ROWS[1], case_id="E2", received_at=at(12, 31, 23, 30), unit_id=None, tier=None),
    replace(ROWS[4], case_id="E3", stage="duplicate"),
]


def _seed(engine: Engine, rows: list[CaseRow] = ROWS) -> None:
    tx = Transaction(engine)
    with tx.begin():
        SqlArchiveStore(tx).save_cases(rows)


@pytest.mark.parametrize("db", BACKENDS)
def test_kpis_counted_in_the_database_equal_the_hand_computed(
    db: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(f"{db}_engine")
    _seed(engine)
    with engine.connect() as conn:
        rows = list(all_cases(conn, chunk=3))
        found = kpi_figures(conn, By.UNIT, Period.MONTH, AS_OF, SHANGHAI)
    assert sorted(rows, key=lambda r: r.case_id) == ROWS  # every field round-trips
    check({(f.group, f.period): f for f in found})


@pytest.mark.parametrize("db", BACKENDS)
def test_sql_and_python_agree_by_every_grouping_period_bound_and_scope(
    db: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(f"{db}_engine")
    rows = [*ROWS, *EDGES]
    _seed(engine, rows)
    scopes = [None, OneOf("unit_id", frozenset({"s.urban"})), OneOf("grid_id", frozenset())]
    bounds = [(None, None), (date(2026, 3, 3), date(2026, 3, 31)), (date(2026, 12, 31), None)]
    with engine.connect() as conn:
        for by in By:
            for period in Period:
                for scope in scopes:
                    for since, until in bounds:
                        args = (by, period, AS_OF, SHANGHAI, since, until, scope)
                        assert kpi_figures(conn, *args) == compute(rows, *args), args
        weeks = {f.period for f in kpi_figures(conn, By.ALL, Period.WEEK, AS_OF, SHANGHAI)}
    assert {"2026-W10", "2026-W11", "2026-W14", "2026-W53"} <= weeks


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

"""``gridflow kpi`` (the KPIs of archive/kpi.py, counted by the database that holds the
archive) and ``gridflow report`` (the same, every case together, by month)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from archive.kpi import RATES, By, Figures, Period

console = Console()


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


COLUMNS = (
    ("received", "received"),
    ("acceptance_rate", "受理率"),
    ("completion_rate", "办结率"),
    ("on_time_rate", "按时办结率"),
    ("response_rate", "响应率"),
    ("resolution_rate", "解决率"),
    ("satisfaction_rate", "满意率"),
    ("escalations", "升级"),
    ("referrals", "上报"),
    ("supervisions", "督办"),
    ("reopenings", "重办"),
    ("mean_handling_days", "mean days"),
    ("p90_handling_days", "p90 days"),
)


def figures_from_database(
    by: By, period: Period, as_of: datetime, since: date | None, until: date | None
) -> list[Figures]:
    """The figures counted by the database (archive.sql.kpi_figures)."""
    from archive.sql import kpi_figures
    from schemas.catalogue import load_site
    from services.cli import _settings
    from storage.db import make_engine

    settings = _settings()
    site = load_site(settings.site)
    with make_engine(settings.database_url).connect() as conn:
        return kpi_figures(conn, by, period, as_of, site.tz, since, until)


def _cell(name: str, value: object) -> str:
    if value is None:
        return "—"
    if name.endswith("_rate"):
        return f"{float(value):.1%}"  # type: ignore[arg-type]
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(figures: list[Figures], by: By, fmt: Format) -> str:
    rows = [f.as_dict() for f in figures]
    if fmt is Format.JSON:
        return json.dumps(rows, ensure_ascii=False, indent=1)
    if fmt is Format.CSV:
        out = io.StringIO()
        names = list(rows[0]) if rows else ["group", "period", *RATES]
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    table = Table(title=f"KPIs by {by} (docs/ARCHITECTURE.md, KPIs)", title_justify="left")
    table.add_column(str(by))
    table.add_column("period")
    for _, head in COLUMNS:
        table.add_column(head, justify="right")
    for r in rows:
        table.add_row(str(r["group"]), str(r["period"]), *(_cell(n, r[n]) for n, _ in COLUMNS))
    buffer = Console(file=io.StringIO(), width=200, record=True)
    buffer.print(table)
    return buffer.export_text()


def kpi(
    by: Annotated[By, typer.Option(help="unit, tier, category, channel or all")] = By.UNIT,
    period: Annotated[Period, typer.Option(help="day, week or month")] = Period.MONTH,
    format: Annotated[Format, typer.Option(help="table, csv or json")] = Format.TABLE,
    since: Annotated[str | None, typer.Option(help="First local day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Last local day, YYYY-MM-DD.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="ISO time the figures are as of (default: now).")
    ] = None,
) -> None:
    """The KPIs from the archive (GRIDFLOW_DATABASE_URL): acceptance, on-time completion,
    response, resolution and satisfaction rates, escalations, referrals, supervisions,
    reopenings, handling time in working days."""
    moment = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC)
    if moment.tzinfo is None:
        raise typer.BadParameter("--as-of needs a timezone, e.g. 2026-04-01T00:00+08:00")
    first = date.fromisoformat(since) if since else None
    last = date.fromisoformat(until) if until else None
    figures = figures_from_database(by, period, moment, first, last)
    typer.echo(render(figures, by, format), nl=False)


def report(
    format: Annotated[Format, typer.Option(help="table, csv or json")] = Format.TABLE,
) -> None:
    """The archive's KPIs over every case, by month (``gridflow kpi --by all``)."""
    kpi(by=By.ALL, period=Period.MONTH, format=format, since=None, until=None, as_of=None)

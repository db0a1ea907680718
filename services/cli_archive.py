"""``gridflow archive``: rebuild the case table from the event log; prune old rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

archive_app = typer.Typer(help="The archive in the database.", no_args_is_help=True)
console = Console()


@archive_app.command("rebuild")
def rebuild() -> None:
    """Rebuild archive_cases from archive_events, in archived order: the same rows as
    the live projection (run it after a projection change, or to repair)."""
    from archive.kpi import HandlingClock
    from archive.sql import rebuild_cases
    from escalator.clocks import site_calendar
    from schemas.catalogue import load_site
    from services.cli import _settings
    from storage.db import make_engine

    settings = _settings()
    site = load_site(settings.site)
    clock = HandlingClock(site_calendar(site), site.tz, site.deadlines.business_hours_end)
    n = rebuild_cases(make_engine(settings.database_url), clock)
    console.print(f"archive_cases rebuilt: {n} cases")


@archive_app.command("prune")
def prune() -> None:
    """Delete inbox ids older than GRIDFLOW_ARCHIVE_INBOX_DAYS and dead letters older than
    GRIDFLOW_ARCHIVE_DEAD_LETTER_DAYS (each: unset, kept)."""
    from archive.sql import prune as prune_rows
    from services.cli import _settings
    from storage.db import make_engine

    s = _settings()
    gone = prune_rows(
        make_engine(s.database_url),
        datetime.now(UTC),
        s.archive_inbox_days,
        s.archive_dead_letter_days,
    )
    if not gone:
        console.print("nothing to prune: no retention is set")
    for table, n in gone.items():
        console.print(f"{table}: {n} rows deleted")


def serve_api() -> None:
    """Serve the query API on GRIDFLOW_API_HOST:GRIDFLOW_API_PORT (127.0.0.1:8400)."""
    from services.api.app import serve
    from services.cli import _settings

    serve(_settings())


api_app = typer.Typer(help="The query API's tokens.", no_args_is_help=True)


@api_app.command("token")
def token(sender: Annotated[str, typer.Argument(help="A unit, a sender, or operations.")]) -> None:
    """Make a bearer token for ``sender`` and print it with its GRIDFLOW_API_TOKENS entry
    (only the SHA-256 is configured; keep the token itself secret)."""
    import json

    from schemas.catalogue import load_site
    from services.api.auth import OPERATIONS, digest, new_token
    from services.cli import _settings

    site = load_site(_settings().site)
    if sender != OPERATIONS and site.sender(sender) is None:
        typer.echo(f"{sender!r} is neither a unit nor a sender of site {site.id}", err=True)
        raise typer.Exit(1)
    secret = new_token()
    typer.echo(f"token: {secret}")
    typer.echo(f"GRIDFLOW_API_TOKENS entry: {json.dumps({digest(secret): sender})}")

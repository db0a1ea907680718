"""``gridflow deadletters``: the command room's list of recent dead letters.

It reads the archive's database (``GRIDFLOW_DATABASE_URL``) and shows each letter's
reason, the processor that refused it, where the record came from and the original,
with personal data masked unless ``GRIDFLOW_OPERATOR_ROLE`` is a role that may see it
(:mod:`archive.deadletters`). Registered on the main app by ``services/cli.py``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def deadletters(
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="How many of the latest dead letters.")
    ] = 20,
) -> None:
    """List the latest dead letters, personal data masked unless your role allows it."""
    from archive.deadletters import (
        REVEALS,
        UnknownRole,
        ViewerSettings,
        recent_dead_letters,
        rows_of,
    )
    from services.settings import Settings
    from storage.db import make_engine

    console = Console()  # made here, so it takes the terminal's width at the call
    try:
        role = ViewerSettings().role()
    except UnknownRole as exc:
        console.print(f"[red]{exc}[/] (GRIDFLOW_OPERATOR_ROLE)")
        raise typer.Exit(2) from None
    engine = make_engine(Settings().database_url)
    try:
        views = recent_dead_letters(engine, role=role, limit=limit)
    finally:
        engine.dispose()
    shown = "shown" if REVEALS[role] else "masked"
    table = Table(title=f"dead letters, newest first: role {role.value}, personal data {shown}")
    for name in ("archived", "processor", "reason", "topic", "part:offset", "message"):
        table.add_column(name, overflow="fold")
    table.add_column("original", overflow="fold", ratio=1)
    for row in rows_of(views):
        table.add_row(*row)
    console.print(table)
    if not views:
        console.print("no dead letters in the archive")

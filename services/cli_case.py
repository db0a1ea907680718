"""``gridflow case``: the archive's queries on the command line (services/api/queries.py,
the same the HTTP API asks). Personal fields are blank unless ``--personal``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

case_app = typer.Typer(help="Cases in the archive: one whole, a unit's, the queue.")


def _conn() -> Any:
    from services.cli import _settings
    from storage.db import make_engine

    return make_engine(_settings().database_url).connect()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=1, default=str))


@case_app.command("show")
def show(
    case_id: Annotated[str | None, typer.Argument(help="The case id (GF-...).")] = None,
    external_id: Annotated[
        str | None, typer.Option(help="The channel's work-order number instead.")
    ] = None,
    personal: Annotated[bool, typer.Option(help="Show personal fields.")] = False,
) -> None:
    """A case and its whole history, by case id or by work-order number."""
    from services.api import queries

    with _conn() as conn:
        if case_id is None:
            if external_id is None:
                raise typer.BadParameter("give a case id or --external-id")
            found = queries.cases_by_external_id(conn, external_id)
            if not found:
                typer.echo(f"no case has work-order number {external_id!r}", err=True)
                raise typer.Exit(1)
            case_id = found[0].case_id
        row = queries.case_row(conn, case_id)
        if row is None:
            typer.echo(f"no case {case_id} in the archive", err=True)
            raise typer.Exit(1)
        history = [
            {
                "type": e.type,
                "occurred_at": e.occurred_at,
                "event_id": e.event_id,
                "payload": e.payload if personal else queries.redacted(e.payload),
            }
            for e in queries.history(conn, case_id)
        ]
    _print({"case": asdict(row), "history": history})


@case_app.command("open")
def open_cases(
    unit: Annotated[str, typer.Argument(help="The unit id.")],
    overdue: Annotated[bool, typer.Option(help="Only those past their due time.")] = False,
) -> None:
    """A unit's open cases, or its overdue ones."""
    from services.api import queries

    with _conn() as conn:
        rows = queries.open_cases(conn, unit, datetime.now(UTC) if overdue else None)
    _print([asdict(r) for r in rows])


@case_app.command("queue")
def queue() -> None:
    """The dispatch queue (人工分拨): queued cases, oldest first."""
    from services.api import queries

    with _conn() as conn:
        _print([asdict(r) for r in queries.dispatch_queue(conn)])

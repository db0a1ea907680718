"""``gridflow calendar``: when a limit ends, from the same code the escalator counts with.

``gridflow calendar due --received 2026-12-28T10:00:00+08:00 --working-days 5`` prints
``{"due": "2027-01-06T00:00:00+08:00", "provisional": true}``: the site's calendar
(:func:`escalator.clocks.site_calendar`: the bundled notices, the site's
``calendar.yaml``, ``chinese_calendar``, the provisional statutory rule, the site's
own days) and its business hours and timezone, as the escalator and the router use
them. Registered on the main app by ``services/cli.py``
(``app.add_typer(calendar_app, name="calendar")``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

calendar_app = typer.Typer(help="The working calendar deadlines are counted on.")


@calendar_app.callback()
def _group() -> None:
    """The working calendar deadlines are counted on (a group, so ``due`` keeps its name)."""


def _received(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    if at.tzinfo is None:
        raise typer.BadParameter("give the time with its UTC offset (e.g. +08:00)")
    return at


@calendar_app.command("due")
def due(
    received: Annotated[
        str, typer.Option(help="When the case was received: ISO 8601 with a UTC offset.")
    ],
    working_days: Annotated[
        int | None,
        typer.Option(min=0, help="Working days; 0 is the same working day."),
    ] = None,
    hours: Annotated[
        float | None, typer.Option(min=0, help="Elapsed hours, whatever the calendar.")
    ] = None,
    calendar_days: Annotated[
        int | None,
        typer.Option(min=0, help="Calendar days; one ending on a day off runs to a working day."),
    ] = None,
    site: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="Site catalogue directory (default: GRIDFLOW_SITE, else the bundled site).",
        ),
    ] = None,
) -> None:
    """Print when a limit begun at --received ends, and whether it is provisional, as JSON."""
    from escalator.calendar import LimitUnit
    from escalator.clocks import site_calendar
    from schemas.calendar import CalendarError
    from schemas.catalogue import CatalogueError, load_site

    given = [
        (unit, amount)
        for unit, amount in (
            (LimitUnit.WORKING_DAYS, working_days),
            (LimitUnit.HOURS, hours),
            (LimitUnit.CALENDAR_DAYS, calendar_days),
        )
        if amount is not None
    ]
    if len(given) != 1:
        raise typer.BadParameter(
            "give exactly one of --working-days, --hours, --calendar-days", param_hint="limit"
        )
    ((unit, amount),) = given
    start = _received(received)
    if site is None:
        from services.settings import Settings

        site = Settings().site
    try:
        catalogue = load_site(site)
        calendar = site_calendar(catalogue)
    except (CatalogueError, CalendarError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if unit is LimitUnit.HOURS:
        result = calendar.reckon_hours(start, amount, catalogue.tz)
    else:
        result = calendar.reckon_limit(
            start, int(amount), unit, catalogue.deadlines.business_hours_end, catalogue.tz
        )
    typer.echo(json.dumps({"due": result.due_at.isoformat(), "provisional": result.provisional}))

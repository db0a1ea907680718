"""``gridflow route``: where a sample report would go first, and why, with no servers.

``gridflow route --explain --category street.parking --grid zs-c01-g01`` (or
``gridflow route --explain report.json``, a raw report as a channel sends it) runs
intake's validation and normalisation (:func:`intake.core.to_case`) and the router's
first dispatch (:func:`router.routing.first_assignment`) in-process, on the site
catalogue, and prints JSON: the unit, its tier and jurisdiction, the catalogue's
version, with ``--explain`` the explanation (:class:`schemas.cases.Explanation`), and
the clocks the assignment starts (:func:`escalator.clocks.clocks_for`), as the router
would tell the unit. A report intake or the router refuses prints the refusal and
exits 1. Registered on the main app by ``services/cli.py``
(``app.command("route")(route)``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from schemas.catalogue import Site
    from schemas.reports import RawReport

SAMPLE_EXTERNAL_ID = "gridflow-route-sample"
"""The channel id a report given as flags gets (it names no real work order)."""


def _at(value: str | None, site: Site) -> datetime:
    if value is None:
        return datetime.now(site.tz)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--at") from None
    if at.tzinfo is None:
        raise typer.BadParameter("give the time with its UTC offset (e.g. +08:00)", "--at")
    return at.astimezone(site.tz)


def _raw(
    report: Path | None,
    flags: dict[str, Any],
    now: datetime,
) -> RawReport:
    """The raw report: the file's, or one built from the flags."""
    from pydantic import ValidationError

    from schemas.reports import RawReport

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        if report is not None:
            if given:
                raise typer.BadParameter(
                    f"give a report file or flags, not both (flags given: {sorted(given)})"
                )
            return RawReport.model_validate_json(report.read_bytes())
        if "category" not in given or "grid_id" not in given:
            raise typer.BadParameter("give a report file, or at least --category and --grid")
        return RawReport.model_validate(
            {
                "channel": "grid_app",
                "external_id": SAMPLE_EXTERNAL_ID,
                "reported_at": now,
                "description": "A sample report (gridflow route).",
                **given,
            }
        )
    except ValidationError as exc:
        typer.echo(f"the report is not a valid raw report:\n{exc}", err=True)
        raise typer.Exit(2) from None


def route(
    report: Annotated[
        Path | None,
        typer.Argument(
            exists=True, dir_okay=False, help="A raw report as JSON, as a channel sends it."
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Say why: the rule, the path, the unit's choice.")
    ] = False,
    category: Annotated[str | None, typer.Option(help="The category code.")] = None,
    grid: Annotated[str | None, typer.Option(help="The grid id (网格).")] = None,
    channel: Annotated[
        str | None, typer.Option(help="The channel (default grid_app), e.g. hotline_12345.")
    ] = None,
    urgency: Annotated[str | None, typer.Option(help="normal (default) or urgent.")] = None,
    at: Annotated[
        str | None,
        typer.Option(help="When it is received: ISO 8601 with a UTC offset (default: now)."),
    ] = None,
    site: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="Site catalogue directory (default: GRIDFLOW_SITE, else the bundled site).",
        ),
    ] = None,
) -> None:
    """Print where a sample report goes first (unit, tier, clocks), as JSON."""
    from escalator.clocks import dues, site_calendar
    from intake.core import to_case
    from router.routing import first_assignment
    from schemas.calendar import CalendarError
    from schemas.catalogue import CatalogueError, load_site
    from schemas.deadletter import Rejected
    from schemas.reports import CaseFacts

    if site is None:
        from services.settings import Settings

        site = Settings().site
    try:
        catalogue = load_site(site)
        calendar = site_calendar(catalogue)
    except (CatalogueError, CalendarError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    now = _at(at, catalogue)
    flags = {"category": category, "grid_id": grid, "channel": channel, "urgency": urgency}
    raw = _raw(report, flags, now)
    try:
        case = to_case(raw, catalogue, now)
        assignment = first_assignment(catalogue, case, now)
    except Rejected as refused:
        out = {
            "refused": refused.reason.value,
            "message": refused.message,
            "errors": [e.model_dump(mode="json") for e in refused.errors],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        raise typer.Exit(1) from None
    facts = CaseFacts.of(case)
    due = [d.model_dump(mode="json") for d in dues(catalogue, calendar, assignment, facts)]
    out: dict[str, Any] = {
        "site": catalogue.id,
        "catalogue_version": catalogue.version,
        "case": {
            "category": case.category,
            "grid_id": case.grid_id,
            "channel": case.channel.value,
            "urgency": case.urgency.value,
            "placement": case.placement.model_dump(mode="json") if case.placement else None,
        },
        "unit_id": assignment.unit_id,
        "unit_name": assignment.unit_name,
        "tier": assignment.tier.value,
        "owner_tier": assignment.owner_tier.value,
        "jurisdiction_id": assignment.jurisdiction_id,
        "due": due,
    }
    if explain and assignment.why is not None:
        out["why"] = assignment.why.model_dump(mode="json")
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))

"""What a user wants to see after a run: reports accepted and rejected, cases per
tier and unit, escalations, on-time rate, satisfaction, deliveries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from archive.report import ArchiveReport
from archive.sql import read_report
from services.runtime.embedded import EmbeddedPipeline


@dataclass(frozen=True)
class DemoFigures:
    sent: int
    sent_valid: int
    report: ArchiveReport
    webhooks: Mapping[str, int]
    simulated: timedelta
    wall_seconds: float
    unread: int

    @classmethod
    def collect(
        cls,
        pipeline: EmbeddedPipeline,
        *,
        sent: int,
        sent_valid: int,
        webhooks: Mapping[str, int],
        simulated: timedelta,
        wall_seconds: float,
    ) -> DemoFigures:
        unread = pipeline.unread()
        return cls(
            sent=sent,
            sent_valid=sent_valid,
            report=read_report(pipeline.engine),
            webhooks=webhooks,
            simulated=simulated,
            wall_seconds=wall_seconds,
            unread=unread,
        )


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.2%}"


def _table(title: str, rows: Mapping[str, int], limit: int | None = None) -> Table:
    table = Table(title=title, title_justify="left", min_width=len(title) + 2)
    table.add_column("")
    table.add_column("count", justify="right")
    items = sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))
    for name, count in items[:limit] if limit else items:
        table.add_row(name, str(count))
    if limit and len(items) > limit:
        table.add_row(f"… {len(items) - limit} more", str(sum(c for _, c in items[limit:])))
    return table


def print_report(console: Console, r: ArchiveReport) -> None:
    """The archive's figures (also ``gridflow report``)."""
    head = Table(title="cases", title_justify="left", show_header=False, min_width=50)
    head.add_column("")
    head.add_column("", justify="right")
    head.add_row("cases received (受理)", str(r.cases))
    head.add_row("closed (结案)", str(r.closed))
    head.add_row("open", str(r.open))
    head.add_row("escalations (升级)", str(r.escalations))
    head.add_row("deadline warnings", str(r.deadline_warnings))
    head.add_row("deadlines lapsed", str(r.lapsed_deadlines))
    head.add_row("on-time completion (及时办结率)", _pct(r.on_time_rate))
    head.add_row("satisfaction (满意率: 满意 or 基本满意, rating ≥ 3)", _pct(r.satisfaction_rate))
    mean = "—" if r.mean_rating is None else f"{r.mean_rating:.2f} / 5"
    head.add_row("mean rating", mean)
    head.add_row("dead letters", str(r.dead_letters))
    head.add_row(
        "notifications delivered / failed",
        f"{r.notifications_delivered} / {r.notifications_failed}",
    )
    console.print(head)
    console.print(_table("cases by tier of the holding unit", r.by_tier))
    console.print(_table("cases by holding unit (top 12)", r.by_unit, limit=12))
    if r.open_by_stage:
        console.print(_table("open cases by stage", r.open_by_stage))
    if r.escalations_by_tier:
        console.print(_table("escalations by the tier they left", r.escalations_by_tier))
    if r.dead_letters_by_reason:
        console.print(_table("dead letters by reason", r.dead_letters_by_reason))


def print_summary(console: Console, f: DemoFigures) -> None:
    r = f.report
    console.rule("[bold]gridflow demo: summary")
    console.print(
        f"reports sent {f.sent} · accepted {r.cases} · rejected to the dead-letter topic "
        f"{r.dead_letters} "
        f"(the scenario spoiled {f.sent - f.sent_valid})"
    )
    print_report(console, r)
    if f.webhooks:
        console.print(_table("webhooks received by the local receiver", f.webhooks))
    days = f.simulated.total_seconds() / 86400
    console.print(
        f"simulated {days:.0f} days in {f.wall_seconds:.1f} s of wall time · "
        f"records left unread: {f.unread}"
    )

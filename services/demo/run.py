"""``gridflow demo``: every processor in one process over a simulated street.

A simulated clock starts on a Monday morning (21 September 2026, so the National
Day holiday and its make-up working days fall inside the run). Channels send
reports over the first working days; departments, verifiers and residents act
on what reaches them; the escalator checks deadlines every half hour of
simulated time. Days pass in seconds. At the end the archive's figures are
printed.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from escalator.calendar import WorkingCalendar
from notifier.subscriptions import Subscriber, Subscriptions
from schemas.access import channel_topic
from schemas.cases import CaseAssigned, CaseClosed, CaseEscalated
from schemas.catalogue import load_site
from schemas.deadlines import DeadlineWarning
from services.demo.actors import Actors
from services.demo.receiver import Receiver
from services.demo.scenario import generate, working_days
from services.demo.summary import DemoFigures, print_summary
from services.runtime.clock import SimulatedClock
from services.runtime.embedded import EmbeddedPipeline
from services.settings import Settings

START = date(2026, 9, 21)
TICK = timedelta(minutes=30)
SLOW_SHARE = 0.12
SETTLE_DAYS = 12  # working days after the last report for open cases to play out


def demo_subscriptions(base_url: str) -> Subscriptions:
    """The receiver as the departments' and the operations room's endpoint."""
    return Subscriptions(
        subscribers=(
            Subscriber(
                id="departments",
                url=f"{base_url}/departments",
                events=frozenset({CaseAssigned.TYPE, DeadlineWarning.TYPE}),
            ),
            Subscriber(
                id="operations",
                url=f"{base_url}/operations",
                events=frozenset({CaseEscalated.TYPE, CaseClosed.TYPE}),
            ),
        )
    )


def run_demo(
    console: Console, *, reports: int, days: int, seed: int, database_url: str, settings: Settings
) -> DemoFigures:
    site = load_site(settings.site)
    tz = site.tz
    calendar = WorkingCalendar()
    span = working_days(calendar, START, days + SETTLE_DAYS)
    start = datetime.combine(START, datetime.min.time(), tz)
    end = datetime.combine(span[-1] + timedelta(days=1), datetime.min.time(), tz)
    clock = SimulatedClock(start)
    incoming = generate(site, START, days, reports, seed, calendar)
    wall = time.perf_counter()
    with Receiver() as receiver:
        pipeline = EmbeddedPipeline(
            site, clock, database_url, subscriptions=demo_subscriptions(receiver.url)
        )
        others = [s.id for s in site.senders]  # verifiers and channels: they check and rate
        actors = Actors(pipeline.broker, [u.id for u in site.units], seed, SLOW_SHARE, others)
        console.print(
            f"[bold]gridflow demo[/] · {site.name} · {len(site.units)} units · "
            f"{reports} reports over {days} working days from {START} · "
            f"{actors.slow_units} slow units · seed {seed}"
        )
        pending = list(reversed(incoming))
        next_tick = start + TICK
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[now]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(
                "simulating", total=(end - start).total_seconds(), now=f"{start:%m-%d %H:%M}"
            )
            while clock.now() < end:
                moments = [next_tick]
                if pending:
                    moments.append(pending[-1].at)
                if (after := actors.next_at()) is not None:
                    moments.append(after)
                clock.set(min(moments))
                now = clock.now()
                while pending and pending[-1].at <= now:
                    report = pending.pop()
                    pipeline.publish(
                        channel_topic(site, report.channel).name, report.value, report.key
                    )
                actors.send(actors.due(now), now)
                pipeline.pump()
                if now >= next_tick:
                    pipeline.tick()
                    next_tick = now + TICK
                actors.observe()
                progress.update(
                    task, completed=(now - start).total_seconds(), now=f"{now:%m-%d %H:%M}"
                )
        figures = DemoFigures.collect(
            pipeline,
            sent=len(incoming),
            sent_valid=sum(r.valid for r in incoming),
            webhooks=dict(receiver.by_path),
            simulated=end - start,
            wall_seconds=time.perf_counter() - wall,
        )
        pipeline.close()
    print_summary(console, figures)
    return figures

"""The state gauges: what the router's and the escalator's stores hold right now.

Read every ``GRIDFLOW_STATE_METRICS_SECONDS`` by the worker of that processor, in a
read-only transaction of its own, with one grouped query per table: open cases by
tier and stage, and those of them that lapsed (router_cases); armed deadlines by
tier and clock, the provisional ones, and those past due that have not fired yet
(deadlines); the notifier's outbox entries not delivered, by channel and status, and
the oldest pending one (notifier_outbox). Only counts leave the database; the labels
are bounded enums.

Each processor owns its table, so each reports its own: with several instances
of the router, every instance reports the same totals (the table is shared), and
dashboards take ``max`` over instances, not ``sum``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, Integer, case, func, select, text

from schemas.cases import Stage
from services.metrics import StateGauges

Collect = Callable[[], None]


def state_collector(
    processor: str,
    engine: Engine,
    gauges: StateGauges,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Collect | None:
    """The collector of ``processor``'s state gauges; None when it has none. ``now`` is
    the processor's clock (the ticks clock in a simulation), for what is past due."""
    reader = _READERS.get(processor)
    if reader is None:
        return None

    def collect() -> None:
        with engine.connect() as conn:
            reader(conn, gauges, now())
        gauges.collected.labels(processor).set(time.time())

    return collect


def _router(conn: object, g: StateGauges, _now: datetime) -> None:
    from router.sql import cases

    rows = conn.execute(  # type: ignore[attr-defined]
        select(
            cases.c.tier,
            cases.c.stage,
            func.count(),
            func.sum(case((cases.c.lapsed, 1), else_=0).cast(Integer)),
        )
        .where(cases.c.stage != Stage.CLOSED.value)
        .group_by(cases.c.tier, cases.c.stage)
    ).all()
    g.cases_open.clear()
    g.cases_overdue.clear()
    overdue: dict[str, int] = {}
    for tier, stage, count, lapsed in rows:
        g.cases_open.labels(tier, stage).set(count)
        overdue[tier] = overdue.get(tier, 0) + int(lapsed or 0)
    for tier, count in overdue.items():
        g.cases_overdue.labels(tier).set(count)


def _escalator(conn: object, g: StateGauges, now: datetime) -> None:
    from escalator.sql import deadlines

    rows = conn.execute(  # type: ignore[attr-defined]
        select(
            deadlines.c.tier,
            deadlines.c.kind,
            func.count(),
            func.sum(case((deadlines.c.provisional, 1), else_=0).cast(Integer)),
        ).group_by(deadlines.c.tier, deadlines.c.kind)
    ).all()
    past_due = conn.execute(  # type: ignore[attr-defined]
        select(func.count()).where(deadlines.c.due_at <= now)
    ).scalar_one()
    g.deadlines_open.clear()
    g.deadlines_provisional.clear()
    provisional: dict[str, int] = {}
    for tier, kind, count, prov in rows:
        g.deadlines_open.labels(tier, kind).set(count)
        provisional[tier] = provisional.get(tier, 0) + int(prov or 0)
    for tier, count in provisional.items():
        g.deadlines_provisional.labels(tier).set(count)
    g.deadlines_due.set(past_due)


def _notifier(conn: object, g: StateGauges, _now: datetime) -> None:
    """The outbox (migration 0007) by channel and status; delivered rows are left out,
    so the status index serves it."""
    rows = conn.execute(  # type: ignore[attr-defined]
        text(
            "SELECT channel, status, count(*), min(created_at) FROM notifier_outbox "
            "WHERE status <> 'delivered' GROUP BY channel, status"
        )
    ).all()
    g.outbox.clear()
    oldest: datetime | None = None
    for channel, status, count, first in rows:
        g.outbox.labels(channel, status).set(count)
        if status == "pending" and first is not None:
            first = _aware(first)
            oldest = first if oldest is None else min(oldest, first)
    if oldest is None:
        g.outbox_oldest.set(float("nan"))
    else:
        g.outbox_oldest.set(oldest.timestamp())


def _aware(at: datetime | str) -> datetime:
    """A time read by raw SQL: SQLite gives text, PostgreSQL an aware datetime."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


_READERS: dict[str, Callable[[object, StateGauges, datetime], None]] = {
    "router": _router,
    "escalator": _escalator,
    "notifier": _notifier,
}

"""`gridflow archive rebuild` gives the live projection's rows: on SQLite, PostgreSQL and
in memory, for cases walked through the real router (reopenings, escalation, returns
and the queue, ratings, follow-ups), their events interleaved at random and archived
through the real batch runner (inbox included, redeliveries too)."""

from __future__ import annotations

import random
from dataclasses import fields
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from archive.memory import MemoryArchiveStore
from archive.projection import CaseRow, replay
from archive.sql import archive_cases, rebuild_cases
from schemas.cases import DeadlineKind
from schemas.envelope import Envelope
from schemas.reports import Tier
from tests.integration.archive.test_sql_archive_store import Backend
from tests.support.archived import archive_story
from tests.support.sites import tiny_site
from tests.unit.archive.story import CLOCK
from tests.unit.router.support import (
    T0,
    accept,
    case,
    deadline,
    follow_up,
    rate,
    received,
    refer_up,
    report_handled,
    return_case,
    supervise,
    verify,
)

H = "s.urban"


def _steps() -> list[tuple[Envelope, object]]:
    t = [T0 + timedelta(minutes=i) for i in range(40)]
    steps: list[tuple[Envelope, object]] = []
    for n in range(1, 7):
        steps.append((received(case(f"GF-{n}")), t[0]))
    steps += [
        # GF-1: the whole loop, satisfied, followed up
        (accept("GF-1", H), t[1]),
        (report_handled("GF-1", H), t[2]),
        (verify("GF-1", H), t[3]),
        (follow_up("GF-1"), t[4]),
        (rate("GF-1", 5), t[5]),
        # GF-2: unsatisfied: reopened, then a failed check, then closed basically satisfied
        (accept("GF-2", H), t[1]),
        (report_handled("GF-2", H), t[2]),
        (verify("GF-2", H), t[3]),
        (rate("GF-2", 1), t[4]),
        (report_handled("GF-2", H, seq=2, n=2), t[5]),
        (verify("GF-2", H, seq=2, passed=False, n=2), t[6]),
        (report_handled("GF-2", H, seq=3, n=3), t[7]),
        (verify("GF-2", H, seq=3, n=3), t[8]),
        (rate("GF-2", 3, n=3), t[9]),
        # GF-3: referred up, supervised, lapsed at the district
        (refer_up("GF-3", H), t[1]),
        (supervise("GF-3"), t[2]),
        (deadline("GF-3", "d.command", Tier.DISTRICT, 2, DeadlineKind.ACCEPT), t[3]),
        # GF-4: returned twice: queued; at the same instant as the second assignment
        (return_case("GF-4", H), t[2]),
        (return_case("GF-4", "s.command", seq=2, n=1), t[2]),
        # GF-5: accepted late (its accept deadline lapsed first: escalated)
        (deadline("GF-5", H, Tier.STREET, 1, DeadlineKind.ACCEPT), t[3]),
        (accept("GF-5", "d.command", 2), t[4]),
        # GF-6 stays assigned
    ]
    return steps  # type: ignore[return-value]


@pytest.fixture(scope="module")
def archived() -> list[Envelope]:
    """The cases' events interleaved at random, each case's in the router's order (one
    partition per case), and some redelivered."""
    events = archive_story(tiny_site(), MemoryArchiveStore(), _steps())  # type: ignore[arg-type]
    queues = {e.case_id: [x for x in events if x.case_id == e.case_id] for e in events}
    rng, merged = random.Random(10), []
    while queues:
        case_id = rng.choice(sorted(queues, key=str))
        merged.append(queues[case_id].pop(0))
        if not queues[case_id]:
            del queues[case_id]
    return merged + merged[:9]


def _rows(engine: Engine) -> dict[str, CaseRow]:
    names = [f.name for f in fields(CaseRow)]
    with engine.connect() as conn:
        found = conn.execute(select(*(archive_cases.c[n] for n in names)))
        return {r.case_id: CaseRow(**r._mapping) for r in found}


@pytest.mark.parametrize("db", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_rebuild_equals_the_live_projection(
    db: str, archived: list[Envelope], request: pytest.FixtureRequest
) -> None:
    from archive.sql import SqlArchiveStore
    from storage.db import Transaction

    engine: Engine = request.getfixturevalue(f"{db}_engine")
    tx = Transaction(engine)
    Backend(SqlArchiveStore(tx), tx).archive(archived, batch=7)
    live = _rows(engine)
    assert len(live) == 6
    assert live["GF-2"].reopenings == 2 and live["GF-2"].stage == "closed"
    assert live["GF-4"].stage == "queued"
    assert live["GF-3"].referrals == 1 and live["GF-3"].supervisions == 1
    assert rebuild_cases(engine, CLOCK) == 6
    assert _rows(engine) == live
    assert rebuild_cases(engine, CLOCK) == 6  # again: the same
    assert _rows(engine) == live


def test_replay_in_memory_equals_the_live_projection(archived: list[Envelope]) -> None:
    store = MemoryArchiveStore()
    Backend(store).archive(archived, batch=7)
    stored = [vars(e) for e in store.events.values()]  # in arrival order
    assert {k: CLOCK.stamp(v) for k, v in replay(stored).items()} == store.cases

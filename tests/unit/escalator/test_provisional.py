"""Provisional deadlines: marked where they are armed and emitted, and counted again,
once, when a calendar that knows their year arrives. On memory and on SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from escalator.metrics import PROVISIONAL_DEADLINES
from escalator.ports import Deadline, DeadlineStore
from escalator.sql import SqlDeadlineStore
from schemas.calendar import load_schedule
from schemas.cases import DeadlineKind
from schemas.deadlines import DeadlineLapsed, DeadlineRescheduled
from schemas.reports import Tier
from schemas.topics import DEADLINES, assignment_topic
from storage.db import Transaction
from tests.support.sites import tiny_site

from .builders import LIMITS, assigned, at, inbound
from .test_official import TEST_NOTICE_2027

T = TypeVar("T")
MON = at(2027, 2, 1, 10)  # Monday 1 February 2027: a street resolves in 5 working days
# provisional: Tue 2, Wed 3, Thu 4 (1-3); eve Fri 5 to Mon 8 off, 补假 Tue 9 and Wed 10;
# Thu 11 (4), Fri 12 (5)
PROVISIONAL_DUE = at(2027, 2, 13)
# the test notice: 5-13 Feb off: Mon 15 (4), Tue 16 (5)
OFFICIAL_DUE = at(2027, 2, 17)
UNIT_TOPIC = assignment_topic("street-unit").name


class Harness:
    """An escalator over one store that outlives it (a restart keeps the database)."""

    def __init__(self, store: DeadlineStore, tx: Transaction | None) -> None:
        self.store, self.tx = store, tx

    def run(self, work: Callable[[], T]) -> T:
        if self.tx is None:
            return work()
        with self.tx.begin():
            return work()

    def escalator(self, calendar: WorkingCalendar, batch: int = 1000) -> Escalator:
        return Escalator(tiny_site(tiers=LIMITS), calendar, self.store, batch)

    def rows(self, case_id: str) -> dict[DeadlineKind, Deadline]:
        return {d.kind: d for d in self.run(lambda: self.store.load([case_id])[case_id])}


@pytest.fixture(params=["memory", "sqlite"])
def harness(request: pytest.FixtureRequest, sqlite_engine: Engine) -> Iterator[Harness]:
    if request.param == "memory":
        yield Harness(MemoryDeadlineStore(), None)
    else:
        tx = Transaction(sqlite_engine)
        yield Harness(SqlDeadlineStore(tx), tx)


@pytest.fixture
def known(tmp_path: Path) -> WorkingCalendar:
    """The calendar once the 2027 notice is loaded."""
    path = tmp_path / "calendar.yaml"
    path.write_text(TEST_NOTICE_2027, encoding="utf-8")
    return WorkingCalendar(schedule=load_schedule(path))


def arm(h: Harness, calendar: WorkingCalendar, *messages: Any) -> Escalator:
    escalator = h.escalator(calendar)
    assert h.run(lambda: escalator.handle(inbound(messages))) == [[]] * len(messages)
    return escalator


def counted(event: str, kind: DeadlineKind) -> float:
    return PROVISIONAL_DEADLINES.labels(event, kind.value)._value.get()


def test_marked_where_armed_and_where_it_lapses(harness: Harness) -> None:
    before = counted("armed", DeadlineKind.RESOLVE)
    escalator = arm(harness, WorkingCalendar(), assigned("c1", when=MON, tier=Tier.STREET))
    rows = harness.rows("c1")
    resolve = rows[DeadlineKind.RESOLVE]
    assert resolve.due_at == PROVISIONAL_DUE and resolve.provisional
    assert resolve.started_at == MON
    assert rows[DeadlineKind.ACCEPT].provisional  # Monday 1 Feb 2027 itself is counted
    assert counted("armed", DeadlineKind.RESOLVE) == before + 1
    out = harness.run(lambda: escalator.tick(PROVISIONAL_DUE))
    lapses = [e.message for e in out if isinstance(e.message, DeadlineLapsed)]
    assert lapses and all(m.payload.provisional for m in lapses)


def test_an_official_year_is_not_marked(harness: Harness) -> None:
    arm(harness, WorkingCalendar(), assigned("c1", when=at(2026, 3, 5, 10), tier=Tier.STREET))
    assert not any(d.provisional for d in harness.rows("c1").values())


def test_a_new_schedule_reschedules_and_announces_once(
    harness: Harness, known: WorkingCalendar
) -> None:
    arm(harness, WorkingCalendar(), assigned("c1", when=MON, tier=Tier.STREET))
    # the same calendar: nothing to count again
    assert harness.run(lambda: harness.escalator(WorkingCalendar()).tick(MON)) == []
    # a restart with the notice loaded
    restarted = harness.escalator(known)
    out = harness.run(lambda: restarted.tick(MON))
    assert {e.topic for e in out} == {UNIT_TOPIC}  # the holder's own topic, not the story
    news = {e.message.payload.kind: e.message for e in out}
    assert all(isinstance(m, DeadlineRescheduled) for m in news.values())
    resolve = news[DeadlineKind.RESOLVE].payload
    assert resolve.due_at == OFFICIAL_DUE and resolve.previous_due_at == PROVISIONAL_DUE
    assert not resolve.provisional and resolve.warn_at == at(2027, 2, 16, 20)
    # the accept deadline keeps its time, but is official now: said too
    accept = news[DeadlineKind.ACCEPT].payload
    assert accept.due_at == accept.previous_due_at == at(2027, 2, 2)
    rows = harness.rows("c1")
    assert rows[DeadlineKind.RESOLVE].due_at == OFFICIAL_DUE
    assert not any(d.provisional for d in rows.values())
    # once: neither the next tick nor another restart says it again
    assert harness.run(lambda: restarted.tick(MON)) == []
    assert harness.run(lambda: harness.escalator(known).tick(MON)) == []
    # and it lapses on its new time, official
    lapsed = harness.run(lambda: restarted.tick(OFFICIAL_DUE))
    resolved = [
        e.message
        for e in lapsed
        if e.topic == DEADLINES.name and e.message.payload.kind is DeadlineKind.RESOLVE
    ]
    assert [m.payload.due_at for m in resolved] == [OFFICIAL_DUE]
    assert not resolved[0].payload.provisional


def test_the_announcement_is_the_same_on_a_rerun(known: WorkingCalendar) -> None:
    """A tick re-run after a crash (the store as it was) gives the same ids and bytes."""
    outs = []
    for _ in range(2):
        h = Harness(MemoryDeadlineStore(), None)
        arm(h, WorkingCalendar(), assigned("c1", when=MON, tier=Tier.STREET))
        outs.append(h.escalator(known).tick(at(2027, 2, 1, 11)))
    assert outs[0] == outs[1] and len(outs[0]) == 2


def test_still_provisional_stays_and_pages_move_on(
    harness: Harness, known: WorkingCalendar
) -> None:
    cases = [
        assigned("a", when=MON, tier=Tier.STREET),
        assigned("b", when=at(2028, 2, 1, 10), tier=Tier.STREET),  # 2028: still unknown
        assigned("c", when=MON, tier=Tier.STREET),
    ]
    arm(harness, WorkingCalendar(), *cases)
    restarted = harness.escalator(known, batch=1)
    seen: list[datetime] = []
    for _ in range(12):
        out = harness.run(lambda: restarted.tick(MON))
        seen += [
            e.message.payload.due_at for e in out if isinstance(e.message, DeadlineRescheduled)
        ]
    assert sorted(seen).count(OFFICIAL_DUE) == 2  # a's and c's resolve, once each
    assert len(seen) == 4  # and their accepts
    assert all(d.provisional for d in harness.rows("b").values())
    assert not any(d.provisional for d in harness.rows("c").values())


def test_a_lapsed_deadline_is_not_brought_back(harness: Harness, known: WorkingCalendar) -> None:
    arm(harness, WorkingCalendar(), assigned("c1", when=MON, tier=Tier.STREET))
    old = harness.rows("c1")[DeadlineKind.RESOLVE]
    assert harness.run(lambda: harness.store.remove([old])) == [old]  # lapsed meanwhile
    new = replace(old, due_at=OFFICIAL_DUE, provisional=False)
    assert harness.run(lambda: harness.store.reschedule([(old, new)])) == []
    assert DeadlineKind.RESOLVE not in harness.rows("c1")


def test_the_provisional_page_is_ordered_and_resumes(harness: Harness) -> None:
    cases = [assigned(c, when=MON, tier=Tier.STREET) for c in ("b", "a", "c")]
    arm(harness, WorkingCalendar(), *cases)
    arm(harness, WorkingCalendar(), assigned("z", when=at(2026, 3, 5, 10), tier=Tier.STREET))
    page = harness.run(lambda: harness.store.provisional(None, 4))
    assert [(d.case_id, d.kind) for d in page] == [
        ("a", DeadlineKind.ACCEPT),
        ("a", DeadlineKind.RESOLVE),
        ("b", DeadlineKind.ACCEPT),
        ("b", DeadlineKind.RESOLVE),
    ]
    rest = harness.run(lambda: harness.store.provisional(("b", DeadlineKind.RESOLVE), 4))
    assert [d.case_id for d in rest] == ["c", "c"]

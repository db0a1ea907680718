"""Paused deadlines in the DeadlineStore port, on memory, SQLite and PostgreSQL: kept
apart from the running ones, out of every tick's look-up, and moved back on resume."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from escalator.ports import Deadline, DeadlineStore
from escalator.sql import SqlDeadlineStore
from schemas.cases import (
    CaseAccepted,
    CaseResumed,
    CaseSuspended,
    DeadlineKind,
    RequestFacts,
    RequestReason,
    SuspensionRequested,
)
from schemas.codec import encode
from schemas.reports import Tier
from tests.support.backends import BACKENDS, open_store
from tests.support.sites import SHANGHAI, tiny_site
from tests.unit.escalator.builders import LIMITS, assigned, inbound, step

T0 = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)
REQUEST = "5b1c4f7e-8a2d-4c3b-9e1f-0a1b2c3d4e5f"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[DeadlineStore]:
    yield from open_store(request, MemoryDeadlineStore, SqlDeadlineStore)


def dl(case_id: str, kind: DeadlineKind = DeadlineKind.RESOLVE, **kw: object) -> Deadline:
    due = T0 + timedelta(days=3)
    fields: dict[str, object] = {
        "case_id": case_id,
        "kind": kind,
        "seq": 1,
        "unit_id": "s-a.station",
        "tier": Tier.COMMUNITY,
        "due_at": due,
        "warn_at": due - timedelta(hours=4),
        "working_days": 3,
        "correlation_id": f"corr-{case_id}",
        "started_at": T0,
    }
    fields.update(kw)
    return Deadline(**fields)  # type: ignore[arg-type]


def test_a_paused_deadline_round_trips_and_no_tick_sees_it(store: DeadlineStore) -> None:
    running, stopped = dl("c1", DeadlineKind.ACCEPT), dl("c1")
    stopped = replace(stopped, paused_at=T0 + timedelta(hours=1), remaining_seconds=3600 * 62)
    store.write([], [stopped, running, dl("c2")])
    assert store.load(["c1"]) == {"c1": [running, stopped]}  # by kind, both tables
    later = T0 + timedelta(days=30)
    assert [d.case_id for d in store.due(later, 10)] == ["c1", "c2"]  # c1's accept alone
    assert all(d.paused_at is None for d in store.due(later, 10))
    assert all(
        d.kind is not DeadlineKind.RESOLVE or d.case_id != "c1"
        for d in store.warnings_due(later - timedelta(days=26), 10)
    )
    store.write([running], [])
    assert store.next_due() == dl("c2").warn_at  # the paused one is not waited for


def test_a_paused_slot_is_paused_once(store: DeadlineStore) -> None:
    stopped = replace(dl("c1"), paused_at=T0, remaining_seconds=10)
    store.write([], [stopped])
    with pytest.raises(Exception):  # noqa: B017  # ValueError in memory, IntegrityError in SQL
        store.write([], [replace(stopped, remaining_seconds=20)])


def test_resuming_moves_the_row_back(store: DeadlineStore) -> None:
    stopped = replace(dl("c1"), paused_at=T0, remaining_seconds=10)
    store.write([], [stopped])
    again = replace(stopped, paused_at=None, remaining_seconds=None, due_at=T0 + timedelta(days=9))
    store.write([stopped], [again])
    assert store.load(["c1"]) == {"c1": [again]}
    assert store.due(T0 + timedelta(days=9), 10) == [again]


def test_escalator_pauses_and_resumes_alike_on_every_store(store: DeadlineStore) -> None:
    e = Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), store)
    facts = {"request_id": REQUEST, "by": "s.approve", "unit_id": "community-unit", "seq": 1}
    stop_at, go_at = (
        datetime(2026, 3, 6, 10, tzinfo=SHANGHAI),
        datetime(2026, 3, 13, 18, tzinfo=SHANGHAI),
    )
    pause = CaseSuspended.derive(
        SuspensionRequested(**facts, at=stop_at, reason=RequestReason.OTHER),  # type: ignore[arg-type]
        producer="router",
        now=stop_at,
        case_id="c1",
    )
    go = CaseResumed.derive(
        RequestFacts(**facts, at=go_at),  # type: ignore[arg-type]
        producer="router",
        now=go_at,
        case_id="c1",
    )
    e.handle(inbound([assigned("c1", when=T0), step(CaseAccepted, "c1", 1, T0)]))
    [paused] = e.handle(inbound([pause]))
    assert e.tick(datetime(2026, 12, 1, tzinfo=SHANGHAI)) == []
    [moved] = e.handle(inbound([go]))
    [d] = store.load(["c1"])["c1"]
    assert d.paused_at is None and d.due_at == datetime(2026, 3, 18, 8, tzinfo=SHANGHAI)
    mem = Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), MemoryDeadlineStore())
    mem.handle(inbound([assigned("c1", when=T0), step(CaseAccepted, "c1", 1, T0)]))
    assert [encode(x.message) for x in [*paused, *moved]] == [  # type: ignore[union-attr]
        encode(x.message)
        for o in (mem.handle(inbound([pause])), mem.handle(inbound([go])))
        for x in o[0]  # type: ignore[union-attr]
    ]

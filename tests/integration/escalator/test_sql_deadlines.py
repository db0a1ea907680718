"""The DeadlineStore port suite, run on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from escalator.ports import Deadline, DeadlineStore
from escalator.sql import SqlDeadlineStore
from schemas.cases import DeadlineKind
from schemas.envelope import SHANGHAI
from schemas.reports import Tier
from services.storage.db import Transaction
from tests.support.backends import BACKENDS, open_store
from tests.support.sites import tiny_site
from tests.unit.escalator.builders import LIMITS, assigned

T0 = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)
ACCEPT, RESOLVE, REFER = DeadlineKind.ACCEPT, DeadlineKind.RESOLVE, DeadlineKind.REFER


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[DeadlineStore]:
    yield from open_store(request, MemoryDeadlineStore, SqlDeadlineStore)


def dl(case_id: str, kind: DeadlineKind = ACCEPT, hours: float = 14, **kw: object) -> Deadline:
    due = T0 + timedelta(hours=hours)
    fields: dict[str, object] = {
        "case_id": case_id,
        "kind": kind,
        "seq": 1,
        "unit_id": "s-a.station",
        "tier": Tier.COMMUNITY,
        "due_at": due,
        "warn_at": due - timedelta(hours=4),
        "working_days": 0,
        "correlation_id": f"corr-{case_id}",
    }
    fields.update(kw)
    return Deadline(**fields)  # type: ignore[arg-type]


def test_put_and_get_round_trip_aware_times(store: DeadlineStore) -> None:
    a, r = dl("c1"), dl("c1", RESOLVE, hours=86, warn_at=None, working_days=3)
    store.put(r)
    store.put(a)
    store.put(dl("c2"))
    got = store.get("c1")
    assert got == [a, r]
    assert all(d.due_at.tzinfo is not None for d in got)
    assert got[0].due_at.utcoffset() is not None and got[0].due_at == T0 + timedelta(hours=14)
    assert store.get("nobody") == []


def test_put_replaces_the_same_kind(store: DeadlineStore) -> None:
    store.put(dl("c1", warned=True))
    newer = dl("c1", seq=2, hours=40, unit_id="street-unit", tier=Tier.STREET)
    store.put(newer)
    assert store.get("c1") == [newer]


def test_drop_some_kinds_or_all(store: DeadlineStore) -> None:
    for kind in (ACCEPT, RESOLVE, REFER):
        store.put(dl("c1", kind))
    store.put(dl("c2"))
    store.drop("c1", [ACCEPT, REFER])
    assert [d.kind for d in store.get("c1")] == [RESOLVE]
    store.drop("c1")
    assert store.get("c1") == [] and len(store.get("c2")) == 1
    store.drop("c1")  # nothing left: no error


def test_due_is_inclusive_ordered_and_limited(store: DeadlineStore) -> None:
    for i, hours in enumerate([5, 1, 3, 9]):
        store.put(dl(f"c{i}", hours=hours))
    now = T0 + timedelta(hours=5)
    assert [d.case_id for d in store.due(now, 10)] == ["c1", "c2", "c0"]
    assert [d.case_id for d in store.due(now, 2)] == ["c1", "c2"]
    assert store.due(T0, 10) == []


def test_due_compares_instants_across_timezones(store: DeadlineStore) -> None:
    store.put(dl("c1", hours=1))  # 11:00 Shanghai = 03:00 UTC
    assert store.due(datetime(2026, 3, 5, 2, 59, tzinfo=UTC), 10) == []
    assert len(store.due(datetime(2026, 3, 5, 3, 0, tzinfo=UTC), 10)) == 1


def test_warnings_due_window_and_marking(store: DeadlineStore) -> None:
    store.put(dl("early", hours=10))  # warn 16:00, due 20:00
    store.put(dl("later", hours=12))  # warn 18:00, due 22:00
    store.put(dl("lapsed", hours=7))  # warn 13:00, due 17:00: past, not a warning
    store.put(dl("silent", hours=8, warn_at=None))
    now = T0 + timedelta(hours=8)  # 18:00
    assert [d.case_id for d in store.warnings_due(now, 10)] == ["early", "later"]
    assert [d.case_id for d in store.warnings_due(now, 1)] == ["early"]
    (early, _) = store.warnings_due(now, 10)
    assert store.mark_warned(early) is True
    assert store.get("early")[0].warned is True
    assert store.mark_warned(early) is False  # already marked: another tick warned
    assert [d.case_id for d in store.warnings_due(now, 10)] == ["later"]
    assert store.mark_warned(dl("nobody")) is False  # nothing to mark: no error


def test_a_deadline_rearmed_with_seq_2_survives_removing_the_seq_1_one_that_was_due(
    store: DeadlineStore,
) -> None:
    store.put(dl("c1", RESOLVE, hours=1))
    store.put(dl("c2", RESOLVE, hours=2))
    (due, other) = store.due(T0 + timedelta(hours=3), 10)
    rearmed = dl("c1", RESOLVE, seq=2, hours=50, unit_id="s.command", tier=Tier.STREET)
    store.put(rearmed)  # another transaction re-armed it meanwhile
    assert store.remove(due) is False
    assert store.get("c1") == [rearmed]
    assert store.remove(other) is True and store.get("c2") == []
    assert store.remove(other) is False  # already gone
    assert store.remove(rearmed) is True and store.get("c1") == []


def test_remove_and_mark_match_the_due_time_too(store: DeadlineStore) -> None:
    read = dl("c1", hours=1)
    store.put(read)
    moved = replace(read, due_at=read.due_at + timedelta(hours=1))  # same seq, re-armed
    store.put(moved)
    assert store.mark_warned(read) is False and store.get("c1") == [moved]
    assert store.remove(read) is False and store.get("c1") == [moved]
    assert store.mark_warned(moved) is True


def test_a_warning_mark_leaves_a_deadline_rearmed_with_seq_2_unwarned(
    store: DeadlineStore,
) -> None:
    store.put(dl("c1", hours=10))  # warn 16:00
    (read,) = store.warnings_due(T0 + timedelta(hours=6), 10)
    rearmed = dl("c1", seq=2, hours=10)  # the same times, a newer assignment
    store.put(rearmed)
    assert store.mark_warned(read) is False
    assert store.get("c1") == [rearmed] and not rearmed.warned


def test_escalator_over_the_store(store: DeadlineStore) -> None:
    escalator = Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), store)
    escalator.handle(assigned("c1", when=T0), T0)
    warn = escalator.tick(datetime(2026, 3, 5, 20, tzinfo=SHANGHAI))
    lapse = escalator.tick(datetime(2026, 3, 6, tzinfo=SHANGHAI))
    assert [e.message.type for e in warn + lapse] == ["deadline.warning", "deadline.lapsed"]
    assert [d.kind for d in store.get("c1")] == [RESOLVE]
    assert replace(store.get("c1")[0], warned=False).seq == 1


@pytest.mark.postgres
def test_a_tick_racing_a_rearm_committed_by_another_transaction(pg_engine: Engine) -> None:
    """Two real transactions: the tick's read, a re-arm committed, the tick's removal."""
    ticking, other = Transaction(pg_engine), Transaction(pg_engine)
    escalator = Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), SqlDeadlineStore(ticking))
    with ticking.begin():
        escalator.handle(assigned("c1", when=T0), T0)  # accept due at 24:00, seq 1
    lapsed_at = datetime(2026, 3, 6, 1, tzinfo=SHANGHAI)
    with ticking.begin():
        tick_store = SqlDeadlineStore(ticking)
        read = [d for d in tick_store.due(lapsed_at, 10) if d.kind is ACCEPT]
        with other.begin():  # another instance re-arms the accept (seq 2) and commits
            rearmed = dl("c1", ACCEPT, seq=2, hours=40, unit_id="s.command", tier=Tier.STREET)
            SqlDeadlineStore(other).put(rearmed)
        assert [d.seq for d in read] == [1]
        assert tick_store.remove(read[0]) is False
    with ticking.begin():
        assert [(d.kind, d.seq) for d in SqlDeadlineStore(ticking).get("c1")] == [
            (ACCEPT, 2),
            (RESOLVE, 1),
        ]

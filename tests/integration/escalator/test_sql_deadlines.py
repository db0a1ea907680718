"""The DeadlineStore port suite, run on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

import escalator.sql
from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from escalator.ports import Deadline, DeadlineStore
from escalator.sql import SqlDeadlineStore
from schemas.cases import CaseAccepted, DeadlineKind, Limit, LimitUnit
from schemas.codec import encode
from schemas.reports import Tier
from schemas.topics import Emit
from storage.db import Transaction
from tests.support.backends import BACKENDS, open_store
from tests.support.sites import SHANGHAI, tiny_site
from tests.unit.escalator.builders import LIMITS, assigned, inbound, step, story, story_of

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


def escalator_on(store: DeadlineStore, batch: int = 1000) -> Escalator:
    return Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), store, batch)


def test_write_and_load_round_trip_aware_times(store: DeadlineStore) -> None:
    a, r = dl("c1"), dl("c1", RESOLVE, hours=86, warn_at=None, working_days=3)
    store.write([], [r, a, dl("c2")])
    got = store.load(["c1", "nobody"])
    assert got == {"c1": [a, r], "nobody": []}
    assert all(d.due_at.tzinfo is not None for d in got["c1"])
    assert got["c1"][0].due_at == T0 + timedelta(hours=14)
    assert store.load([]) == {}


def test_write_removes_and_adds_in_one_go(store: DeadlineStore) -> None:
    old = dl("c1", warned=True)
    store.write([], [old, dl("c1", RESOLVE)])
    newer = dl("c1", seq=2, hours=40, unit_id="street-unit", tier=Tier.STREET)
    store.write([old], [newer])
    assert store.load(["c1"])["c1"] == [newer, dl("c1", RESOLVE)]


def test_write_removes_exactly_and_an_armed_slot_conflicts(store: DeadlineStore) -> None:
    armed = dl("c1", seq=2)
    store.write([], [armed, dl("c2")])
    store.write([dl("c1", seq=1), replace(armed, due_at=T0)], [])  # not what is armed
    assert store.load(["c1"])["c1"] == [armed]
    store.write([replace(armed, warned=True, unit_id="x")], [])  # the flag and the rest
    assert store.load(["c1", "c2"]) == {"c1": [], "c2": [dl("c2")]}  # do not matter
    with pytest.raises((IntegrityError, ValueError)):  # another transaction armed it
        store.write([], [dl("c2", seq=3)])


def test_load_write_remove_and_mark_chunk_at_max_rows(
    store: DeadlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(escalator.sql, "MAX_ROWS", 3)  # 10 rows: four statements each
    rows = [dl(f"c{i:02d}", hours=i + 1) for i in range(10)]
    store.write([], rows)
    ids = [d.case_id for d in rows]
    assert store.load([*ids, "nobody"]) == {**{d.case_id: [d] for d in rows}, "nobody": []}
    wanted = rows[::-1]  # any order in, the same order out
    assert store.mark_warned(wanted) == wanted
    assert store.remove([*wanted, dl("nobody")]) == wanted
    store.write([], rows)
    store.write(rows, [replace(d, seq=2) for d in rows])
    assert [d.seq for ds in store.load(ids).values() for d in ds] == [2] * 10


def test_due_is_inclusive_ordered_and_limited(store: DeadlineStore) -> None:
    store.write([], [dl(f"c{i}", hours=hours) for i, hours in enumerate([5, 1, 3, 9])])
    now = T0 + timedelta(hours=5)
    assert [d.case_id for d in store.due(now, 10)] == ["c1", "c2", "c0"]
    assert [d.case_id for d in store.due(now, 2)] == ["c1", "c2"]
    assert store.due(T0, 10) == []


def test_due_orders_ties_by_case_then_kind(store: DeadlineStore) -> None:
    store.write([], [dl("b", RESOLVE), dl("b", ACCEPT), dl("a", REFER)])
    got = store.due(T0 + timedelta(hours=14), 10)
    assert [(d.case_id, d.kind) for d in got] == [("a", REFER), ("b", ACCEPT), ("b", RESOLVE)]


def test_due_compares_instants_across_timezones(store: DeadlineStore) -> None:
    store.write([], [dl("c1", hours=1)])  # 11:00 Shanghai = 03:00 UTC
    assert store.due(datetime(2026, 3, 5, 2, 59, tzinfo=UTC), 10) == []
    assert len(store.due(datetime(2026, 3, 5, 3, 0, tzinfo=UTC), 10)) == 1


def test_warnings_due_window_and_marking(store: DeadlineStore) -> None:
    store.write(
        [],
        [
            dl("early", hours=10),  # warn 16:00, due 20:00
            dl("later", hours=12),  # warn 18:00, due 22:00
            dl("lapsed", hours=7),  # warn 13:00, due 17:00: past, not a warning
            dl("silent", hours=8, warn_at=None),
        ],
    )
    now = T0 + timedelta(hours=8)  # 18:00
    assert [d.case_id for d in store.warnings_due(now, 10)] == ["early", "later"]
    assert [d.case_id for d in store.warnings_due(now, 1)] == ["early"]
    (early, later) = store.warnings_due(now, 10)
    assert store.mark_warned([early]) == [early]
    assert store.load(["early"])["early"][0].warned is True
    # already marked (another tick warned of it), or nothing there: not returned
    assert store.mark_warned([dl("nobody"), early, later]) == [later]
    assert store.warnings_due(now, 10) == []
    assert store.mark_warned([]) == [] and store.remove([]) == []


def test_a_deadline_rearmed_with_seq_2_survives_removing_the_seq_1_one_that_was_due(
    store: DeadlineStore,
) -> None:
    store.write([], [dl("c1", RESOLVE, hours=1), dl("c2", RESOLVE, hours=2)])
    (due, other) = store.due(T0 + timedelta(hours=3), 10)
    rearmed = dl("c1", RESOLVE, seq=2, hours=50, unit_id="s.command", tier=Tier.STREET)
    store.write([due], [rearmed])  # another transaction re-armed it meanwhile
    assert store.remove([due, other]) == [other]
    assert store.load(["c1", "c2"]) == {"c1": [rearmed], "c2": []}
    assert store.remove([other]) == []  # already gone
    assert store.remove([rearmed]) == [rearmed] and store.load(["c1"])["c1"] == []


def test_next_due_is_the_earliest_due_or_unwarned_warning_time(store: DeadlineStore) -> None:
    assert store.next_due() is None  # nothing armed: no timer
    late, soon = dl("c1", hours=30), dl("c2", RESOLVE, hours=20, warn_at=None)
    store.write([], [late, soon])
    assert store.next_due() == soon.due_at  # no warning: its due time
    early = dl("c3", hours=40, warn_at=T0 + timedelta(hours=1, microseconds=7))
    store.write([], [early])
    assert store.next_due() == early.warn_at  # exact to the microsecond, as stored
    store.mark_warned([early])
    assert store.next_due() == soon.due_at  # a warning given is no longer a time
    store.remove([soon])
    assert store.next_due() == late.warn_at
    overdue = dl("c4", hours=-100)
    store.write([], [overdue])
    assert store.next_due() == overdue.warn_at  # in the past: work is waiting


def test_remove_and_mark_match_the_due_time_too(store: DeadlineStore) -> None:
    read = dl("c1", hours=1)
    store.write([], [read])
    moved = replace(read, due_at=read.due_at + timedelta(hours=1))  # same seq, re-armed
    store.write([read], [moved])
    assert store.mark_warned([read]) == [] and store.load(["c1"])["c1"] == [moved]
    assert store.remove([read]) == [] and store.load(["c1"])["c1"] == [moved]
    assert store.mark_warned([moved]) == [moved]


def test_a_warning_mark_leaves_a_deadline_rearmed_with_seq_2_unwarned(
    store: DeadlineStore,
) -> None:
    store.write([], [dl("c1", hours=10)])  # warn 16:00
    (read,) = store.warnings_due(T0 + timedelta(hours=6), 10)
    rearmed = dl("c1", seq=2, hours=10)  # the same times, a newer assignment
    store.write([read], [rearmed])
    assert store.mark_warned([read]) == []
    assert store.load(["c1"])["c1"] == [rearmed] and not rearmed.warned


# --- the escalator over each store ---------------------------------------------------


def ticks(escalator: Escalator) -> list[Emit]:
    """The same-day accepts' warnings on Friday evening, then every lapse a fortnight on."""
    warnings = story_of(escalator.tick(datetime(2026, 3, 6, 20, 30, tzinfo=SHANGHAI)))
    return warnings + story_of(escalator.tick(datetime(2026, 3, 20, tzinfo=SHANGHAI)))


def test_escalator_over_the_store_gives_what_it_gives_in_memory(store: DeadlineStore) -> None:
    """The same batches end in the same deadlines, and the same ticks give the same
    bytes, on every store (times leave in UTC whatever the store reads back)."""
    messages = story()
    on_store, in_memory = escalator_on(store), escalator_on(reference := MemoryDeadlineStore())
    for part in (messages[:4], messages[4:]):
        assert on_store.handle(inbound(part)) == [[] for _ in part]
        in_memory.handle(inbound(part))
    cases = ["c1", "c2", "c3"]
    assert store.load(cases) == reference.load(cases)
    out = ticks(on_store)
    assert [e.message.type for e in out] == ["deadline.warning"] * 2 + ["deadline.lapsed"] * 4
    assert [(e.key, encode(e.message)) for e in out] == [
        (e.key, encode(e.message)) for e in ticks(in_memory)
    ]
    assert store.load(cases) == {c: [] for c in cases}


class Interleaved(DeadlineStore):
    """``inner``, with ``meanwhile`` run once right after a load or a due read."""

    def __init__(self, inner: DeadlineStore, after: str) -> None:
        self.inner, self.after = inner, after
        self.meanwhile: list[Callable[[], object]] = []

    def _then(self, read: str) -> None:
        while read == self.after and self.meanwhile:
            self.meanwhile.pop(0)()

    def load(self, case_ids: Collection[str]) -> dict[str, list[Deadline]]:
        read = self.inner.load(case_ids)
        self._then("load")
        return read

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        read = self.inner.due(now, limit)
        self._then("due")
        return read

    def write(self, removed: Sequence[Deadline], added: Sequence[Deadline]) -> None:
        self.inner.write(removed, added)

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        return self.inner.warnings_due(now, limit)

    def remove(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        return self.inner.remove(deadlines)

    def mark_warned(self, deadlines: Sequence[Deadline]) -> list[Deadline]:
        return self.inner.mark_warned(deadlines)

    def advance_warnings(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        return self.inner.advance_warnings(pairs)

    def provisional(self, after: tuple[str, DeadlineKind] | None, limit: int) -> list[Deadline]:
        return self.inner.provisional(after, limit)

    def reschedule(self, pairs: Sequence[tuple[Deadline, Deadline]]) -> list[Deadline]:
        return self.inner.reschedule(pairs)

    def next_due(self) -> datetime | None:
        return self.inner.next_due()


def test_a_batch_does_not_resurrect_what_a_tick_took_after_its_load(
    store: DeadlineStore,
) -> None:
    hooked = Interleaved(store, after="load")
    escalator, other = escalator_on(hooked), escalator_on(store)
    escalator.handle(inbound([assigned("c1", when=T0), assigned("c2", when=T0)]))
    lapsed_at = datetime(2026, 3, 6, 1, tzinfo=SHANGHAI)  # the accepts lapsed at 24:00
    theirs: list[Emit] = []
    hooked.meanwhile.append(lambda: theirs.extend(story_of(other.tick(lapsed_at))))
    # c1's accept is loaded here, then lapses there; c1 is accepted late, c2 re-armed
    late = step(CaseAccepted, "c1", 1, lapsed_at)
    escalator.handle(inbound([late, assigned("c2", when=lapsed_at, seq=2)]))
    assert hooked.meanwhile == [] and [e.key for e in theirs] == ["c1", "c2"]
    got = store.load(["c1", "c2"])
    assert [(d.kind, d.seq) for d in got["c1"]] == [(RESOLVE, 1)]  # no accept resurrected
    assert [(d.kind, d.seq) for d in got["c2"]] == [(ACCEPT, 2), (RESOLVE, 2)]


def test_a_tick_racing_another_instances_tick_emits_only_what_it_removed(
    store: DeadlineStore,
) -> None:
    hooked = Interleaved(store, after="due")
    mine, other = escalator_on(hooked), escalator_on(store, batch=2)
    mine.handle(inbound([assigned(f"c{i}", when=T0) for i in range(4)]))
    lapsed_at = datetime(2026, 3, 6, 1, tzinfo=SHANGHAI)
    theirs: list[Emit] = []
    hooked.meanwhile.append(lambda: theirs.extend(story_of(other.tick(lapsed_at))))
    out = story_of(mine.tick(lapsed_at))
    assert hooked.meanwhile == []
    assert [e.key for e in theirs] == ["c0", "c1"] and [e.key for e in out] == ["c2", "c3"]


# --- two real transactions on PostgreSQL ---------------------------------------------


class SqlThen(SqlDeadlineStore):
    """The SQL store, with ``meanwhile`` run once right after a load or a due read."""

    def __init__(self, tx: Transaction, after: str) -> None:
        super().__init__(tx)
        self.after = after
        self.meanwhile: list[Callable[[], object]] = []

    def _then(self, read: str) -> None:
        while read == self.after and self.meanwhile:
            self.meanwhile.pop(0)()

    def load(self, case_ids: Collection[str]) -> dict[str, list[Deadline]]:
        read = super().load(case_ids)
        self._then("load")
        return read

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        read = super().due(now, limit)
        self._then("due")
        return read


def committed_by_another(engine: Engine, work: Callable[[Escalator], object]) -> object:
    """``work`` on an escalator of its own, in a transaction of its own, committed."""
    tx = Transaction(engine)
    with tx.begin():
        return work(escalator_on(SqlDeadlineStore(tx), batch=2))


@pytest.mark.postgres
def test_a_tick_racing_a_rearm_committed_by_another_transaction(pg_engine: Engine) -> None:
    """Two real transactions: the tick's read, a re-arm committed, the tick's removal."""
    ticking = Transaction(pg_engine)
    store = SqlThen(ticking, after="due")
    escalator = escalator_on(store)
    with ticking.begin():
        escalator.handle(inbound([assigned("c1", when=T0)]))  # accept due at 24:00, seq 1
    lapsed_at = datetime(2026, 3, 6, 1, tzinfo=SHANGHAI)
    rearm = assigned("c1", when=lapsed_at, seq=2, tier=Tier.STREET)  # another instance
    store.meanwhile.append(
        lambda: committed_by_another(pg_engine, lambda e: e.handle(inbound([rearm])))
    )
    with ticking.begin():
        assert story_of(escalator.tick(lapsed_at)) == []  # it read seq 1's accept, now gone
    with ticking.begin():
        got = store.load(["c1"])["c1"]
    assert store.meanwhile == [] and [(d.kind, d.seq) for d in got] == [(ACCEPT, 2), (RESOLVE, 2)]


@pytest.mark.postgres
def test_a_tick_racing_a_tick_committed_by_another_transaction(pg_engine: Engine) -> None:
    ticking = Transaction(pg_engine)
    store = SqlThen(ticking, after="due")
    escalator = escalator_on(store)
    with ticking.begin():
        escalator.handle(inbound([assigned(f"c{i}", when=T0) for i in range(4)]))
    lapsed_at = datetime(2026, 3, 6, 1, tzinfo=SHANGHAI)
    theirs: list[Emit] = []
    store.meanwhile.append(
        lambda: theirs.extend(
            committed_by_another(pg_engine, lambda e: story_of(e.tick(lapsed_at)))
        )  # type: ignore[arg-type]
    )
    with ticking.begin():
        mine = story_of(escalator.tick(lapsed_at))
    assert [e.key for e in theirs] == ["c0", "c1"] and [e.key for e in mine] == ["c2", "c3"]


@pytest.mark.postgres
def test_a_batch_racing_a_tick_committed_by_another_transaction(pg_engine: Engine) -> None:
    handling = Transaction(pg_engine)
    store = SqlThen(handling, after="load")
    escalator = escalator_on(store)
    with handling.begin():
        escalator.handle(inbound([assigned("c1", when=T0)]))
    lapsed_at = datetime(2026, 3, 6, 1, tzinfo=SHANGHAI)
    theirs: list[Emit] = []
    store.meanwhile.append(
        lambda: theirs.extend(
            committed_by_another(pg_engine, lambda e: story_of(e.tick(lapsed_at)))
        )  # type: ignore[arg-type]
    )
    with handling.begin():  # loads the accept, which then lapses on the other instance
        escalator.handle(inbound([step(CaseAccepted, "c1", 1, lapsed_at)]))
    with handling.begin():
        got = store.load(["c1"])["c1"]
    assert [e.message.type for e in theirs] == ["deadline.lapsed"]
    assert [d.kind for d in got] == [RESOLVE]


# --- provisional deadlines (escalator.reschedule) ------------------------------------


def test_provisional_rows_round_trip_and_page_by_slot(store: DeadlineStore) -> None:
    started = T0 - timedelta(hours=1)
    rows = [
        dl("c2", RESOLVE, provisional=True, started_at=started),
        dl("c1", provisional=True, started_at=started),
        dl("c1", RESOLVE, provisional=True, started_at=started),
        dl("c0"),  # official: never in a page
    ]
    store.write([], rows)
    assert store.load(["c1"])["c1"][0].started_at == started
    page = store.provisional(None, 2)
    assert [(d.case_id, d.kind) for d in page] == [("c1", ACCEPT), ("c1", RESOLVE)]
    assert page[0] == rows[1]
    assert [(d.case_id, d.kind) for d in store.provisional(("c1", RESOLVE), 2)] == [("c2", RESOLVE)]
    assert store.provisional(("c2", RESOLVE), 2) == []


def test_reschedule_replaces_exactly_and_never_brings_back(store: DeadlineStore) -> None:
    old, gone = dl("c1", provisional=True), dl("c2", provisional=True)
    store.write([], [old, gone, dl("c3", provisional=True, seq=2)])
    store.remove([gone])  # lapsed meanwhile
    new = replace(old, due_at=T0 + timedelta(hours=40), warn_at=None, provisional=False)
    stale = dl("c3", provisional=True)  # seq 1: re-armed since it was read
    moved = [
        (old, new),
        (gone, replace(gone, provisional=False)),
        (stale, replace(stale, provisional=False)),
    ]
    assert store.reschedule(moved) == [new]
    assert store.load(["c1", "c2"]) == {"c1": [new], "c2": []}
    assert store.load(["c3"])["c3"][0].provisional
    assert [d.case_id for d in store.provisional(None, 10)] == ["c3"]


def test_limits_in_other_units_and_their_policy_round_trip(store: DeadlineStore) -> None:
    d = dl("c1", RESOLVE, working_days=2, unit=LimitUnit.HOURS, policy="urgent", started_at=T0)
    store.write([], [d])
    assert store.load(["c1"])["c1"] == [d]
    assert store.due(d.due_at, 10)[0].limit == Limit(amount=2, unit=LimitUnit.HOURS)


def test_advancing_a_warning_sends_each_moment_once(store: DeadlineStore) -> None:
    first, second = T0 + timedelta(hours=2), T0 + timedelta(hours=6)
    d = dl("c1", warn_at=first, started_at=T0)
    store.write([], [d])
    nxt = replace(d, warn_at=second)
    assert store.advance_warnings([(d, nxt)]) == [d]
    assert store.advance_warnings([(d, nxt)]) == []  # another instance sent it already
    (row,) = store.warnings_due(second, 10)
    assert row.warn_at == second and not row.warned
    assert store.advance_warnings([(row, replace(row, warned=True))]) == [row]  # the last
    assert store.warnings_due(d.due_at - timedelta(seconds=1), 10) == []
    (last,) = store.load(["c1"])["c1"]
    assert (last.warn_at, last.warned) == (second, True)
    # one re-armed meanwhile (another seq) is not advanced
    again = dl("c2", warn_at=first, started_at=T0)
    store.write([], [again])
    store.write([again], [replace(again, seq=2)])
    assert store.advance_warnings([(again, replace(again, warn_at=second))]) == []


def test_each_co_handlers_clock_has_its_own_slot(store: DeadlineStore) -> None:
    """Co-handlers' (协办) clocks share a kind, assist, and are kept apart by their part:
    written, loaded, taken when due and removed one by one, like any slot."""
    assist = DeadlineKind.ASSIST
    one = dl("c1", assist, hours=20, part=1, unit_id="d.env", tier=Tier.DISTRICT)
    two = dl("c1", assist, hours=30, part=2, unit_id="s-a.station")
    lead = dl("c1", RESOLVE, hours=40)
    store.write([], [two, lead, one])
    got = store.load(["c1"])["c1"]
    assert {d.slot: d for d in got} == {"assist.1": one, "assist.2": two, "resolve": lead}
    assert store.due(T0 + timedelta(hours=25), 10) == [one]
    assert store.remove([one]) == [one]
    assert [d.slot for d in store.load(["c1"])["c1"]] == ["assist.2", "resolve"]

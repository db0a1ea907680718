"""The escalator over the in-memory store: what arms, what disarms, what a tick emits,
a batch at a time."""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from escalator.ports import Deadline
from schemas.cases import (
    AssignmentReason,
    CaseAccepted,
    CaseHandled,
    CaseVerified,
    DeadlineKind,
    VerifiedPayload,
)
from schemas.codec import encode
from schemas.deadletter import Rejected, RejectionReason
from schemas.deadlines import DeadlineLapsed, DeadlineWarning
from schemas.envelope import Envelope
from schemas.processing import Outcome
from schemas.reports import Tier
from schemas.topics import DEADLINES, Emit
from tests.support.sites import tiny_site

from .builders import (
    LIMITS,
    ROUTER,
    THU,
    assigned,
    at,
    closed,
    escalated,
    inbound,
    step,
    story,
    story_of,
)

ACCEPT_DUE = at(2026, 3, 6, 0)  # same working day: 24:00 on Thursday
RESOLVE_DUE = at(2026, 3, 11, 0)  # community: 3 working days -> 24:00 on Tue 10 March


def feed(escalator: Escalator, *messages: Envelope) -> list[Outcome]:
    """``messages`` handled as one batch."""
    return escalator.handle(inbound(messages))


def armed(store: MemoryDeadlineStore, case_id: str) -> list[Deadline]:
    return store.load([case_id])[case_id]


def kinds(store: MemoryDeadlineStore, case_id: str) -> dict[DeadlineKind, datetime]:
    return {d.kind: d.due_at for d in armed(store, case_id)}


def fresh(batch: int = 1000, store: MemoryDeadlineStore | None = None) -> Escalator:
    store = store if store is not None else MemoryDeadlineStore()
    return Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), store, batch)


# --- the case story arms and disarms -----------------------------------------------


def test_assignment_arms_accept_and_resolve(escalator: Escalator, store) -> None:
    assert feed(escalator, assigned("c1", when=THU)) == [[]]
    assert kinds(store, "c1") == {
        DeadlineKind.ACCEPT: ACCEPT_DUE,
        DeadlineKind.RESOLVE: RESOLVE_DUE,
    }
    accept = armed(store, "c1")[0]
    assert accept.warn_at == at(2026, 3, 5, 20) and accept.seq == 1 and not accept.warned
    assert accept.unit_id == "community-unit" and accept.working_days == 0


def test_street_holding_a_district_matter_must_refer_it_within_one_day(
    escalator: Escalator, store
) -> None:
    """A matter beyond the street's duties has no accept limit: the street must only
    report it up a tier within 1 working day, so the refer deadline alone is armed."""
    feed(escalator, assigned("c1", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT))
    got = {d.kind: d for d in armed(store, "c1")}
    assert set(got) == {DeadlineKind.REFER}
    assert got[DeadlineKind.REFER].due_at == at(2026, 3, 7, 0)  # end of Friday
    assert got[DeadlineKind.REFER].working_days == 1


def test_accept_clears_only_the_accept_deadline(escalator: Escalator, store) -> None:
    feed(escalator, assigned("c1", when=THU))
    assert feed(escalator, step(CaseAccepted, "c1", 1, at(2026, 3, 5, 11))) == [[]]
    assert kinds(store, "c1") == {DeadlineKind.RESOLVE: RESOLVE_DUE}


def test_accept_of_an_earlier_assignment_does_not_clear(escalator: Escalator, store) -> None:
    feed(escalator, assigned("c1", when=THU, seq=2, reason=AssignmentReason.ESCALATED))
    feed(escalator, step(CaseAccepted, "c1", 1, at(2026, 3, 5, 11)))
    assert DeadlineKind.ACCEPT in kinds(store, "c1")


def test_handled_clears_the_holders_deadlines_and_closed_clears_all(
    escalator: Escalator, store
) -> None:
    feed(escalator, assigned("c1", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT))
    feed(escalator, step(CaseHandled, "c1", 2, THU))  # not this assignment's
    assert set(kinds(store, "c1")) == {DeadlineKind.REFER}
    feed(escalator, step(CaseHandled, "c1", 1, THU))
    assert armed(store, "c1") == []
    feed(escalator, assigned("c1", when=THU, seq=2))
    assert len(armed(store, "c1")) == 2
    feed(escalator, closed("c1", THU))
    assert armed(store, "c1") == []


def test_escalated_drops_the_old_holders_deadlines_not_the_new_ones(
    escalator: Escalator, store
) -> None:
    feed(escalator, assigned("c1", when=THU))
    up = assigned("c1", when=THU, tier=Tier.STREET, seq=2, reason=AssignmentReason.ESCALATED)
    feed(escalator, up)  # the new assignment first, the escalation after
    feed(escalator, escalated("c1", "community-unit", "street-unit", THU))
    assert {(d.kind, d.seq, d.unit_id) for d in armed(store, "c1")} == {
        (DeadlineKind.ACCEPT, 2, "street-unit"),
        (DeadlineKind.RESOLVE, 2, "street-unit"),
    }
    feed(escalator, escalated("c1", "street-unit", None, THU))  # supervised: none above
    assert armed(store, "c1") == []


def test_rework_rearms_resolve_without_accept(escalator: Escalator, store) -> None:
    feed(escalator, assigned("c1", when=THU))
    feed(escalator, step(CaseAccepted, "c1", 1, THU))
    feed(escalator, step(CaseHandled, "c1", 1, THU))
    monday = at(2026, 3, 9, 9)
    feed(escalator, assigned("c1", when=monday, seq=2, reason=AssignmentReason.REWORK))
    assert kinds(store, "c1") == {DeadlineKind.RESOLVE: at(2026, 3, 13, 0)}  # end of Thu 12


def test_stale_assignment_is_ignored(escalator: Escalator, store) -> None:
    feed(escalator, assigned("c1", when=THU, seq=2))
    assert feed(escalator, assigned("c1", when=THU, seq=1, tier=Tier.STREET)) == [[]]
    assert {d.seq for d in armed(store, "c1")} == {2}


def test_other_events_change_nothing(escalator: Escalator, store) -> None:
    feed(escalator, assigned("c1", when=THU))
    before = store.rows()
    verified = VerifiedPayload(unit_id="v", seq=1, at=THU, passed=True)
    msg = CaseVerified.derive(verified, producer=ROUTER, now=THU, case_id="c1")
    assert feed(escalator, msg) == [[]]
    assert store.rows() == before


def test_a_step_without_a_case_id_is_rejected_and_the_rest_of_the_batch_applies(
    escalator: Escalator, store
) -> None:
    """Ignoring it would leave some case's deadlines armed to lapse and escalate a
    case already accepted or closed: it goes to the dead letters instead."""
    # the model and its schema require a case_id, so decoding refuses such a message; the
    # escalator still checks, for a message built past the model's validation
    nobody = step(CaseAccepted, "c0", 1, THU).model_copy(update={"case_id": None})
    out = feed(escalator, assigned("c1", when=THU), nobody, step(CaseAccepted, "c1", 1, THU))
    assert out[0] == [] and out[2] == []
    assert isinstance(out[1], Rejected) and out[1].reason is RejectionReason.INVALID
    assert "case_id" in out[1].message
    assert kinds(store, "c1") == {DeadlineKind.RESOLVE: RESOLVE_DUE}


# --- a batch at a time: the same as one message at a time ---------------------------


def one_at_a_time(messages: Sequence[Envelope]) -> list[Deadline]:
    store = MemoryDeadlineStore()
    escalator = fresh(store=store)
    for message in messages:
        escalator.handle(inbound([message]))
    return store.rows()


def in_batches(messages: Sequence[Envelope], cuts: Collection[int]) -> list[Deadline]:
    store = MemoryDeadlineStore()
    escalator = fresh(store=store)
    bounds = [0, *sorted(cuts), len(messages)]
    for start, end in itertools.pairwise(bounds):
        escalator.handle(inbound(messages[start:end]))
    return store.rows()


def test_a_batch_touching_one_case_several_times_ends_as_one_at_a_time() -> None:
    messages = story()
    final = one_at_a_time(messages)
    assert in_batches(messages, []) == final
    assert in_batches(messages, [3, 7]) == final
    by_case = {(d.case_id, d.kind): (d.seq, d.unit_id) for d in final}
    assert by_case == {
        ("c1", DeadlineKind.ACCEPT): (2, "street-unit"),
        ("c1", DeadlineKind.RESOLVE): (2, "street-unit"),
        ("c3", DeadlineKind.ACCEPT): (2, "community-unit"),
        ("c3", DeadlineKind.RESOLVE): (2, "community-unit"),
    }


def random_story(rng: random.Random, length: int) -> list[Envelope]:
    """Steps of three cases in a random order, now and then out of place (late, stale)."""
    seqs = {c: 0 for c in ("c1", "c2", "c3")}
    units = ("community-unit", "street-unit")
    out: list[Envelope] = []
    for i in range(length):
        case_id = rng.choice(sorted(seqs))
        when = THU + timedelta(minutes=i)
        kind = rng.choice(("assign", "assign", "accept", "handle", "escalate", "close"))
        seq = max(1, seqs[case_id] - rng.choice((0, 0, 1)))  # now and then an earlier one
        if kind == "assign":
            seqs[case_id] += rng.choice((1, 1, 0))  # now and then a repeated seq
            tier = rng.choice((Tier.COMMUNITY, Tier.STREET))
            owner = rng.choice((tier, Tier.DISTRICT))
            reason = rng.choice(list(AssignmentReason))
            out.append(
                assigned(
                    case_id,
                    when=when,
                    tier=tier,
                    owner=owner,
                    seq=max(1, seqs[case_id]),
                    reason=reason,
                    unit_id=f"{tier.value}-unit",
                )
            )
        elif kind in ("accept", "handle"):
            cls = CaseAccepted if kind == "accept" else CaseHandled
            out.append(step(cls, case_id, seq, when, rng.choice(units)))
        elif kind == "escalate":
            out.append(escalated(case_id, rng.choice(units), "street-unit", when))
        else:
            out.append(closed(case_id, when))
    return out


def test_random_stories_end_the_same_in_any_batching() -> None:
    for seed in range(200):
        rng = random.Random(seed)
        messages = random_story(rng, 30)
        final = one_at_a_time(messages)
        cuts = rng.sample(range(1, len(messages)), rng.randrange(0, 6))
        assert in_batches(messages, []) == final, f"seed {seed}, one batch"
        assert in_batches(messages, cuts) == final, f"seed {seed}, cut at {sorted(cuts)}"


class Spy(MemoryDeadlineStore):
    """Records what the escalator asked of the store."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[list[str]] = []
        self.writes: list[tuple[list[Deadline], list[Deadline]]] = []

    def load(self, case_ids: Collection[str]) -> dict[str, list[Deadline]]:
        self.loads.append(sorted(case_ids))
        return super().load(case_ids)

    def write(self, removed: Sequence[Deadline], added: Sequence[Deadline]) -> None:
        self.writes.append((list(removed), list(added)))
        super().write(removed, added)


def test_one_load_and_one_write_of_the_difference_per_batch() -> None:
    store = Spy()
    escalator = fresh(store=store)
    feed(escalator, assigned("c1", when=THU), assigned("c2", when=THU))
    assert store.loads == [["c1", "c2"]] and len(store.writes) == 1
    assert len(store.writes[0][1]) == 4 and store.writes[0][0] == []
    before = {d.kind: d for d in armed(store, "c1")}
    store.loads.clear()
    store.writes.clear()

    verified = VerifiedPayload(unit_id="v", seq=1, at=THU, passed=True)
    msg = CaseVerified.derive(verified, producer=ROUTER, now=THU, case_id="c1")
    feed(escalator, msg)  # touches no deadline: not even a load
    assert store.loads == [] and store.writes == []

    feed(escalator, step(CaseAccepted, "c1", 1, THU), msg)
    # only the accept goes; the resolve, and c2, are not written
    assert store.loads == [["c1"]]
    assert store.writes == [([before[DeadlineKind.ACCEPT]], [])]

    store.writes.clear()
    c2 = armed(store, "c2")
    # armed and settled within the batch: the old rows go, nothing new is written
    feed(escalator, assigned("c2", when=THU, seq=2), step(CaseHandled, "c2", 2, THU))
    assert store.writes == [(c2, [])] and len(c2) == 2


class TickedWhileLoading(MemoryDeadlineStore):
    """Right after a batch loads, another instance's tick takes ``taken`` (the
    deadline lapsed there) and commits."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: list[Deadline] = []

    def load(self, case_ids: Collection[str]) -> dict[str, list[Deadline]]:
        read = super().load(case_ids)
        assert self.remove(self.taken) == self.taken
        self.taken = []
        return read


def test_a_row_a_concurrent_tick_took_is_not_resurrected() -> None:
    store = TickedWhileLoading()
    escalator = fresh(store=store)
    feed(escalator, assigned("c1", when=THU))
    (resolve,) = [d for d in armed(store, "c1") if d.kind is DeadlineKind.RESOLVE]
    store.taken = [resolve]
    feed(escalator, step(CaseAccepted, "c1", 1, THU))  # the batch loaded the resolve
    assert armed(store, "c1") == []  # the accept went here, the resolve there: both gone


# --- time passes ---------------------------------------------------------------------


def test_tick_warns_once_then_lapses_once(escalator: Escalator, store) -> None:
    feed(escalator, assigned("c1", when=THU))
    assert story_of(escalator.tick(at(2026, 3, 5, 19, 59))) == []
    warned = story_of(escalator.tick(at(2026, 3, 5, 20, 30)))
    assert [type(e.message) for e in warned] == [DeadlineWarning]
    emit = warned[0]
    assert emit.topic == DEADLINES.name and emit.key == "c1"
    assert emit.message.payload.kind is DeadlineKind.ACCEPT
    assert emit.message.payload.due_at == ACCEPT_DUE
    assert emit.message.occurred_at == at(2026, 3, 5, 20)  # the warning moment, not now
    assert story_of(escalator.tick(at(2026, 3, 5, 21))) == []  # warned once only
    lapsed = story_of(escalator.tick(ACCEPT_DUE + timedelta(minutes=7)))
    assert [type(e.message) for e in lapsed] == [DeadlineLapsed]
    assert lapsed[0].message.payload.kind is DeadlineKind.ACCEPT
    assert lapsed[0].message.producer == "escalator"
    assert lapsed[0].message.occurred_at == ACCEPT_DUE  # when it lapsed, not now
    assert set(kinds(store, "c1")) == {DeadlineKind.RESOLVE}
    assert story_of(escalator.tick(ACCEPT_DUE)) == []


def test_lapse_carries_the_case_correlation_id(escalator: Escalator) -> None:
    msg = assigned("c1", when=THU)
    feed(escalator, msg)
    (lapse,) = [
        e for e in story_of(escalator.tick(ACCEPT_DUE)) if isinstance(e.message, DeadlineLapsed)
    ]
    assert lapse.message.correlation_id == msg.correlation_id
    assert lapse.message.causation_id is None


def test_no_warning_when_the_warning_moment_is_before_the_start(
    escalator: Escalator, store
) -> None:
    late = at(2026, 3, 5, 22)  # same-day accept due at 24:00: 4 h before is 20:00
    feed(escalator, assigned("c1", when=late))
    assert armed(store, "c1")[0].warn_at is None
    assert story_of(escalator.tick(at(2026, 3, 5, 23))) == []
    assert [type(e.message) for e in story_of(escalator.tick(ACCEPT_DUE))] == [DeadlineLapsed]


def test_a_backlog_is_worked_through_in_bounded_ticks(store) -> None:
    escalator = fresh(batch=2, store=store)
    feed(escalator, *(assigned(f"c{i}", when=THU) for i in range(5)))
    after = at(2026, 3, 20)  # everything lapsed: 5 accept + 5 resolve
    sizes = [len(story_of(escalator.tick(after))) for _ in range(6)]
    assert sizes == [2, 2, 2, 2, 2, 0]
    assert store.rows() == []


def armed_story(escalator: Escalator) -> None:
    feed(
        escalator,
        assigned("c1", when=THU),
        assigned("c2", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT),
        assigned("c3", when=THU),
        assigned("c0", when=THU),
    )


def encoded(emits: list[Emit]) -> list[tuple[str, str | None, bytes]]:
    return [(e.topic, e.key, encode(e.message)) for e in emits]


def test_the_same_tick_at_two_nows_gives_the_same_bytes() -> None:
    """Warnings at 20:30 or 23:59, lapses ten days on or a fortnight on: what falls
    due is the same, so are the messages, byte for byte, in the same order."""
    early, late = fresh(), fresh()
    armed_story(early), armed_story(late)
    warnings = encoded(story_of(early.tick(at(2026, 3, 5, 20, 30))))
    assert warnings == encoded(story_of(late.tick(at(2026, 3, 5, 23, 59))))
    assert [w[1] for w in warnings] == ["c0", "c1", "c3"]  # by warn_at, then case
    lapses = encoded(story_of(early.tick(at(2026, 3, 15))))
    assert lapses == encoded(story_of(late.tick(at(2026, 3, 19, 8, 1))))
    assert len(lapses) == 7  # accept and resolve of c0, c1, c3; refer of c2


def test_ids_are_stable_across_runs() -> None:
    def run_once(late: datetime) -> list[tuple[str, str]]:
        escalator = fresh()
        feed(escalator, assigned("c1", when=THU))
        feed(escalator, assigned("c2", when=THU, tier=Tier.STREET, owner=Tier.DISTRICT))
        out = story_of(escalator.tick(at(2026, 3, 5, 21))) + story_of(escalator.tick(late))
        return [(e.message.type, e.message.event_id) for e in out]

    first, second = run_once(at(2026, 3, 20)), run_once(at(2026, 3, 23, 8))  # a late re-run
    assert first == second
    # c1: accept warned, accept and resolve lapsed; c2: refer (alone) lapsed, never warned
    assert len(first) == 1 + 3 and len({i for _, i in first}) == 4


# --- a tick racing another transaction ---------------------------------------------


class Meanwhile(MemoryDeadlineStore):
    """Right after a tick reads its lapses (``after="due"``) or its warnings
    (``after="warnings_due"``), another transaction runs ``then`` (an escalator
    instance's tick, or the case story handled meanwhile) and commits."""

    def __init__(self, after: str) -> None:
        super().__init__()
        self.after = after
        self.then: list[object] = []  # callables, run once each

    def _interleave(self, read: str) -> None:
        while read == self.after and self.then:
            self.then.pop(0)()  # type: ignore[operator]

    def due(self, now: datetime, limit: int) -> list[Deadline]:
        read = super().due(now, limit)
        self._interleave("due")
        return read

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        read = super().warnings_due(now, limit)
        self._interleave("warnings_due")
        return read


def racing(after: str) -> tuple[Escalator, Meanwhile]:
    store = Meanwhile(after)
    return fresh(store=store), store


def test_a_lapse_does_not_remove_the_deadline_rearmed_meanwhile() -> None:
    escalator, store = racing(after="due")
    feed(escalator, assigned("c1", when=THU))
    feed(escalator, step(CaseAccepted, "c1", 1, THU))
    tuesday = at(2026, 3, 10, 10)
    rework = assigned("c1", when=tuesday, seq=2, reason=AssignmentReason.REWORK)
    store.then.append(lambda: feed(escalator, rework))
    # the seq-1 resolve (due 24:00 Tue) is read as lapsed; the rework replaces it
    # with a seq-2 resolve before the tick writes
    out = story_of(escalator.tick(at(2026, 3, 11, 9)))
    assert store.then == []  # the race did happen
    assert [(d.kind, d.seq, d.due_at) for d in armed(store, "c1")] == [
        (DeadlineKind.RESOLVE, 2, at(2026, 3, 14)),  # 3 working days after Tue 10
    ]
    assert out == []  # what it read was superseded: not reported
    lapsed = story_of(escalator.tick(at(2026, 3, 14)))
    assert [(type(e.message), e.message.payload.seq) for e in lapsed] == [(DeadlineLapsed, 2)]


def test_a_warning_does_not_mark_the_deadline_rearmed_meanwhile() -> None:
    escalator, store = racing(after="warnings_due")
    feed(escalator, assigned("c1", when=THU))
    up = assigned("c1", when=THU, seq=2, tier=Tier.STREET, reason=AssignmentReason.ESCALATED)
    store.then.append(lambda: feed(escalator, up))  # seq-2 accept, same due and warn times
    out = story_of(escalator.tick(at(2026, 3, 5, 20)))
    assert store.then == []  # the race did happen
    (accept,) = [d for d in armed(store, "c1") if d.kind is DeadlineKind.ACCEPT]
    assert (accept.seq, accept.warned) == (2, False)
    assert out == []  # it read seq 1's warning, superseded: not reported
    warned = story_of(escalator.tick(at(2026, 3, 5, 20)))
    assert [(type(e.message), e.message.payload.seq) for e in warned] == [(DeadlineWarning, 2)]


def test_a_tick_racing_another_instances_tick_emits_only_what_it_took() -> None:
    escalator, store = racing(after="due")
    feed(escalator, *(assigned(f"c{i}", when=THU) for i in range(4)))
    other = fresh(batch=2, store=store)  # another instance, on the same deadlines
    after = at(2026, 3, 6, 1)  # the four accepts lapsed at 24:00
    theirs: list[Emit] = []
    # between this tick's read and its removal, the other instance ticks and commits
    store.then.append(lambda: theirs.extend(story_of(other.tick(after))))
    mine = story_of(escalator.tick(after))
    assert store.then == []  # the race did happen
    assert [e.key for e in theirs] == ["c0", "c1"]  # its batch of two, first by case
    assert [e.key for e in mine] == ["c2", "c3"]  # read all four, took (and told) two
    assert {d.kind for d in store.rows()} == {DeadlineKind.RESOLVE}


def test_each_warning_and_lapse_reaches_the_holding_unit_on_its_own_topic(
    escalator: Escalator,
) -> None:
    feed(escalator, assigned("c1", when=THU))
    out = escalator.tick(at(2026, 3, 5, 20, 30)) + escalator.tick(RESOLVE_DUE)
    story = [e for e in out if e.topic == DEADLINES.name]
    assert {e.message.type for e in story} == {"deadline.warning", "deadline.lapsed"}
    for emit in story:
        unit = f"gridflow.assignments.{emit.message.payload.unit_id}"
        assert [e.topic for e in out if e.message == emit.message] == [DEADLINES.name, unit]


def test_warnings_wait_while_lapses_fill_whole_rounds(store) -> None:
    """A lapse backlog first (its rows' warnings are moot, and reading past them walks
    every overdue row); the warnings still ahead of their due time come after it."""
    escalator = fresh(batch=2, store=store)
    feed(escalator, *(assigned(f"c{i}", when=THU) for i in range(5)))
    now = RESOLVE_DUE - timedelta(hours=1)  # accepts lapsed, resolves warned of, not due
    rounds = [[e.message.type for e in story_of(escalator.tick(now))] for _ in range(6)]
    assert rounds == [
        ["deadline.lapsed"] * 2,  # a full round of lapses: no warnings read
        ["deadline.lapsed"] * 2,
        ["deadline.warning"] * 2 + ["deadline.lapsed"],  # the backlog drains
        ["deadline.warning"] * 2,
        ["deadline.warning"],
        [],
    ]


class Watching(MemoryDeadlineStore):
    """Records what was left overdue when a tick read its warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.overdue_at_read: list[int] = []

    def warnings_due(self, now: datetime, limit: int) -> list[Deadline]:
        self.overdue_at_read.append(sum(1 for d in self.rows() if d.due_at <= now))
        return super().warnings_due(now, limit)


def test_warnings_are_read_once_the_lapses_are_taken() -> None:
    """The read of warnings walks unwarned rows by warn_at, overdue ones first: it comes
    after the tick took its lapses, so (short of a backlog) none is left to walk."""
    store = Watching()
    escalator = fresh(batch=10, store=store)
    feed(escalator, *(assigned(f"c{i}", when=THU) for i in range(5)))
    now = RESOLVE_DUE - timedelta(hours=1)  # five accepts lapsed, five resolves to warn
    types = [e.message.type for e in story_of(escalator.tick(now))]
    assert types == ["deadline.warning"] * 5 + ["deadline.lapsed"] * 5  # the order told
    assert store.overdue_at_read == [0]

"""The closed loop's state machine (router.workflow), walked through the router.

Every command is tried in every stage: where the table allows it, the router
applies it and the case lands in one of the table's targets; where it does not,
the router refuses it (CONFLICT) with the stage and the stages it needs, the file
does not change, and the refusal reaches the sender. Random walks (hypothesis)
then check that the router and the table agree along whole stories, reopenings
included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.core import Router
from router.memory import MemoryCaseStore
from router.ports import CaseFile, OpenRequest, Queued, Suspension
from router.workflow import EVENTS, TRANSITIONS, allowed, refusal, senders, sources
from schemas.access import PERMISSIONS
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseReopened,
    CoHandler,
    QueueReason,
    ReopenCause,
    RequestKind,
    RequestReason,
    Satisfaction,
    Stage,
)
from schemas.catalogue import Site
from schemas.commands import COMMANDS
from schemas.deadletter import Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.replies import CommandAcknowledged, CommandRefused
from schemas.reports import Tier
from tests.unit.router.support import (
    APPROVER,
    LATER,
    T0,
    accept,
    act,
    case,
    decide,
    dispatch,
    file_of,
    follow_up,
    rate,
    received,
    refer_up,
    report_handled,
    report_part,
    request_extension,
    request_suspension,
    resume,
    return_case,
    supervise,
    verify,
)

HOLDER = "s.urban"
REQUEST_ID = "5b1c4f7e-8a2d-4c3b-9e1f-0a1b2c3d4e5f"

# One way to send each command about GF-1 held by s.urban (seq 1), by a sender allowed to.
MAKE: dict[str, Callable[[], Envelope]] = {
    "case.accept": lambda: accept("GF-1", HOLDER),
    "case.report_handled": lambda: report_handled("GF-1", HOLDER),
    "case.verify": lambda: verify("GF-1", HOLDER),
    "case.rate": lambda: rate("GF-1", 5),
    "case.follow_up": lambda: follow_up("GF-1"),
    "case.refer_up": lambda: refer_up("GF-1", HOLDER),
    "case.supervise": lambda: supervise("GF-1"),
    "case.request_suspension": lambda: request_suspension("GF-1", HOLDER),
    "case.request_extension": lambda: request_extension("GF-1", HOLDER),
    "case.decide_request": lambda: decide("GF-1", REQUEST_ID),
    "case.resume": lambda: resume("GF-1", HOLDER),
    "case.return": lambda: return_case("GF-1", HOLDER),
    "case.dispatch": lambda: dispatch("GF-1", "s.command"),
    "case.report_part": lambda: report_part("GF-1", CO),
}
CO = "s-a.station"
"""A co-handler (协办) of GF-1, on the files made for case.report_part."""


def _file_at(stage: Stage, kind: str) -> CaseFile:
    """GF-1 in ``stage``, with what that stage carries (the suspension while suspended,
    the queue while queued), and the open request a decision needs."""
    c = case()
    assignment = Assignment(
        unit_id=HOLDER,
        unit_name="Street urban management",
        tier=Tier.STREET,
        owner_tier=Tier.STREET,
        jurisdiction_id="s",
        seq=1,
        reason=AssignmentReason.INITIAL,
        assigned_at=T0,
    )
    if kind == "case.report_part":
        co = CoHandler(
            unit_id=CO,
            unit_name="A station",
            tier=Tier.COMMUNITY,
            jurisdiction_id="s-a",
            unit_type="general",
        )
        assignment = assignment.model_copy(update={"co_handlers": [co]})
    file = replace(CaseFile.opened(c, assignment), stage=stage)
    if kind == "case.decide_request":
        request = OpenRequest(
            request_id=REQUEST_ID,
            kind=RequestKind.EXTENSION,
            seq=1,
            reason=RequestReason.COMPLEX_MATTER,
            at=T0,
            working_days=2,
        )
        file = replace(file, request=request)
    if stage is Stage.SUSPENDED:
        file = replace(file, suspension=Suspension(request_id=REQUEST_ID, seq=1, since=T0))
    if stage is Stage.QUEUED:
        queued = Queued(reason=QueueReason.TOO_MANY_RETURNS, since=T0, room=APPROVER)
        file = replace(file, queued=queued)
    return file


def test_the_table_covers_every_command_and_reads_its_senders_from_access() -> None:
    assert set(TRANSITIONS) == {c.TYPE for c in COMMANDS} == set(MAKE)
    for kind, t in TRANSITIONS.items():
        assert t.sources and t.targets
        assert senders(kind) == PERMISSIONS[kind]
        assert sources(kind) == t.sources
    assert allowed(Stage.CLOSED) == ("case.follow_up",)  # nothing moves a closed case
    assert set(EVENTS.values()) <= {s.value for s in Stage}
    assert refusal(Stage.CLOSED, "case.bogus") == "case.bogus is not a command of the loop"


PAIRS = [(stage, kind) for stage in Stage for kind in TRANSITIONS]


@pytest.mark.parametrize(("stage", "kind"), PAIRS, ids=[f"{s}-{k}" for s, k in PAIRS])
def test_every_command_in_every_stage(
    stage: Stage, kind: str, tiny: Site, store: MemoryCaseStore
) -> None:
    store.save([_file_at(stage, kind)])
    router = Router(tiny, store)
    before = file_of(store, "GF-1")
    command = MAKE[kind]()
    if TRANSITIONS[kind].allows(stage):
        out = act(router, command, LATER)
        assert isinstance(out[-1].message, CommandAcknowledged)
        after = file_of(store, "GF-1")
        assert after is not None and after.stage in TRANSITIONS[kind].targets
        return
    with pytest.raises(Rejected) as caught:
        act(router, command, LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    must = " or ".join(TRANSITIONS[kind].sources)
    assert f"case GF-1 is {stage}, held by {HOLDER} (seq 1)" in caught.value.message
    assert f"it must be {must}" in caught.value.message
    (answer,) = caught.value.replies
    assert isinstance(answer.message, CommandRefused)
    assert answer.message.payload.reason is RejectionReason.CONFLICT
    assert file_of(store, "GF-1") == before  # nothing changed


@pytest.mark.parametrize(
    ("rating", "verdict"),
    [
        (5, "satisfied"),
        (4, "satisfied"),
        (3, "basically_satisfied"),
        (2, "unsatisfied"),
        (1, "unsatisfied"),
    ],
)
def test_satisfaction_levels(rating: int, verdict: str) -> None:
    assert Satisfaction.of(rating).value == verdict


def _verified(router: Router) -> None:
    for message in (
        received(case()),
        accept("GF-1", HOLDER),
        report_handled("GF-1", HOLDER),
        verify("GF-1", HOLDER),
    ):
        act(router, message, T0)


@pytest.mark.parametrize(("rating", "stage"), [(5, Stage.CLOSED), (3, Stage.CLOSED)])
def test_satisfied_or_basically_satisfied_closes(
    rating: int, stage: Stage, router: Router, store: MemoryCaseStore
) -> None:
    _verified(router)
    out = act(router, rate("GF-1", rating), LATER)
    assert [e.message.type for e in out if e.topic == "gridflow.cases.events"] == [
        "case.rated",
        "case.closed",
    ]
    file = file_of(store, "GF-1")
    assert file is not None and (file.stage, file.reopenings, file.rating) == (stage, 0, rating)


def test_an_unsatisfied_rating_reopens_to_the_same_unit(
    router: Router, store: MemoryCaseStore
) -> None:
    _verified(router)
    out = act(router, rate("GF-1", 2), LATER)
    story = [e.message for e in out if e.topic == "gridflow.cases.events"]
    assert [m.type for m in story] == ["case.rated", "case.reopened", "case.assigned"]
    reopened = story[1]
    assert isinstance(reopened, CaseReopened)
    assert reopened.payload.model_dump() == {
        "unit_id": HOLDER,
        "seq": 2,
        "at": LATER,
        "cause": ReopenCause.UNSATISFIED,
        "reopenings": 1,
    }
    on_unit = [e for e in out if e.topic == f"gridflow.assignments.{HOLDER}"]
    assert [e.message.type for e in on_unit] == ["case.reopened", "case.dispatched"]
    file = file_of(store, "GF-1")
    assert file is not None
    assert (file.stage, file.assignment.seq, file.assignment.reason, file.reopenings) == (
        Stage.ACCEPTED,
        2,
        AssignmentReason.REWORK,
        1,
    )
    # the unit works it again under seq 2; a second check fails: a second reopening
    act(router, report_handled("GF-1", HOLDER, seq=2, n=2), LATER)
    out = act(router, verify("GF-1", HOLDER, seq=2, passed=False, n=2), LATER)
    again = next(e.message for e in out if isinstance(e.message, CaseReopened))
    assert (again.payload.cause, again.payload.reopenings, again.payload.seq) == (
        ReopenCause.VERIFICATION_FAILED,
        2,
        3,
    )
    # then it passes and the resident is satisfied: closed, with two reopenings
    act(router, report_handled("GF-1", HOLDER, seq=3, n=3), LATER)
    act(router, verify("GF-1", HOLDER, seq=3, n=3), LATER)
    act(router, rate("GF-1", 4, n=3), LATER)
    file = file_of(store, "GF-1")
    assert file is not None and (file.stage, file.reopenings) == (Stage.CLOSED, 2)


def test_a_follow_up_call_is_told_without_its_note_and_moves_nothing(
    router: Router, store: MemoryCaseStore
) -> None:
    _verified(router)
    before = file_of(store, "GF-1")
    out = act(router, follow_up("GF-1", resolved=False), LATER)
    (told,) = [e.message for e in out if e.topic == "gridflow.cases.events"]
    assert told.type == "case.followed_up"
    assert told.payload.model_dump() == {
        "at": T0,
        "reached": True,
        "responded": True,
        "resolved": False,
        "note": None,
    }
    assert file_of(store, "GF-1") == before
    act(router, rate("GF-1", 5), LATER)
    out = act(router, follow_up("GF-1", n=2), LATER + timedelta(days=1))  # after closing too
    assert isinstance(out[-1].message, CommandAcknowledged)


# --- random walks --------------------------------------------------------------------

KINDS = sorted(TRANSITIONS)


def _command(kind: str, file: CaseFile, site: Site, n: int, last_request: str) -> Envelope | None:
    """``kind`` about GF-1 as it is now, from a sender allowed to send it (None: no one)."""
    unit, seq = file.assignment.unit_id, file.assignment.seq
    holder = site.unit(unit)
    room = site.approver_for(holder.jurisdiction) if holder else None
    room_id = room.id if room else None
    makers: dict[str, Callable[[], Envelope | None]] = {
        "case.accept": lambda: accept("GF-1", unit, seq, n=n),
        "case.report_handled": lambda: report_handled("GF-1", unit, seq, n=n),
        "case.verify": lambda: verify("GF-1", unit, seq, passed=n % 3 != 0, n=n),
        "case.rate": lambda: rate("GF-1", 1 + n % 5, n=n),
        "case.follow_up": lambda: follow_up("GF-1", n=n),
        "case.refer_up": lambda: refer_up("GF-1", unit, seq, n=n),
        "case.supervise": lambda: supervise("GF-1", n=n),
        "case.request_suspension": lambda: request_suspension("GF-1", unit, seq, n=n),
        "case.request_extension": lambda: request_extension("GF-1", unit, seq, n=n),
        "case.decide_request": lambda: (
            decide("GF-1", last_request, n=n, sender=room_id) if room_id else None
        ),
        "case.resume": lambda: resume("GF-1", unit, seq, n=n),
        "case.return": lambda: return_case("GF-1", unit, seq, n=n),
        "case.dispatch": lambda: (
            dispatch("GF-1", "s.urban", n=n, sender=room_id) if room_id else None
        ),
        "case.report_part": lambda: (
            report_part("GF-1", co[0], seq, n=n) if (co := file.pending()) else None
        ),
    }
    return makers[kind]()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=25))
def test_random_walks_agree_with_the_table(tiny: Site, walk: list[str]) -> None:
    store = MemoryCaseStore()
    router = Router(tiny, store)
    act(router, received(case()), T0)
    last_request = REQUEST_ID
    reopenings = 0
    for n, kind in enumerate(walk, 1):
        file = file_of(store, "GF-1")
        assert file is not None
        command = _command(kind, file, tiny, n, last_request)
        if command is None:
            continue
        if kind in ("case.request_suspension", "case.request_extension"):
            last_request = command.event_id
        try:
            out = act(router, command, LATER)
        except Rejected as refused:
            assert refused.reason is RejectionReason.CONFLICT
            if TRANSITIONS[kind].allows(file.stage):  # refused for a reason not the stage's
                assert "must be" not in refused.message or "for a decision" in refused.message
            assert file_of(store, "GF-1") == file
            continue
        assert TRANSITIONS[kind].allows(file.stage)
        after = file_of(store, "GF-1")
        assert after is not None and after.stage in TRANSITIONS[kind].targets
        told = [e.message for e in out if isinstance(e.message, CaseReopened)]
        reopenings += len({m.event_id for m in told})
        assert after.reopenings == reopenings


def test_the_architecture_document_shows_the_table() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "ARCHITECTURE.md").read_text()
    for t in TRANSITIONS.values():
        sources = ", ".join(f"`{s}`" for s in t.sources)
        targets = ", ".join(f"`{s}`" for s in t.targets)
        assert f"| `{t.command}` | {sources} | {targets} | {t.says} |" in doc, t.command

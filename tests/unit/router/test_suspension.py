"""Suspension and extension (挂起, 延期) in the router: the state rules, the events and
their copies. Who may send what is test_permissions.py's.

Every case here is street.parking from grid s-a-g1, held by s.urban, whose command
room is s.approve (the street's).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import (
    CaseExtended,
    CaseRequestRefused,
    CaseResumed,
    CaseSuspended,
    CaseSuspensionRequested,
    DeadlineKind,
    RequestKind,
    RequestReason,
    Stage,
)
from schemas.catalogue import Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.deadlines import DeadlineLapsed, DeadlinePayload
from schemas.envelope import Envelope
from schemas.reports import Tier
from schemas.topics import CASE_EVENTS
from tests.unit.router.support import (
    APPROVER,
    LATER,
    T0,
    accept,
    act,
    case,
    decide,
    file_of,
    received,
    refer_up,
    report_handled,
    request_extension,
    request_suspension,
    resume,
    supervise,
    types,
)

HOLDER = "s.urban"
UNIT_TOPIC = f"gridflow.assignments.{HOLDER}"
ROOM_TOPIC = f"gridflow.replies.{APPROVER}"


@pytest.fixture
def working(router: Router) -> Router:
    """GF-1 accepted by s.urban."""
    act(router, received(case()), T0)
    act(router, accept("GF-1", HOLDER), T0)
    return router


def refused(router: Router, command: Envelope) -> str:
    with pytest.raises(Rejected) as caught:
        act(router, command, LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    return caught.value.message


def lapse(due: object, seq: int = 1) -> Envelope:
    payload = DeadlinePayload(
        kind=DeadlineKind.RESOLVE,
        unit_id=HOLDER,
        tier=Tier.STREET,
        seq=seq,
        due_at=due,  # type: ignore[arg-type]
        working_days=3,
    )
    return DeadlineLapsed.derive(payload, producer="escalator", now=due, case_id="GF-1", key=(1,))  # type: ignore[arg-type]


# --- requests -----------------------------------------------------------------------


def test_a_request_is_on_the_story_without_its_note_and_told_to_the_unit_and_its_room(
    working: Router, store: MemoryCaseStore
) -> None:
    ask = request_suspension("GF-1", HOLDER)
    out = act(working, ask, LATER)
    assert [(e.topic, e.message.type) for e in out] == [
        (CASE_EVENTS.name, "case.suspension_requested"),
        (UNIT_TOPIC, "case.suspension_requested"),
        (ROOM_TOPIC, "case.suspension_requested"),
        (UNIT_TOPIC, "command.acknowledged"),
    ]
    story, unit, room = (e.message for e in out[:3])
    assert isinstance(story, CaseSuspensionRequested)
    p = story.payload
    assert (p.request_id, p.by, p.unit_id, p.seq) == (ask.event_id, HOLDER, HOLDER, 1)
    assert p.reason is RequestReason.AWAITING_REPORTER and p.note is None  # the story says why
    assert p.until == T0 + timedelta(days=14)
    assert unit is room and room.payload.note == "王女士 abroad until the 20th"  # type: ignore[attr-defined]
    assert room.event_id != story.event_id  # another content, another id
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.ACCEPTED
    assert file.request is not None and file.request.request_id == ask.event_id


def test_a_request_needs_the_case_accepted(router: Router) -> None:
    act(router, received(case()), T0)
    assert "it must be accepted" in refused(router, request_suspension("GF-1", HOLDER))


def test_a_request_names_the_current_assignment(working: Router) -> None:
    assert "seq 2 is not its current" in refused(working, request_extension("GF-1", HOLDER, 2))


def test_one_open_request_at_a_time(working: Router) -> None:
    first = request_suspension("GF-1", HOLDER)
    act(working, first, LATER)
    why = refused(working, request_extension("GF-1", HOLDER))
    assert f"suspension request {first.event_id} is still open" in why


def test_a_request_is_moot_once_handled(working: Router, store: MemoryCaseStore) -> None:
    ask = request_suspension("GF-1", HOLDER)
    act(working, ask, LATER)
    act(working, report_handled("GF-1", HOLDER), LATER)
    file = file_of(store, "GF-1")
    assert file is not None and file.request is None
    assert "it must be accepted for a decision" in refused(working, decide("GF-1", ask))


# --- decisions ----------------------------------------------------------------------


def test_an_approved_suspension_stops_the_case(working: Router, store: MemoryCaseStore) -> None:
    ask = request_suspension("GF-1", HOLDER)
    act(working, ask, LATER)
    out = act(working, decide("GF-1", ask), LATER + timedelta(hours=1))
    assert [(e.topic, e.message.type) for e in out] == [
        (CASE_EVENTS.name, "case.suspended"),
        (UNIT_TOPIC, "case.suspended"),
        (ROOM_TOPIC, "command.acknowledged"),
    ]
    story, told = out[0].message, out[1].message
    assert isinstance(story, CaseSuspended) and isinstance(told, CaseSuspended)
    p = story.payload
    assert (p.request_id, p.by, p.unit_id, p.seq) == (ask.event_id, APPROVER, HOLDER, 1)
    assert p.reason is RequestReason.AWAITING_REPORTER and p.note is None
    assert told.payload.note == "ok, noted"  # the room's note, for the unit
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.SUSPENDED and file.request is None
    assert file.suspension is not None and file.suspension.since == LATER + timedelta(hours=1)


def test_a_suspended_case_is_resumed_before_it_moves(working: Router) -> None:
    ask = request_suspension("GF-1", HOLDER)
    act(working, ask, LATER)
    act(working, decide("GF-1", ask), LATER)
    assert "it must be accepted" in refused(working, report_handled("GF-1", HOLDER))
    assert "it must be assigned or accepted" in refused(working, refer_up("GF-1", HOLDER))
    assert "it must be accepted" in refused(working, request_extension("GF-1", HOLDER))
    assert types(act(working, supervise("GF-1"), LATER)) == ["case.supervised"]  # pressed still


def test_resuming_restarts_the_work(working: Router, store: MemoryCaseStore) -> None:
    ask = request_suspension("GF-1", HOLDER)
    act(working, ask, LATER)
    act(working, decide("GF-1", ask), LATER)
    out = act(working, resume("GF-1", HOLDER, sender=APPROVER), LATER + timedelta(days=3))
    assert [(e.topic, e.message.type) for e in out] == [
        (CASE_EVENTS.name, "case.resumed"),
        (UNIT_TOPIC, "case.resumed"),
        (ROOM_TOPIC, "command.acknowledged"),
    ]
    story = out[0].message
    assert isinstance(story, CaseResumed)
    assert (story.payload.request_id, story.payload.by) == (ask.event_id, APPROVER)
    assert story.payload.note is None and out[1].message.payload.note == "the resident is back"  # type: ignore[attr-defined]
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.ACCEPTED and file.suspension is None
    assert types(act(working, report_handled("GF-1", HOLDER), LATER)) == ["case.handled"]


def test_only_a_suspended_case_resumes(working: Router) -> None:
    assert "it must be suspended" in refused(working, resume("GF-1", HOLDER))


def test_an_approved_extension_keeps_the_case_at_work(
    working: Router, store: MemoryCaseStore
) -> None:
    ask = request_extension("GF-1", HOLDER, days=3)
    act(working, ask, LATER)
    out = act(working, decide("GF-1", ask, sender="d.approve"), LATER)
    story = out[0].message
    assert isinstance(story, CaseExtended)
    assert (story.payload.working_days, story.payload.by) == (3, "d.approve")
    assert story.payload.reason is RequestReason.AWAITING_OTHER_PARTY
    assert [e.topic for e in out] == [CASE_EVENTS.name, UNIT_TOPIC, "gridflow.replies.d.approve"]
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.ACCEPTED and file.request is None
    act(working, request_extension("GF-1", HOLDER, n=2), LATER)  # another may be asked now


def test_a_refusal_leaves_the_clocks_running(working: Router, store: MemoryCaseStore) -> None:
    ask = request_suspension("GF-1", HOLDER)
    act(working, ask, LATER)
    out = act(working, decide("GF-1", ask, approved=False), LATER)
    story = out[0].message
    assert isinstance(story, CaseRequestRefused)
    assert (story.payload.kind, story.payload.request_id) == (RequestKind.SUSPENSION, ask.event_id)
    assert story.payload.note is None and out[1].message.payload.note == "ok, noted"  # type: ignore[attr-defined]
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.ACCEPTED and file.request is None


def test_a_decision_names_the_open_request(working: Router) -> None:
    ask = request_suspension("GF-1", HOLDER)
    assert "none is open" in refused(working, decide("GF-1", ask))
    act(working, ask, LATER)
    other = request_suspension("GF-1", HOLDER, n=9)
    assert f"the open one is {ask.event_id}" in refused(working, decide("GF-1", other))
    act(working, decide("GF-1", ask), LATER)
    assert "it must be accepted for a decision" in refused(working, decide("GF-1", ask, n=1))


# --- lapses and escalation -------------------------------------------------------------


def test_a_lapse_after_the_clocks_stopped_is_ignored(working: Router) -> None:
    ask = request_suspension("GF-1", HOLDER)
    act(working, ask, LATER)
    act(working, decide("GF-1", ask), LATER)
    assert act(working, lapse(LATER + timedelta(days=1)), LATER + timedelta(days=1)) == []


def test_a_lapse_due_before_the_suspension_stands_and_ends_it(
    working: Router, store: MemoryCaseStore
) -> None:
    ask = request_suspension("GF-1", HOLDER)
    act(working, ask, LATER)
    act(working, decide("GF-1", ask), LATER)
    out = act(working, lapse(LATER - timedelta(minutes=1)), LATER)
    assert types(out) == ["case.escalated", "case.assigned"]
    file = file_of(store, "GF-1")
    assert file is not None and file.stage is Stage.ASSIGNED
    assert file.suspension is None and file.request is None


def test_a_request_dies_with_its_assignment(working: Router) -> None:
    ask = request_extension("GF-1", HOLDER)
    act(working, ask, LATER)
    act(working, refer_up("GF-1", HOLDER), LATER)  # now d.command's, a new assignment
    why = refused(working, decide("GF-1", ask, sender="d.approve"))  # the room over it
    assert "it must be accepted for a decision" in why


def test_the_outputs_are_a_function_of_the_commands(tiny: Site) -> None:
    runs = []
    for _ in range(2):
        router = Router(tiny, MemoryCaseStore())
        act(router, received(case()), T0)
        act(router, accept("GF-1", HOLDER), T0)
        ask = request_suspension("GF-1", HOLDER)
        out = act(router, ask, LATER) + act(router, decide("GF-1", ask), LATER)
        out += act(router, resume("GF-1", HOLDER), LATER)
        runs.append([(e.topic, e.message.model_dump_json()) for e in out])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == len(runs[0])

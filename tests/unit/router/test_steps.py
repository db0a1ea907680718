"""The loop's steps by the holding unit: accept, report handled, verify, rate and close."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import (
    AssignmentReason,
    CaseAssigned,
    CaseClosed,
    CaseRated,
    CaseVerified,
    Stage,
    StepPayload,
)
from schemas.deadletter import Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.reports import Tier
from tests.unit.router.support import (
    LATER,
    T0,
    accept,
    act,
    case,
    file_of,
    rate,
    received,
    refer_up,
    report_handled,
    types,
    verify,
)

UNIT = "s.urban"


@pytest.fixture
def dispatched(router: Router) -> Router:
    act(router, received(case()), T0)
    return router


def _stage(store: MemoryCaseStore) -> Stage:
    file = file_of(store, "GF-1")
    assert file is not None
    return file.stage


def test_the_closed_loop(dispatched: Router, store: MemoryCaseStore) -> None:
    command = accept("GF-1", UNIT)
    out = act(dispatched, command, LATER)
    assert types(out) == ["case.accepted"]
    accepted = out[0].message
    assert isinstance(accepted, Envelope)
    assert accepted.payload == command.payload  # the sender's ``at`` is kept as given
    assert (accepted.occurred_at, accepted.causation_id) == (LATER, command.event_id)
    assert _stage(store) is Stage.ACCEPTED

    assert types(act(dispatched, report_handled("GF-1", UNIT), LATER)) == ["case.handled"]
    assert _stage(store) is Stage.HANDLED
    assert types(act(dispatched, verify("GF-1", UNIT), LATER)) == ["case.verified"]
    assert _stage(store) is Stage.VERIFIED

    out = act(dispatched, rate("GF-1", 4), LATER)
    assert types(out) == ["case.rated", "case.closed"]
    rated, closed = out[0].message, out[1].message
    assert isinstance(rated, CaseRated) and rated.payload.rating == 4
    assert isinstance(closed, CaseClosed)
    assert closed.payload.model_dump() == {
        "at": LATER,
        "unit_id": UNIT,
        "tier": Tier.STREET,
        "escalations": 0,
        "on_time": True,
        "rating": 4,
    }
    assert rated.event_id != closed.event_id
    file = file_of(store, "GF-1")
    assert file is not None and (file.stage, file.rating) == (Stage.CLOSED, 4)


def test_failed_verification_sends_it_back_to_the_same_unit(
    dispatched: Router, store: MemoryCaseStore
) -> None:
    act(dispatched, accept("GF-1", UNIT), T0)
    act(dispatched, report_handled("GF-1", UNIT), T0)
    out = act(dispatched, verify("GF-1", UNIT, passed=False), LATER)
    assert types(out) == ["case.verified", "case.reopened", "case.assigned"]
    assert [e.topic for e in out] == [
        "gridflow.cases.events",
        "gridflow.cases.events",
        "gridflow.assignments.s.urban",  # the reopening, on the unit's topic
        "gridflow.cases.events",
        "gridflow.assignments.s.urban",
        "gridflow.replies.s.verify",  # the verifier's acknowledgement
    ]
    verified, rework = out[0].message, out[3].message
    assert isinstance(verified, CaseVerified) and verified.payload.passed is False
    assert isinstance(rework, CaseAssigned)
    a = rework.payload.assignment
    assert (a.unit_id, a.seq, a.reason, a.assigned_at) == (
        UNIT,
        2,
        AssignmentReason.REWORK,
        LATER,
    )
    assert _stage(store) is Stage.ACCEPTED  # accepted once already: straight back to work

    with pytest.raises(Rejected, match="seq 1 is not its current assignment"):
        act(dispatched, report_handled("GF-1", UNIT, seq=1, n="old"), LATER)
    assert types(act(dispatched, report_handled("GF-1", UNIT, seq=2, n="new"), LATER)) == [
        "case.handled"
    ]


Step = Callable[[], Envelope]


@pytest.mark.parametrize(
    ("setup", "command", "says"),
    [
        ([], lambda: accept("GF-1", "s.command", sender=UNIT), "s.command does not hold it"),
        ([], lambda: accept("GF-1", UNIT, seq=2), "seq 2 is not its current assignment"),
        ([], lambda: report_handled("GF-1", UNIT), "it must be accepted for this step"),
        ([], lambda: verify("GF-1", UNIT), "it must be handled"),
        ([], lambda: rate("GF-1"), "it must be verified"),
        ([accept("GF-1", UNIT)], lambda: accept("GF-1", UNIT, n=2), "it must be assigned"),
        (
            [accept("GF-1", UNIT), report_handled("GF-1", UNIT)],
            lambda: refer_up("GF-1", UNIT),
            "it must be assigned or accepted",
        ),
    ],
)
def test_a_step_out_of_turn_is_a_conflict_naming_case_stage_and_holder(
    dispatched: Router,
    store: MemoryCaseStore,
    setup: list[Envelope],
    command: Step,
    says: str,
) -> None:
    for message in setup:
        act(dispatched, message, T0)
    before = file_of(store, "GF-1")
    assert before is not None
    with pytest.raises(Rejected) as caught:
        act(dispatched, command(), LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    message = caught.value.message
    assert f"case GF-1 is {before.stage}, held by {UNIT} (seq 1)" in message
    assert says in message
    assert file_of(store, "GF-1") == before  # nothing changed


def test_a_command_for_an_unknown_case_is_a_conflict(router: Router) -> None:
    with pytest.raises(Rejected) as caught:
        act(router, accept("GF-404", UNIT), LATER)
    assert caught.value.reason is RejectionReason.CONFLICT
    assert "case GF-404 is unknown" in caught.value.message


def test_nothing_moves_a_closed_case(dispatched: Router) -> None:
    for message in (
        accept("GF-1", UNIT),
        report_handled("GF-1", UNIT),
        verify("GF-1", UNIT),
        rate("GF-1"),
    ):
        act(dispatched, message, T0)
    for late in (rate("GF-1", 1, n=2), accept("GF-1", UNIT, n=2), refer_up("GF-1", UNIT)):
        with pytest.raises(Rejected, match="case GF-1 is closed"):
            act(dispatched, late, LATER)


def test_step_payload_is_what_the_event_carries(dispatched: Router) -> None:
    command = accept("GF-1", UNIT)
    assert isinstance(command.payload, StepPayload)
    message = act(dispatched, command, LATER)[0].message
    assert isinstance(message, Envelope)
    assert message.payload.at == command.payload.at != LATER

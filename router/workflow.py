"""The closed loop (闭环) as a state machine: which command may act in which stage, and
where it leads. Data plus pure functions; the router refuses by it, the archive
projects by it, and the docs list it (docs/ARCHITECTURE.md, The closed loop).

The six steps of DOMAIN.md, as the case's states:

==========================  =========================  ===============================
the loop                     stage                      left by
==========================  =========================  ===============================
reported (发现上报)          ``received`` (archive)     the router's first dispatch
dispatched (派遣)            ``assigned``               ``case.accept``
accepted, in handling (受理)  ``accepted``               ``case.report_handled``
  (waiting, 挂起)            ``suspended``              ``case.resume``
  (dispatch queue, 人工分拨)  ``queued``                 ``case.dispatch``
handled (处置反馈)           ``handled``                ``case.verify``
verified (核查)              ``verified``               ``case.rate``
rated (评价), closed (结案)   ``closed``                 nothing: final
==========================  =========================  ===============================

Accepting a case is starting its handling: no seed names a step between them,
so "accepted" and "in handling" are one stage. A rating is given and the case
closed in one step (``case.rated`` then ``case.closed``), unless the rating is
unsatisfied (不满意): then, as when the on-site check fails (核查不通过), the case is
sent back to the same unit under a new assignment, which has accepted it already
(stage ``accepted``), and the reopening (重办) is counted and told
(``case.reopened``). A follow-up call (回访) records the resident's answers and
moves nothing.

Who may send each command is :data:`schemas.access.PERMISSIONS` (one source);
:func:`senders` reads it from here. Messages that are not commands move a case
too: ``case.received`` opens it (``assigned``), and a lapsed deadline escalates a
working case (``assigned`` again, one tier up); :data:`EVENTS` names the stage each
case event leaves the case in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.access import PERMISSIONS, Rule
from schemas.cases import (
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseHandled,
    CaseQueued,
    CaseReopened,
    CaseResumed,
    CaseSuspended,
    CaseVerified,
    Stage,
)
from schemas.commands import (
    COMMANDS,
    AcceptCase,
    DecideRequest,
    DispatchCase,
    FollowUpCase,
    RateCase,
    ReferUp,
    ReportHandled,
    ReportPart,
    RequestExtension,
    RequestSuspension,
    ResumeCase,
    ReturnCase,
    SuperviseCase,
    VerifyCase,
)
from schemas.envelope import Envelope

RECEIVED = "received"
"""The archive's stage of a case reported and not yet dispatched (not a router Stage)."""

WORKING = (Stage.ASSIGNED, Stage.ACCEPTED)
"""Held by a unit that has not reported it handled."""

OPEN = tuple(s for s in Stage if s is not Stage.CLOSED)


@dataclass(frozen=True)
class Transition:
    """What one command does: the stages it may act in and those it may lead to."""

    command: str
    sources: tuple[Stage, ...]
    targets: tuple[Stage, ...]
    says: str  # what it does, in a few words (for the docs and refusals)

    def allows(self, stage: Stage) -> bool:
        return stage in self.sources


def _t(kind: type[Envelope], sources: tuple[Stage, ...], targets: tuple[Stage, ...], says: str):
    return Transition(kind.TYPE, sources, targets, says)


A, C, Q, H, V, S, X = (
    Stage.ASSIGNED,
    Stage.ACCEPTED,
    Stage.QUEUED,
    Stage.HANDLED,
    Stage.VERIFIED,
    Stage.SUSPENDED,
    Stage.CLOSED,
)

TRANSITIONS: Mapping[str, Transition] = {
    t.command: t
    for t in (
        _t(AcceptCase, (A,), (C,), "the holder accepts (受理)"),
        _t(ReportHandled, (C,), (H,), "the holder reports it handled (处置反馈)"),
        _t(
            VerifyCase,
            (H,),
            (V, C),
            "checked on site (核查): passed, on to the rating; failed, reopened to the unit",
        ),
        _t(
            RateCase,
            (V,),
            (X, C),
            "the resident rates (评价): satisfied or basically satisfied closes it (结案); "
            "unsatisfied reopens it to the unit",
        ),
        _t(FollowUpCase, (H, V, X), (H, V, X), "a follow-up call to the resident (回访)"),
        _t(ReferUp, WORKING, (A,), "the holder refers it up a tier (上报)"),
        _t(SuperviseCase, (A, C, S, H, V), (A, C, S, H, V), "a supervisor presses (督办)"),
        _t(RequestSuspension, (C,), (C,), "the holder asks to suspend (挂起申请)"),
        _t(RequestExtension, (C,), (C,), "the holder asks for more time (延期申请)"),
        _t(DecideRequest, (C,), (S, C), "the command room decides the open request"),
        _t(ResumeCase, (S,), (C,), "the wait is over (解挂)"),
        _t(ReturnCase, WORKING, (A, Q), "the holder returns it as misrouted (退回)"),
        _t(DispatchCase, (Q,), (A,), "a dispatcher assigns it from the queue (人工分拨)"),
        _t(ReportPart, (A, C, S), (A, C, S), "a co-handler reports its part (协办反馈)"),
    )
}
"""Command type -> its transition: the one table of the loop."""

GUARDS: Mapping[str, str] = {
    ReportHandled.TYPE: "every co-handler (协办) of the assignment has reported its part",
}
"""Command type -> what must also hold, beyond the stage, for it to act (the docs list it)."""


def guard_refusal(command_type: str, pending: tuple[str, ...]) -> str | None:
    """Why ``command_type`` cannot act while the co-handlers ``pending`` have not
    reported their part; None when it can. The lead's report that the case is handled
    (处置反馈) waits for every co-handler's (主办/协办)."""
    if command_type not in GUARDS or not pending:
        return None
    return (
        f"co-handler(s) {', '.join(pending)} have not reported their part: the lead reports "
        f"it handled once {GUARDS[command_type]}"
    )


assert set(TRANSITIONS) == {c.TYPE for c in COMMANDS}, "every command has its transition"

REOPENING_REASONS = (AssignmentReason.REWORK,)
"""Assignments that send a case back to the unit that handled it (a reopening)."""

EVENTS: Mapping[str, str] = {
    CaseAssigned.TYPE: Stage.ASSIGNED.value,  # a rework assignment: see stage_after
    CaseAccepted.TYPE: Stage.ACCEPTED.value,
    CaseSuspended.TYPE: Stage.SUSPENDED.value,
    CaseResumed.TYPE: Stage.ACCEPTED.value,
    CaseQueued.TYPE: Stage.QUEUED.value,
    CaseHandled.TYPE: Stage.HANDLED.value,
    CaseVerified.TYPE: Stage.VERIFIED.value,  # a passed check; a failed one reopens
    CaseReopened.TYPE: Stage.ACCEPTED.value,
    CaseClosed.TYPE: Stage.CLOSED.value,
}
"""Case event type -> the stage it leaves the case in (the archive's projection)."""


def transition(command_type: str) -> Transition | None:
    """The transition of ``command_type``; None for a type that is not a command."""
    return TRANSITIONS.get(command_type)


def sources(command_type: str) -> tuple[Stage, ...]:
    """The stages ``command_type`` may act in (none for an unknown type)."""
    t = TRANSITIONS.get(command_type)
    return t.sources if t else ()


def refusal(stage: Stage, command_type: str) -> str | None:
    """Why ``command_type`` cannot act on a case in ``stage``; None when it can."""
    t = TRANSITIONS.get(command_type)
    if t is None:
        return f"{command_type} is not a command of the loop"
    if t.allows(stage):
        return None
    return f"it must be {' or '.join(t.sources)} for this step"


def senders(command_type: str) -> tuple[Rule, ...]:
    """Who may send ``command_type`` (:data:`schemas.access.PERMISSIONS`)."""
    return PERMISSIONS.get(command_type, ())


def allowed(stage: Stage) -> tuple[str, ...]:
    """The command types that may act on a case in ``stage``, in the loop's order."""
    return tuple(t.command for t in TRANSITIONS.values() if t.allows(stage))


def is_open(stage: str | None) -> bool:
    """True for a case not yet closed (received, or any router stage but closed)."""
    return stage != Stage.CLOSED.value


__all__ = [
    "EVENTS",
    "GUARDS",
    "OPEN",
    "RECEIVED",
    "REOPENING_REASONS",
    "TRANSITIONS",
    "WORKING",
    "Transition",
    "allowed",
    "guard_refusal",
    "refusal",
    "senders",
    "sources",
    "transition",
]

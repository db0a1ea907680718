"""Commands units, verifiers, supervisors and channels send about a case.

A sender writes its commands on its own topic, ``gridflow.commands.<sender>``,
which only its Kafka principal may write. Intake reads them there, sets
``sender`` from the topic (never from the message), and passes them on to the
router on ``gridflow.cases.updates``, which only intake writes. Commands are
named in the imperative. The sender chooses ``event_id``, a UUID,
and reuses it when it retries: the router applies each command once. A UUID, so
that two senders never pick the same id by accident (the router would take the
second for a retry of the first).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.cases import (
    DecisionPayload,
    DispatchPayload,
    ExtensionRequestPayload,
    FollowUpPayload,
    RatedPayload,
    ReturnPayload,
    StepPayload,
    SupervisedPayload,
    SuspensionRequestPayload,
    VerifiedPayload,
)
from schemas.edges import CommandId, UnitId
from schemas.envelope import Envelope


class Command(Envelope):
    """A command from outside gridflow: its id must be a UUID of the sender's."""

    event_id: CommandId = Field(  # type: ignore[assignment]  # narrower than Envelope's
        description="A UUID the sender chooses; the same one again when it retries.",
    )
    sender: UnitId | None = Field(
        default=None,
        description="Who sent it. Intake sets it from the command topic the command came "
        "on; a sender leaves it out (or names itself).",
    )


class AcceptCase(Command):
    """The holding unit accepts the case (受理)."""

    type: Literal["case.accept"] = "case.accept"
    payload: StepPayload


class ReportHandled(Command):
    """The holding unit reports the case handled (处置反馈)."""

    type: Literal["case.report_handled"] = "case.report_handled"
    payload: StepPayload


class VerifyCase(Command):
    """An on-site check of the handling (核查): passed, or back to the unit."""

    type: Literal["case.verify"] = "case.verify"
    payload: VerifiedPayload


class RateCase(Command):
    """The resident rates the handling (评价); the case then closes."""

    type: Literal["case.rate"] = "case.rate"
    payload: RatedPayload


class FollowUpCase(Command):
    """A follow-up call to the resident (回访): the answers to the three rates' questions.

    From the residents' channel that took the report, or a verifier of the case's
    jurisdiction; once the unit has reported it handled, and after it is closed."""

    type: Literal["case.follow_up"] = "case.follow_up"
    payload: FollowUpPayload


class ReferUp(Command):
    """The holding unit reports the case beyond its powers (上报): up one tier."""

    type: Literal["case.refer_up"] = "case.refer_up"
    payload: StepPayload = Field(description="note says why it is beyond the unit.")


class SuperviseCase(Command):
    """A supervisor presses the holding unit on a case (督办); the case does not move."""

    type: Literal["case.supervise"] = "case.supervise"
    payload: SupervisedPayload


class RequestSuspension(Command):
    """The holding unit asks to suspend the case (挂起), e.g. while it waits on the resident.

    The command room of its jurisdiction approves or refuses (``case.decide_request``);
    until then the clocks run. The command's ``event_id`` is the request's id."""

    type: Literal["case.request_suspension"] = "case.request_suspension"
    payload: SuspensionRequestPayload


class RequestExtension(Command):
    """The holding unit asks for more working days (延期); the command room decides.

    The command's ``event_id`` is the request's id."""

    type: Literal["case.request_extension"] = "case.request_extension"
    payload: ExtensionRequestPayload


class DecideRequest(Command):
    """The command room approves or refuses the holder's open request (审批)."""

    type: Literal["case.decide_request"] = "case.decide_request"
    payload: DecisionPayload


class ResumeCase(Command):
    """The wait is over (解挂): the holder or the command room restarts the clocks."""

    type: Literal["case.resume"] = "case.resume"
    payload: StepPayload = Field(description="unit_id and seq name the suspended assignment.")


class ReturnCase(Command):
    """The holding unit returns a misrouted case (退回), with a reason code and a note.

    The router sends it on to the next unit routing allows, never back to one that
    returned it, or, after ``routing.max_returns`` returns, to the dispatch queue."""

    type: Literal["case.return"] = "case.return"
    payload: ReturnPayload


class DispatchCase(Command):
    """A dispatcher (a command room) assigns a queued case to a unit (人工分拨), the lead,
    with co-handlers (协办) beside it if it names any."""

    type: Literal["case.dispatch"] = "case.dispatch"
    payload: DispatchPayload


class ReportPart(Command):
    """A co-handler (协办) reports its part of the case done; the lead (主办) may report the
    case handled once every co-handler has. ``unit_id`` is the co-handler, ``seq`` the
    assignment it co-handles."""

    type: Literal["case.report_part"] = "case.report_part"
    payload: StepPayload


COMMANDS: tuple[type[Command], ...] = (
    AcceptCase,
    ReportHandled,
    VerifyCase,
    RateCase,
    FollowUpCase,
    ReferUp,
    SuperviseCase,
    RequestSuspension,
    RequestExtension,
    DecideRequest,
    ResumeCase,
    ReturnCase,
    DispatchCase,
    ReportPart,
)
"""Every command, in the loop's order."""

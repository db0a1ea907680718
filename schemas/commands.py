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

from schemas.cases import RatedPayload, StepPayload, SupervisedPayload, VerifiedPayload
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


class ReferUp(Command):
    """The holding unit reports the case beyond its powers (上报): up one tier."""

    type: Literal["case.refer_up"] = "case.refer_up"
    payload: StepPayload = Field(description="note says why it is beyond the unit.")


class SuperviseCase(Command):
    """A supervisor presses the holding unit on a case (督办); the case does not move."""

    type: Literal["case.supervise"] = "case.supervise"
    payload: SupervisedPayload


COMMANDS: tuple[type[Command], ...] = (
    AcceptCase,
    ReportHandled,
    VerifyCase,
    RateCase,
    ReferUp,
    SuperviseCase,
)
"""Every command, in the loop's order."""

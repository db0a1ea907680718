"""Commands units and residents send about a case, on ``gridflow.cases.updates``.

Commands are named in the imperative. The sender chooses ``event_id``, a UUID,
and reuses it when it retries: the router applies each command once. A UUID, so
that two senders never pick the same id by accident (the router would take the
second for a retry of the first).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.cases import RatedPayload, StepPayload, VerifiedPayload
from schemas.edges import CommandId
from schemas.envelope import Envelope


class Command(Envelope):
    """A command from outside gridflow: its id must be a UUID of the sender's."""

    event_id: CommandId = Field(  # type: ignore[assignment]  # narrower than Envelope's
        description="A UUID the sender chooses; the same one again when it retries.",
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

"""Commands units and residents send about a case, on ``gridflow.cases.updates``.

Commands are named in the imperative. The sender chooses ``event_id`` and must
reuse it when it retries: the router applies each command once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.cases import RatedPayload, StepPayload, VerifiedPayload
from schemas.envelope import Envelope


class AcceptCase(Envelope):
    """The holding unit accepts the case (受理)."""

    type: Literal["case.accept"] = "case.accept"
    payload: StepPayload


class ReportHandled(Envelope):
    """The holding unit reports the case handled (处置反馈)."""

    type: Literal["case.report_handled"] = "case.report_handled"
    payload: StepPayload


class VerifyCase(Envelope):
    """An on-site check of the handling (核查): passed, or back to the unit."""

    type: Literal["case.verify"] = "case.verify"
    payload: VerifiedPayload


class RateCase(Envelope):
    """The resident rates the handling (评价); the case then closes."""

    type: Literal["case.rate"] = "case.rate"
    payload: RatedPayload


class ReferUp(Envelope):
    """The holding unit reports the case beyond its powers (上报): up one tier."""

    type: Literal["case.refer_up"] = "case.refer_up"
    payload: StepPayload = Field(description="note says why it is beyond the unit.")

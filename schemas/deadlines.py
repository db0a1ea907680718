"""What the escalator emits when a deadline nears, lapses or is counted again."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.cases import DeadlineKind
from schemas.edges import Count, Flag, Seq, Time, UnitId
from schemas.envelope import Envelope, Model
from schemas.reports import Tier

PROVISIONAL_DESCRIPTION = (
    "Counted on a day of a year whose official holiday schedule was not known yet (the "
    "statutory holidays alone, no make-up working days): it may move when the schedule comes."
)


class DeadlinePayload(Model):
    kind: DeadlineKind
    unit_id: UnitId
    tier: Tier
    seq: Seq
    due_at: Time
    working_days: Count
    provisional: Flag = Field(default=False, description=PROVISIONAL_DESCRIPTION)


class DeadlineWarning(Envelope):
    """A deadline is near (the policy says how near): the unit is reminded."""

    type: Literal["deadline.warning"] = "deadline.warning"
    payload: DeadlinePayload


class DeadlineLapsed(Envelope):
    """A deadline passed with the step not done: the router escalates the case."""

    type: Literal["deadline.lapsed"] = "deadline.lapsed"
    payload: DeadlinePayload


class RescheduledPayload(DeadlinePayload):
    previous_due_at: Time = Field(description="The provisional due time it replaces.")
    warn_at: Time | None = Field(default=None, description="When the unit is warned, if at all.")


class DeadlineRescheduled(Envelope):
    """A provisional deadline counted again once its year's official schedule is known:
    its new due time (``provisional`` false), said once, on the holding unit's topic."""

    type: Literal["deadline.rescheduled"] = "deadline.rescheduled"
    payload: RescheduledPayload

"""What the escalator emits when a deadline nears or lapses, on ``gridflow.deadlines``."""

from __future__ import annotations

from typing import Literal

from schemas.cases import DeadlineKind
from schemas.edges import Count, Seq, Time, UnitId
from schemas.envelope import Envelope, Model
from schemas.reports import Tier


class DeadlinePayload(Model):
    kind: DeadlineKind
    unit_id: UnitId
    tier: Tier
    seq: Seq
    due_at: Time
    working_days: Count


class DeadlineWarning(Envelope):
    """A deadline is near (the policy says how near): the unit is reminded."""

    type: Literal["deadline.warning"] = "deadline.warning"
    payload: DeadlinePayload


class DeadlineLapsed(Envelope):
    """A deadline passed with the step not done: the router escalates the case."""

    type: Literal["deadline.lapsed"] = "deadline.lapsed"
    payload: DeadlinePayload

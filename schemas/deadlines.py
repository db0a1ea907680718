"""What the escalator emits when a deadline nears or lapses, on ``gridflow.deadlines``."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from schemas.cases import DeadlineKind
from schemas.envelope import Envelope, Model
from schemas.reports import Tier


class DeadlinePayload(Model):
    kind: DeadlineKind
    unit_id: str
    tier: Tier
    seq: int
    due_at: AwareDatetime
    working_days: int


class DeadlineWarning(Envelope):
    """A deadline is near (the policy says how near): the unit is reminded."""

    type: Literal["deadline.warning"] = "deadline.warning"
    payload: DeadlinePayload


class DeadlineLapsed(Envelope):
    """A deadline passed with the step not done: the router escalates the case."""

    type: Literal["deadline.lapsed"] = "deadline.lapsed"
    payload: DeadlinePayload

"""Clock ticks, on ``gridflow.clock``: simulated time for the escalator.

In production the escalator reads the system clock and this topic is unused.
With ``GRIDFLOW_CLOCK=ticks`` it takes ``now`` from the latest tick instead, so a
test or a simulation can make days pass in seconds across separate processes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.edges import CaseId, Time
from schemas.envelope import Envelope, Model


class TickPayload(Model):
    now: Time


class ClockTicked(Envelope):
    type: Literal["clock.ticked"] = "clock.ticked"
    case_id: CaseId | None = Field(default=None, description="None: a tick concerns no case.")
    payload: TickPayload

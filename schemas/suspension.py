"""What the escalator tells a unit when a suspension or an extension moves one of its clocks.

The router's case events say who decided what (``case.suspended``, ``case.resumed``,
``case.extended``); these say what became of each clock, on the holding unit's own
topic: stopped with so much working time left, running again until a new due time,
or moved to a later one. Each is derived from the case event that caused it and the
clock's (kind, seq), so a replay gives the same bytes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.cases import DeadlineKind
from schemas.edges import CommandId, Count, ExtensionDays, Flag, Seq, Time, UnitId
from schemas.envelope import Envelope, Model
from schemas.reports import Tier

REMAINING_DESCRIPTION = (
    "The time left on the clock when it stopped, in seconds: for a limit in working days, "
    "time on working days only (each working day counted until its end, 24:00 or the close "
    "of business); for one in hours or calendar days, elapsed time."
)


class ClockMoved(Model):
    """Which clock, whose, and the request whose decision moved it."""

    kind: DeadlineKind
    unit_id: UnitId
    tier: Tier
    seq: Seq
    request_id: CommandId = Field(description="The suspension or extension request decided.")
    provisional: Flag = Field(
        default=False, description="A day counted for its due time has no official schedule yet."
    )


class PausedPayload(ClockMoved):
    due_at: Time = Field(description="The due time it had when it stopped.")
    paused_at: Time
    remaining_seconds: Count = Field(description=REMAINING_DESCRIPTION)


class DeadlinePaused(Envelope):
    """A suspension stopped the clock: no warning and no lapse until it is resumed."""

    type: Literal["deadline.paused"] = "deadline.paused"
    payload: PausedPayload


class ResumedPayload(ClockMoved):
    due_at: Time = Field(description="The new due time: the resume time plus what was left.")
    previous_due_at: Time = Field(description="The due time it had when it stopped.")
    warn_at: Time | None = Field(default=None, description="Its next warning, if any.")
    paused_at: Time
    resumed_at: Time
    remaining_seconds: Count = Field(description=REMAINING_DESCRIPTION)


class DeadlineResumed(Envelope):
    """The suspension ended: the clock runs again with the time it had left."""

    type: Literal["deadline.resumed"] = "deadline.resumed"
    payload: ResumedPayload


class ExtendedPayload(ClockMoved):
    due_at: Time = Field(description="The new due time.")
    previous_due_at: Time
    warn_at: Time | None = Field(default=None, description="Its next warning, if any.")
    working_days: ExtensionDays = Field(description="Working days the extension added.")


class DeadlineExtended(Envelope):
    """An approved extension (延期) moved the clock's due time."""

    type: Literal["deadline.extended"] = "deadline.extended"
    payload: ExtendedPayload

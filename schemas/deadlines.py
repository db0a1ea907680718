"""What the escalator emits when a deadline nears, lapses or is counted again."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.cases import LIMIT_DESCRIPTION, POLICY_DESCRIPTION, DeadlineKind, Limit
from schemas.edges import Count, Flag, Seq, Time, UnitId
from schemas.envelope import Envelope, Model
from schemas.reports import Tier

PROVISIONAL_DESCRIPTION = (
    "Counted on a day of a year whose official holiday schedule was not known yet (the "
    "statutory holidays alone, no make-up working days): it may move when the schedule comes."
)


class DeadlinePayload(Model):
    """One clock of a case: which (``kind``, and the ``policy`` that set its ``limit``),
    whose (``unit_id`` at ``tier``, assignment ``seq``), and when it began and runs out.

    Every field comes from the armed deadline alone, never from the moment a tick
    ran, so the same deadline always gives the same bytes. That is why a lapse says
    how late it is by its ``due_at`` and ``limit``, not by a lateness: it happens at
    ``due_at`` (the time rule), so it is 0 late by definition. How late the case is
    afterwards is what a ``deadline.reminder`` says."""

    kind: DeadlineKind
    unit_id: UnitId
    tier: Tier
    seq: Seq
    due_at: Time
    working_days: Count | None = Field(
        default=None, description="The limit when it is counted in working days, else none."
    )
    limit: Limit | None = Field(default=None, description=LIMIT_DESCRIPTION)
    policy: str | None = Field(default=None, max_length=64, description=POLICY_DESCRIPTION)
    started_at: Time | None = Field(
        default=None, description="When the clock began (a reminder: when the case lapsed)."
    )
    provisional: Flag = Field(default=False, description=PROVISIONAL_DESCRIPTION)


class DeadlineWarning(Envelope):
    """A deadline is near: the unit is warned, at each moment the site's policy sets
    (shares of the limit, the last day), each once. The message's time is the moment."""

    type: Literal["deadline.warning"] = "deadline.warning"
    payload: DeadlinePayload


class DeadlineLapsed(Envelope):
    """A deadline passed with the step not done: the router escalates the case."""

    type: Literal["deadline.lapsed"] = "deadline.lapsed"
    payload: DeadlinePayload


class ReminderPayload(DeadlinePayload):
    """A reminder: ``kind`` is ``remind``, ``started_at`` when the case lapsed at the top
    tier, ``due_at`` this reminder's moment."""

    late_by_seconds: Count = Field(
        description="How long the case has been overdue at this reminder: due_at - started_at."
    )


class DeadlineReminder(Envelope):
    """A case lapsed at the top tier, where no one is above to take it, is still open:
    the holder is reminded on the site's period until it closes, and supervisors are
    told (督办). The router does not escalate it again."""

    type: Literal["deadline.reminder"] = "deadline.reminder"
    payload: ReminderPayload


class RescheduledPayload(DeadlinePayload):
    previous_due_at: Time = Field(description="The provisional due time it replaces.")
    warn_at: Time | None = Field(default=None, description="When the unit is warned, if at all.")


class DeadlineRescheduled(Envelope):
    """A provisional deadline counted again once its year's official schedule is known:
    its new due time (``provisional`` false), said once, on the holding unit's topic."""

    type: Literal["deadline.rescheduled"] = "deadline.rescheduled"
    payload: RescheduledPayload

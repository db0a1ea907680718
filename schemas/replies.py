"""What a sender of commands hears back, on its own view topic.

Every command a sender writes on ``gridflow.commands.<sender>`` is answered
there where the sender reads: a unit on its assignment topic, anyone else on
``gridflow.replies.<sender>``. The answer is :class:`CommandAcknowledged` (applied,
with the events it caused) or :class:`CommandRefused` (not applied, with the
reason), so a sender never has to read the shared case story or the restricted
dead-letter topic to learn what became of its command.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.deadletter import FieldError, RejectionReason
from schemas.edges import CommandId, EventId, MessageType, Note, UnitId
from schemas.envelope import Envelope, Model


class ReplyPayload(Model):
    command_id: CommandId = Field(description="The event_id the sender gave its command.")
    command_type: MessageType
    sender: UnitId = Field(description="Who sent it, as its command topic proves.")


class AcknowledgedPayload(ReplyPayload):
    events: list[EventId] = Field(
        default_factory=list, max_length=16, description="The case events the command caused."
    )


class CommandAcknowledged(Envelope):
    """The command was applied (or was a retry of one applied already)."""

    type: Literal["command.acknowledged"] = "command.acknowledged"
    payload: AcknowledgedPayload


class RefusedPayload(ReplyPayload):
    reason: RejectionReason
    message: Note = Field(description="One sentence the sender can act on.")
    errors: list[FieldError] = Field(default_factory=list, max_length=64)


class CommandRefused(Envelope):
    """The command was not applied, and why: its state, or the sender's rights."""

    type: Literal["command.refused"] = "command.refused"
    payload: RefusedPayload

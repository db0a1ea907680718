"""What a processor's logic takes and gives, a batch at a time.

A runtime decodes each record once, drops the ones its inbox has seen, and hands
the rest to the logic as :class:`Inbound` items: the message and the time it
happened at. The logic answers with one :data:`Outcome` per item, in order: the
messages to publish, or the :class:`~schemas.deadletter.Rejected` refusal that
becomes a dead letter. Nothing here reads a clock or touches a transport.

**The time rule.** ``Inbound.now`` is the time of the record that carried the
message: the broker's append time (every gridflow topic is created with
``message.timestamp.type=LogAppendTime``), or the in-memory broker's append
time in the embedded runtime. Reading the same record again, after a retry, a
crash, a rebalance or on a second instance, gives the same ``now``, so the
logic gives byte-identical outputs with the same ids. A tick's outputs take
their time from what fell due (a lapse happens at its ``due_at``), never from
the moment the tick ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.deadletter import Rejected
from schemas.envelope import Model
from schemas.topics import Emit

MAX_VALUE_BYTES = 262_144
"""The default of the largest record value intake reads (``GRIDFLOW_INTAKE_MAX_BYTES``):
every report the schema allows fits, with room for JSON's escapes."""

Outcome = list[Emit] | Rejected
"""What the logic made of one inbound message: outputs, or a refusal with its reason."""


@dataclass(frozen=True)
class Inbound:
    """One decoded message, the time of the record it came in (see the time rule) and
    the topic it came on."""

    message: Model
    now: datetime
    topic: str = ""
    """The catalogue name of the topic it came on: for intake, a command topic
    names the command's sender."""


def one_at_a_time(
    handle: Callable[[Model, datetime], list[Emit]], batch: Sequence[Inbound]
) -> list[Outcome]:
    """Outcomes of a processor that keeps no state between messages (intake, notifier)."""
    out: list[Outcome] = []
    for item in batch:
        try:
            out.append(handle(item.message, item.now))
        except Rejected as refused:
            out.append(refused)
    return out

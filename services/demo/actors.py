"""The people on the other side of the topics, simulated: departments that work the
cases on their own assignment topic, verifiers, and residents who rate.

Each works from its own view alone, as the ACLs would have it: a unit reads its
assignment topic, a verifier and a channel their reply topics (the cases to check,
the cases to rate), and each writes its commands on its own command topic. None
reads the shared case story.

Each unit gets a temperament from the seed. Most accept within hours and handle
within a day or two; a few are slow, letting some deadlines lapse, so the demo
shows escalations. Actors read topics as consumer groups of their own, like real
subscribers, and send commands with stable event ids, like well-behaved clients.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.cases import (
    CaseDispatched,
    CaseHandled,
    CaseVerified,
    RatedPayload,
    Role,
    StepPayload,
    VerifiedPayload,
)
from schemas.codec import decode, encode
from schemas.commands import AcceptCase, RateCase, ReportHandled, ReportPart, VerifyCase
from schemas.envelope import Envelope, stable_id
from schemas.topics import (
    COMMAND_PREFIX,
    REPLY_PREFIX,
    assignment_topic,
    command_topic,
    reply_topic,
    topic_named,
)
from services.runtime.memory import MemoryBroker, MemorySource

PRODUCER = "demo-actors"


@dataclass(frozen=True)
class Temperament:
    accept_hours: tuple[float, float]
    handle_hours: tuple[float, float]
    ignores: float  # share of cases it never gets to


PROMPT = Temperament((0.2, 3.0), (2.0, 40.0), 0.0)
SLOW = Temperament((4.0, 30.0), (30.0, 160.0), 0.25)


@dataclass(order=True)
class Action:
    at: datetime
    order: int
    command: Envelope = field(compare=False)
    sender: str = field(compare=False, default="")
    holder: tuple[str, int] | None = field(compare=False, default=None)


class Actors:
    def __init__(
        self,
        broker: MemoryBroker,
        unit_ids: list[str],
        seed: int,
        slow_share: float,
        others: Sequence[str] = (),
    ):
        """``unit_ids`` work cases; ``others`` (verifiers and channels) check and rate."""
        self.rng = random.Random(seed * 7919)
        self.broker = broker
        self.temperament = {
            u: SLOW if self.rng.random() < slow_share else PROMPT for u in sorted(unit_ids)
        }
        own = [assignment_topic(u).name for u in sorted(unit_ids)]
        own += [reply_topic(s).name for s in sorted(others)]
        self.events = MemorySource(broker, "demo.actors", own, 10_000)
        self.holder: dict[str, tuple[str, int]] = {}
        self.queue: list[Action] = []
        self._order = 0

    @property
    def slow_units(self) -> int:
        return sum(t is SLOW for t in self.temperament.values())

    def next_at(self) -> datetime | None:
        return self.queue[0].at if self.queue else None

    def observe(self) -> None:
        """Read what happened to the cases and plan the people's next steps."""
        records = self.events.poll()
        for record in records:
            event = decode(topic_named(record.topic), record.value)
            reader = record.topic.removeprefix(REPLY_PREFIX)
            if isinstance(event, CaseDispatched):
                self._assigned(event)
            elif isinstance(event, CaseHandled):
                self._verify_later(event, reader)
            elif isinstance(event, CaseVerified) and event.payload.passed:
                self._rate_later(event, reader)
                if event.case_id:
                    self.holder.pop(event.case_id, None)  # the unit's part is done
        self.events.commit(records)

    def due(self, now: datetime) -> list[tuple[str, Envelope]]:
        """(sender, command) whose time has come, minus those for a case the unit no
        longer holds."""
        out = []
        while self.queue and self.queue[0].at <= now:
            action = heapq.heappop(self.queue)
            cid = action.command.case_id or ""
            if action.holder is None or self.holder.get(cid) == action.holder:
                out.append((action.sender, action.command))
        return out

    def send(self, commands: list[tuple[str, Envelope]], now: datetime) -> None:
        """Each command on its sender's own command topic."""
        for sender, command in commands:
            key = command.case_id.encode() if command.case_id else None
            topic = command_topic(sender).name
            assert topic.startswith(COMMAND_PREFIX)
            self.broker.append(topic, key, encode(command), now)

    # --- planning -------------------------------------------------------------------

    def _hours(self, span: tuple[float, float]) -> timedelta:
        return timedelta(hours=self.rng.uniform(*span))

    def _plan(
        self, at: datetime, command: Envelope, sender: str, holder: tuple[str, int] | None
    ) -> None:
        self._order += 1
        heapq.heappush(self.queue, Action(at, self._order, command, sender, holder))

    def _command(self, cls: type[Envelope], payload: object, case_id: str, step: str, *key: object):
        return cls(
            event_id=stable_id(PRODUCER, case_id, step, *key),
            type=cls.TYPE,
            case_id=case_id,
            occurred_at=payload.at,  # type: ignore[attr-defined]
            producer=PRODUCER,
            correlation_id=case_id,
            payload=payload,
        )

    def _assigned(self, event: CaseDispatched) -> None:
        a = event.payload.assignment
        case_id = event.payload.case.case_id
        if a.role is Role.CO_HANDLER:  # 协办: its part, promptly, before the lead reports
            at = a.assigned_at + timedelta(minutes=1)
            part = StepPayload(unit_id=a.unit_id, seq=a.seq, at=at, note="协办完成")
            self._plan(at, self._command(ReportPart, part, case_id, "part", a.seq), a.unit_id, None)
            return
        holder = (a.unit_id, a.seq)
        self.holder[case_id] = holder
        mood = self.temperament.get(a.unit_id, PROMPT)
        if self.rng.random() < mood.ignores:
            return  # lost in the unit's in-tray: its deadlines will lapse
        accept_at = a.assigned_at + self._hours(mood.accept_hours)
        handle_at = accept_at + self._hours(mood.handle_hours)
        if a.reason.value != "rework":
            step = StepPayload(unit_id=a.unit_id, seq=a.seq, at=accept_at, note="已受理")
            accept = self._command(AcceptCase, step, case_id, "accept", a.seq)
            self._plan(accept_at, accept, a.unit_id, holder)
        done = StepPayload(unit_id=a.unit_id, seq=a.seq, at=handle_at, note="已处置")
        handled = self._command(ReportHandled, done, case_id, "handle", a.seq)
        self._plan(handle_at, handled, a.unit_id, holder)

    def _verify_later(self, event: CaseHandled, verifier: str) -> None:
        p = event.payload
        at = event.occurred_at + self._hours((1.0, 8.0))
        passed = self.rng.random() < 0.93
        check = VerifiedPayload(unit_id=p.unit_id, seq=p.seq, at=at, passed=passed)
        case_id = event.case_id or ""
        self._plan(at, self._command(VerifyCase, check, case_id, "verify", p.seq), verifier, None)

    def _rate_later(self, event: CaseVerified, channel: str) -> None:
        at = event.occurred_at + self._hours((0.5, 20.0))
        rating = self.rng.choices([5, 4, 3, 2, 1], [80, 14, 3, 2, 1])[0]
        case_id = event.case_id or ""
        payload = RatedPayload(at=at, rating=rating)
        self._plan(at, self._command(RateCase, payload, case_id, "rate"), channel, None)

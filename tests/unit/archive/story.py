"""Scripted case histories for the archive tests: the events the other processors would write."""

from __future__ import annotations

from datetime import datetime, timedelta

from archive.kpi import HandlingClock
from archive.report import ArchiveReport
from escalator.calendar import WorkingCalendar
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseAssignedPayload,
    CaseClosed,
    CaseEscalated,
    CaseHandled,
    CaseRated,
    CaseReceived,
    CaseVerified,
    ClosedPayload,
    DeadlineKind,
    EscalatedPayload,
    RatedPayload,
    StepPayload,
    VerifiedPayload,
)
from schemas.codec import reject
from schemas.deadletter import MessageRejected, RejectionReason
from schemas.deadlines import DeadlineLapsed, DeadlinePayload, DeadlineWarning
from schemas.envelope import Envelope
from schemas.notifications import (
    DeliveryStatus,
    NotificationChannel,
    NotificationPayload,
    NotificationRecorded,
)
from schemas.reports import Case, Channel, Location, Reporter, Tier, Urgency
from schemas.topics import CASE_UPDATES, Record
from tests.support.sites import SHANGHAI

CLOCK = HandlingClock(WorkingCalendar(), SHANGHAI)
"""The archive's handling-time clock in these tests: the national calendar, in Shanghai."""

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=SHANGHAI)  # a Monday
NAME, PHONE, ADDRESS = "张三", "13800138000", "幸福路 8 号 3 单元 502"


class Story:
    """One case's events in the order the router writes them; each step one hour later."""

    def __init__(self, n: int, unit: str = "grid-1", tier: Tier = Tier.GRID) -> None:
        self.case_id = f"case-{n:04d}"
        self.t = T0 + timedelta(minutes=n)
        self.case = Case(
            case_id=self.case_id,
            channel=Channel.HOTLINE_12345,
            external_id=f"12345-{n}",
            reported_at=self.t - timedelta(minutes=5),
            received_at=self.t,
            category="env.litter",
            grid_id="g-1",
            title="垃圾堆放",
            description="楼下垃圾三天没人清",
            urgency=Urgency.NORMAL,
            location=Location(address=ADDRESS),
            reporter=Reporter(name=NAME, phone=PHONE),
        )
        self.unit, self.tier, self.seq = unit, tier, 0
        self.last: Envelope | None = None

    def _derive(self, cls: type[Envelope], payload: object, producer: str = "router") -> Envelope:
        self.t += timedelta(hours=1)
        event = cls.derive(
            payload,
            producer=producer,
            now=self.t,
            case_id=self.case_id,
            cause=self.last,
            key=(cls.TYPE, self.seq, self.t.isoformat()),
        )
        self.last = event
        return event

    def _step(self) -> StepPayload:
        return StepPayload(unit_id=self.unit, seq=self.seq, at=self.t + timedelta(hours=1))

    def received(self) -> Envelope:
        return self._derive(CaseReceived, self.case, producer="intake")

    def assigned(self, reason: AssignmentReason = AssignmentReason.INITIAL) -> Envelope:
        self.seq += 1
        a = Assignment(
            unit_id=self.unit,
            unit_name=f"unit {self.unit}",
            tier=self.tier,
            owner_tier=Tier.GRID,
            jurisdiction_id="g-1",
            seq=self.seq,
            reason=reason,
            assigned_at=self.t + timedelta(hours=1),
        )
        return self._derive(CaseAssigned, CaseAssignedPayload(assignment=a, case=self.case))

    def accepted(self) -> Envelope:
        return self._derive(CaseAccepted, self._step())

    def handled(self) -> Envelope:
        return self._derive(CaseHandled, self._step())

    def verified(self, passed: bool = True) -> Envelope:
        s = self._step()
        return self._derive(CaseVerified, VerifiedPayload(**s.model_dump(), passed=passed))

    def rated(self, rating: int) -> Envelope:
        return self._derive(CaseRated, RatedPayload(at=self.t + timedelta(hours=1), rating=rating))

    def closed(self, on_time: bool = True, rating: int | None = None, escalations: int = 0):
        p = ClosedPayload(
            at=self.t + timedelta(hours=1),
            unit_id=self.unit,
            tier=self.tier,
            escalations=escalations,
            on_time=on_time,
            rating=rating,
        )
        return self._derive(CaseClosed, p)

    def escalated(self, to_unit: str, to_tier: Tier) -> Envelope:
        p = EscalatedPayload(
            from_unit_id=self.unit,
            from_tier=self.tier,
            to_unit_id=to_unit,
            to_tier=to_tier,
            reason=AssignmentReason.ESCALATED,
            deadline_kind=DeadlineKind.ACCEPT,
            due_at=self.t,
        )
        event = self._derive(CaseEscalated, p)
        self.unit, self.tier = to_unit, to_tier
        return event

    def _deadline(self, cls: type[Envelope]) -> Envelope:
        p = DeadlinePayload(
            kind=DeadlineKind.ACCEPT,
            unit_id=self.unit,
            tier=self.tier,
            seq=self.seq,
            due_at=self.t,
            working_days=0,
        )
        return self._derive(cls, p, producer="escalator")

    def lapsed(self) -> Envelope:
        return self._deadline(DeadlineLapsed)

    def warning(self) -> Envelope:
        return self._deadline(DeadlineWarning)

    def notification(self, status: DeliveryStatus = DeliveryStatus.DELIVERED) -> Envelope:
        assert self.last is not None
        p = NotificationPayload(
            notification_id=f"n-{self.last.event_id}",
            channel=NotificationChannel.WEBHOOK,
            recipient="sub-grid-1",
            template="assignment",
            source_event_id=self.last.event_id,
            source_type=self.last.type,
            status=status,
            attempts=1 if status is DeliveryStatus.DELIVERED else 5,
        )
        return self._derive(NotificationRecorded, p, producer="notifier")

    def full_loop(self, rating: int = 5, on_time: bool = True) -> list[Envelope]:
        """received → assigned → accepted → handled → verified → rated → closed."""
        return [
            self.received(),
            self.assigned(),
            self.accepted(),
            self.handled(),
            self.verified(),
            self.rated(rating),
            self.closed(on_time=on_time, rating=rating),
        ]


def dead_letter(offset: int, reason: RejectionReason, value: bytes = b"{oops") -> MessageRejected:
    record = Record(
        topic=CASE_UPDATES.name, value=value, timestamp=T0, key=b"case-x", offset=offset
    )
    return reject(record, processor="router", reason=reason, message="bad", now=T0)


def scripted_history() -> list[Envelope]:
    """Five cases, notifications and dead letters; EXPECTED below holds their figures."""
    a, b, c, d, e = Story(1), Story(2), Story(3), Story(4), Story(5, "street-urban", Tier.STREET)
    events = [*a.full_loop(rating=5), a.notification(), a.notification()]
    events += [b.received(), b.assigned(), b.lapsed(), b.escalated("community-1", Tier.COMMUNITY)]
    events += [b.assigned(AssignmentReason.ESCALATED), b.notification(DeliveryStatus.FAILED)]
    events += [b.accepted(), b.handled(), b.verified(), b.rated(3)]
    events += [b.closed(on_time=False, rating=3, escalations=1), b.notification()]
    events += [c.received(), c.assigned(), c.accepted(), c.warning()]
    events += [d.received()]
    events += e.full_loop(rating=4)
    events += [dead_letter(1, RejectionReason.INVALID), dead_letter(2, RejectionReason.INVALID)]
    events += [dead_letter(3, RejectionReason.NOT_UTF8, b"\xff\xfe")]
    return events


EXPECTED = ArchiveReport(
    cases=5,
    closed=3,
    open_by_stage={"accepted": 1, "received": 1},
    by_tier={"community": 1, "grid": 2, "street": 1, "unknown": 1},
    by_unit={"community-1": 1, "grid-1": 2, "street-urban": 1, "unknown": 1},
    events=36,
    escalations=1,
    escalations_by_tier={"grid": 1},
    deadline_warnings=1,
    lapsed_deadlines=1,
    dead_letters_by_reason={"invalid": 2, "not_utf8": 1},
    closed_on_time=2,
    ratings=3,
    satisfied=3,  # ratings 5, 3 and 4: 满意, 基本满意, 满意
    rating_sum=12,
    notifications={"delivered": 3, "failed": 1},
)

"""Builders for router tests: cases and the messages that move them.

The site they run on is tests.support.sites.tiny_site.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from router.core import Router
from router.ports import CaseFile, CaseStore
from schemas.cases import (
    CaseReceived,
    DeadlineKind,
    DecisionPayload,
    DispatchPayload,
    ExtensionRequestPayload,
    FollowUpPayload,
    RatedPayload,
    RequestReason,
    ReturnPayload,
    ReturnReason,
    StepPayload,
    SupervisedPayload,
    SuspensionRequestPayload,
    VerifiedPayload,
)
from schemas.commands import (
    AcceptCase,
    DecideRequest,
    DispatchCase,
    FollowUpCase,
    RateCase,
    ReferUp,
    ReportHandled,
    ReportPart,
    RequestExtension,
    RequestSuspension,
    ResumeCase,
    ReturnCase,
    SuperviseCase,
    VerifyCase,
)
from schemas.deadlines import DeadlineLapsed, DeadlinePayload, DeadlineWarning
from schemas.envelope import Envelope
from schemas.reports import Case, Channel, Tier, Urgency
from schemas.topics import CASE_EVENTS, Emit
from tests.support.processing import handle_one
from tests.support.sites import SHANGHAI

T0 = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)
LATER = T0 + timedelta(hours=2)


def case(case_id: str = "GF-1", category: str = "street.parking", grid: str = "s-a-g1") -> Case:
    return Case(
        case_id=case_id,
        channel=Channel.GRID_APP,
        external_id=f"ext-{case_id}",
        reported_at=T0 - timedelta(minutes=5),
        received_at=T0 - timedelta(minutes=4),
        category=category,
        grid_id=grid,
        title="t",
        description="d",
        urgency=Urgency.NORMAL,
    )


def received(c: Case) -> Envelope:
    return CaseReceived.derive(c, producer="intake", now=T0, case_id=c.case_id)


VERIFIER = "s.verify"
"""The street's verifier: the tiny site's cases lie in its jurisdiction."""
RATER = "grid-app"
"""The channel that took the builders' reports (``case()`` comes from the grid app)."""


def _command(
    kind: type[Envelope], case_id: str, payload: Any, n: object, sender: str | None
) -> Envelope:
    """A command as intake passes it on: stamped with its sender."""
    message = kind.derive(payload, producer="test", now=T0, case_id=case_id, key=(n,))
    return message.model_copy(update={"sender": sender})


def step(case_id: str, unit_id: str, seq: int = 1, note: str | None = None) -> StepPayload:
    return StepPayload(unit_id=unit_id, seq=seq, at=T0 - timedelta(minutes=1), note=note)


def accept(
    case_id: str, unit_id: str, seq: int = 1, n: object = 0, sender: str | None = None
) -> Envelope:
    """The holder accepts; ``sender`` defaults to the unit the step names."""
    return _command(AcceptCase, case_id, step(case_id, unit_id, seq), n, sender or unit_id)


def report_handled(
    case_id: str, unit_id: str, seq: int = 1, n: object = 0, sender: str | None = None
) -> Envelope:
    payload = step(case_id, unit_id, seq)
    return _command(ReportHandled, case_id, payload, n, sender or unit_id)


def refer_up(
    case_id: str, unit_id: str, seq: int = 1, n: object = 0, sender: str | None = None
) -> Envelope:
    payload = step(case_id, unit_id, seq, "beyond us")
    return _command(ReferUp, case_id, payload, n, sender or unit_id)


def verify(
    case_id: str,
    unit_id: str,
    seq: int = 1,
    passed: bool = True,
    n: object = 0,
    sender: str = VERIFIER,
) -> Envelope:
    payload = VerifiedPayload(unit_id=unit_id, seq=seq, at=T0, passed=passed)
    return _command(VerifyCase, case_id, payload, n, sender)


def rate(case_id: str, rating: int = 5, n: object = 0, sender: str = RATER) -> Envelope:
    return _command(RateCase, case_id, RatedPayload(at=T0, rating=rating), n, sender)


def follow_up(
    case_id: str,
    n: object = 0,
    sender: str = RATER,
    responded: bool | None = True,
    resolved: bool | None = True,
) -> Envelope:
    """The channel calls the resident back (回访); ``responded`` and ``resolved`` are
    the resident's answers (None: not asked)."""
    payload = FollowUpPayload(
        at=T0, reached=True, responded=responded, resolved=resolved, note="李先生 says fixed"
    )
    return _command(FollowUpCase, case_id, payload, ("follow_up", n), sender)


def supervise(case_id: str, n: object = 0, sender: str = "d.supervise") -> Envelope:
    return _command(SuperviseCase, case_id, SupervisedPayload(at=T0, note="hurry"), n, sender)


APPROVER = "s.approve"
"""The street's command room: it decides the requests of the units of the street."""


def request_suspension(
    case_id: str, unit_id: str, seq: int = 1, n: object = 0, sender: str | None = None
) -> Envelope:
    """The holder asks to suspend: waiting on the resident, with a note for the room."""
    payload = SuspensionRequestPayload(
        unit_id=unit_id,
        seq=seq,
        at=T0,
        note="王女士 abroad until the 20th",
        reason=RequestReason.AWAITING_REPORTER,
        until=T0 + timedelta(days=14),
    )
    return _command(RequestSuspension, case_id, payload, ("suspend", n), sender or unit_id)


def request_extension(
    case_id: str,
    unit_id: str,
    seq: int = 1,
    days: int = 2,
    n: object = 0,
    sender: str | None = None,
) -> Envelope:
    payload = ExtensionRequestPayload(
        unit_id=unit_id,
        seq=seq,
        at=T0,
        note="the contractor comes next week",
        reason=RequestReason.AWAITING_OTHER_PARTY,
        working_days=days,
    )
    return _command(RequestExtension, case_id, payload, ("extend", n), sender or unit_id)


def decide(
    case_id: str,
    request: Envelope | str,
    approved: bool = True,
    n: object = 0,
    sender: str = APPROVER,
) -> Envelope:
    """The command room's decision on ``request`` (the request command, or its id)."""
    request_id = request if isinstance(request, str) else request.event_id
    payload = DecisionPayload(request_id=request_id, approved=approved, at=T0, note="ok, noted")
    return _command(DecideRequest, case_id, payload, ("decide", n), sender)


def resume(
    case_id: str, unit_id: str, seq: int = 1, n: object = 0, sender: str | None = None
) -> Envelope:
    payload = step(case_id, unit_id, seq, "the resident is back")
    return _command(ResumeCase, case_id, payload, ("resume", n), sender or unit_id)


def return_case(
    case_id: str, unit_id: str, seq: int = 1, n: object = 0, sender: str | None = None
) -> Envelope:
    """The holder returns the case as misrouted (退回), with a note for the next one."""
    payload = ReturnPayload(
        unit_id=unit_id,
        seq=seq,
        at=T0,
        note="parking on this lane is the community's",
        reason=ReturnReason.NOT_OUR_DUTY,
    )
    return _command(ReturnCase, case_id, payload, ("return", n), sender or unit_id)


def dispatch(
    case_id: str,
    unit_id: str,
    n: object = 0,
    sender: str = APPROVER,
    co_handlers: tuple[str, ...] = (),
) -> Envelope:
    """A dispatcher (the street's command room) assigns the queued case to ``unit_id``,
    the lead, with ``co_handlers`` (协办) beside it."""
    payload = DispatchPayload(
        unit_id=unit_id,
        at=T0,
        note="yours: the lane is a street road",
        co_handlers=list(co_handlers),
    )
    return _command(DispatchCase, case_id, payload, ("dispatch", n), sender)


def report_part(
    case_id: str, unit_id: str, seq: int = 1, n: object = 0, sender: str | None = None
) -> Envelope:
    """A co-handler (协办) reports its part done, with a note for the lead."""
    payload = step(case_id, unit_id, seq, "hydrant checked")
    return _command(ReportPart, case_id, payload, ("part", n), sender or unit_id)


def deadline(
    case_id: str,
    unit_id: str,
    tier: Tier,
    seq: int = 1,
    kind: DeadlineKind = DeadlineKind.ACCEPT,
    warning: bool = False,
) -> Envelope:
    payload = DeadlinePayload(
        kind=kind, unit_id=unit_id, tier=tier, seq=seq, due_at=T0, working_days=0
    )
    cls = DeadlineWarning if warning else DeadlineLapsed
    return cls.derive(payload, producer="escalator", now=T0, case_id=case_id, key=(kind, seq))


def events(emits: list[Emit]) -> list[Envelope]:
    """The messages written to gridflow.cases.events, in order."""
    return [e.message for e in emits if e.topic == CASE_EVENTS.name]  # type: ignore[misc]


def types(emits: list[Emit]) -> list[str]:
    return [m.type for m in events(emits)]


def act(router: Router, message: Envelope, now: datetime = LATER) -> list[Emit]:
    """One message through the router's batch call; a refusal is raised, as the
    runtime would dead-letter it."""
    return handle_one(router, message, now)


def file_of(store: CaseStore, case_id: str) -> CaseFile | None:
    return store.load([case_id]).get(case_id)

"""The router processor: dispatch (派遣), the loop's steps, and escalation (升级).

Inputs: new cases (``gridflow.cases.received``), the commands of the people who
work them (``gridflow.cases.updates``) and deadlines (``gridflow.deadlines``).
Output: the canonical case story on ``gridflow.cases.events``; on each unit's
``gridflow.assignments.<unit_id>`` what concerns it (the case whole when it is
assigned, the escalation that takes it away, supervision); and on each sender's
view topic the acknowledgement or refusal of each of its commands.

A command is applied only when its sender, which intake stamped from the command
topic it came on, may send it (:func:`schemas.access.refusal`) and the case's
state allows it (:mod:`router.checks`).

A batch at a time: the files of every case the batch concerns are loaded with
one query, the messages act on them in order, and the changed files are saved
with one statement. Each output is derived from its input (``Envelope.derive``
with a per-kind key) and its time is the input record's (the time rule in
:mod:`schemas.processing`), so handling the same message twice gives
byte-identical outputs. The ``at`` a sender put in a command is kept as given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from escalator.calendar import WorkingCalendar
from escalator.clocks import co_dues, dues, site_calendar
from escalator.ports import CalendarSource
from router import cohandling
from router.checks import case_file, conflict, differences, holding, stale_lapse
from router.duplicates import Nearby, linked
from router.manual import (
    arrival_queue,
    dispatched_explanation,
    queue_place,
    returned_explanation,
)
from router.ports import CaseFile, CaseFiles, CaseStore, OpenRequest, Queued, Suspension
from router.returns import next_unit
from router.routing import category_of, first_assignment, place, rework_explanation
from router.story import PRODUCER, assigned, event, reply, untold
from router.workflow import guard_refusal, sources
from router.workflow import refusal as workflow_refusal
from schemas.access import refusal, view_topic
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAccepted,
    CaseClosed,
    CaseEscalated,
    CaseExtended,
    CaseExtensionRequested,
    CaseFollowedUp,
    CaseHandled,
    CasePartReported,
    CaseQueued,
    CaseRated,
    CaseReceived,
    CaseReopened,
    CaseRequestRefused,
    CaseResumed,
    CaseReturned,
    CaseSupervised,
    CaseSuspended,
    CaseSuspensionRequested,
    CaseVerified,
    ClosedPayload,
    DeadlineKind,
    Due,
    EscalatedPayload,
    ExtensionRequested,
    PartReportedPayload,
    QueuedPayload,
    QueueReason,
    RefusedRequest,
    ReopenCause,
    ReopenedPayload,
    RequestFacts,
    RequestKind,
    ReturnedPayload,
    RoutingRule,
    Satisfaction,
    Stage,
    SupervisionPayload,
    SuspensionRequested,
)
from schemas.catalogue import Sender, Site, SiteSource
from schemas.commands import (
    AcceptCase,
    Command,
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
from schemas.deadletter import FieldError, Rejected, RejectionReason
from schemas.deadlines import DeadlineLapsed, DeadlineReminder, DeadlineWarning
from schemas.edges import INT_MAX
from schemas.envelope import Envelope, Model
from schemas.processing import Inbound, Outcome
from schemas.replies import (
    AcknowledgedPayload,
    CommandAcknowledged,
    CommandRefused,
    RefusedPayload,
)
from schemas.reports import CaseFacts
from schemas.topics import (
    CASE_EVENTS,
    CASE_UPDATES,
    CASES_RECEIVED,
    DEADLINES,
    Emit,
    assignment_topic,
)

__all__ = ["CaseFile", "Router"]

log = logging.getLogger(__name__)

Handler = Callable[[Any, datetime, CaseFiles], list[Emit]]


class Router:
    """Processor ``router``: owns the case workflow; the one writer of case events."""

    name = PRODUCER
    topics = (CASES_RECEIVED.name, CASE_UPDATES.name, DEADLINES.name)

    def __init__(
        self,
        site: Site,
        store: CaseStore,
        calendar: WorkingCalendar | None = None,
        calendars: CalendarSource | None = None,
        sites: SiteSource | None = None,
    ) -> None:
        self._site = site
        self._sites = sites  # a changed catalogue taken up while running, if any
        self._store = store
        self._calendar = calendar or site_calendar(site)
        self._calendars = calendars  # a new notice taken up while running, if any
        self._nearby = Nearby(site.duplicates)  # the batch's near-duplicate candidates
        # The one map from message type to handler.
        self.handlers: dict[type[Model], Handler] = {
            CaseReceived: self._received,
            AcceptCase: self._accept,
            ReportHandled: self._report_handled,
            VerifyCase: self._verify,
            RateCase: self._rate,
            FollowUpCase: self._follow_up,
            ReferUp: self._refer_up,
            SuperviseCase: self._supervise,
            RequestSuspension: self._request_suspension,
            RequestExtension: self._request_extension,
            DecideRequest: self._decide,
            ResumeCase: self._resume,
            ReturnCase: self._return,
            DispatchCase: self._dispatch,
            ReportPart: self._report_part,
            DeadlineLapsed: self._lapsed,
            DeadlineWarning: self._warned,
            DeadlineReminder: self._reminded,
        }

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        if self._sites is not None and (site := self._sites.changed()) is not None:
            self._site = site  # between batches: the whole batch is routed on one catalogue
            self._calendar = site_calendar(site)
        if self._calendars is not None and (calendar := self._calendars.changed()) is not None:
            self._calendar = calendar  # the due times told from this batch on
        ids = {m.case_id for m in (i.message for i in batch) if isinstance(m, Envelope)}
        files = CaseFiles(self._store.load({i for i in ids if i is not None}))
        self._nearby = Nearby.load(self._site.duplicates, self._store, batch)
        outcomes: list[Outcome] = []
        for item in batch:
            try:
                outcomes.append(self._one(item.message, item.now, files))
            except Rejected as refused:
                outcomes.append(refused)
        self._store.save(files.changed)
        return outcomes

    def _one(self, message: Model, now: datetime, files: CaseFiles) -> list[Emit]:
        handler = self.handlers.get(type(message))
        if handler is None:
            kind = getattr(message, "type", type(message).__name__)
            raise Rejected(RejectionReason.UNKNOWN_TYPE, f"the router does not handle {kind}")
        if isinstance(message, Command):
            return self._command(message, handler, now, files)
        return handler(message, now, files)

    def _command(
        self, command: Command, handler: Handler, now: datetime, files: CaseFiles
    ) -> list[Emit]:
        """A command, if its sender may send it, answered on the sender's view topic.

        The answer is a :class:`CommandAcknowledged` naming the events it caused, or
        the refusal (dead letter) with a :class:`CommandRefused` beside it. A command
        with no sender known to the site did not come through a command topic; it is
        refused with no one to answer.
        """
        sender = self._site.sender(command.sender) if command.sender else None
        to = view_topic(sender).name if sender else None
        try:
            if sender is None:
                raise Rejected(
                    RejectionReason.PERMISSION,
                    f"{command.type} refused: sender {command.sender!r} is not one of the "
                    f"site's; commands come through intake from the sender's command topic",
                )
            file = case_file(files, command)
            held = file.assignment
            co = [c.unit_id for c in held.co_handlers]
            why = refusal(self._site, command.type, sender.id, file.case, held.unit_id, co)
            if why is not None:
                raise Rejected(RejectionReason.PERMISSION, f"{command.type} refused: {why}")
            out = handler(command, now, files)
        except Rejected as refused:
            if to is None:
                raise
            payload = RefusedPayload(
                command_id=command.event_id,
                command_type=command.type,
                sender=command.sender,
                reason=refused.reason,
                message=refused.message[:4000],
                errors=refused.errors[:64],
            )
            raise refused.answered([reply(CommandRefused, payload, command, to, now)]) from None
        events = [e.message.event_id for e in out if e.topic == CASE_EVENTS.name]
        payload = AcknowledgedPayload(
            command_id=command.event_id,
            command_type=command.type,
            sender=sender.id,
            events=events,  # type: ignore[arg-type]
        )
        return [*out, reply(CommandAcknowledged, payload, command, to, now)]

    def tick(self, now: datetime) -> list[Emit]:
        return []

    def _due(self, assignment: Assignment, case: CaseFacts) -> list[Due]:
        """The clocks ``assignment`` of ``case`` starts, as the escalator will arm them."""
        return dues(self._site, self._calendar, assignment, case)

    def _assigned(
        self, case: CaseFacts, assignment: Assignment, cause: Envelope, now: datetime, whole: Any
    ) -> list[Emit]:
        """:func:`router.story.assigned` with the clocks of the lead and its co-handlers."""
        due = self._due(assignment, case)
        co_due = co_dues(self._site, self._calendar, assignment, case)
        return assigned(case, assignment, cause, now, whole, due, co_due)

    # --- dispatch (调度分流 / 派遣) ------------------------------------------------

    def _received(self, message: CaseReceived, now: datetime, files: CaseFiles) -> list[Emit]:
        case = message.payload
        known = files.get(case.case_id)
        if known is not None:
            return self._resent(message, known)
        if (link := self._nearby.find(case, files)) is not None:
            return linked(self._site, message, link, now)  # 重复件: not dispatched again
        if (queue := arrival_queue(self._site, case)) is not None:  # 人工分拨, not a dead letter
            file = CaseFile.opened(case, queue_place(self._site, case, now))
            return self._queue(file, message, now, files, queue[0], None, queue[1])
        assignment = first_assignment(self._site, case, now)  # with its co-handlers
        files.put(CaseFile.opened(case, assignment))
        self._nearby.opened(case, assignment.unit_id)
        return self._assigned(case, assignment, message, now, case)

    def _resent(self, message: CaseReceived, file: CaseFile) -> list[Emit]:
        """A ``case.received`` for a case opened already: nothing, or a conflict.

        Intake derives the event id from the report's content, so the inbox drops an
        exact resend before it gets here. What arrives is either the same content
        under another id (a received_at of its own, an id from an older intake): a
        duplicate, ignored; or other content under a known channel and external id.
        That version is not applied, since the case is in a unit's hands already: it
        is refused, and its dead letter keeps it verbatim, next to the case's first
        ``case.received`` in the archive, for an operator to reconcile.
        """
        changed = differences(file, message.payload)
        if not changed:
            log.debug("resend of an opened case ignored", extra={"case_id": file.case_id})
            return []
        fields = ", ".join(e.loc for e in changed)
        raise conflict(
            message,
            file,
            f"it was opened already from this channel and external id with different "
            f"content ({fields}); this version is not applied. The version applied is "
            f"the case's first case.received in the archive; this one is the dead "
            f"letter's original",
            changed,
        )

    # --- the loop's steps, by the holding unit ------------------------------------

    def _accept(self, command: AcceptCase, now: datetime, files: CaseFiles) -> list[Emit]:
        file = holding(case_file(files, command), command)
        files.put(replace(file, stage=Stage.ACCEPTED))
        return [event(CaseAccepted, untold(command.payload), file, command, now)]

    def _report_handled(
        self, command: ReportHandled, now: datetime, files: CaseFiles
    ) -> list[Emit]:
        file = holding(case_file(files, command), command)
        why = guard_refusal(command.type, file.pending())  # 主办 waits for every 协办
        if why is not None:
            raise conflict(command, file, why)
        files.put(replace(file, stage=Stage.HANDLED, request=None))  # a request is moot now
        handled = event(CaseHandled, untold(command.payload), file, command, now)
        verifier = self._site.verifier_for(file.case.grid_id)
        asks = [_to(handled, view_topic(verifier).name)] if verifier else []
        return [handled, *asks]  # the nearest verifier is asked to check it (核查)

    def _verify(self, command: VerifyCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """Passed: on to the rating. Failed (核查不通过): reopened to the same unit."""
        file = holding(case_file(files, command), command)
        verified = event(CaseVerified, untold(command.payload), file, command, now)
        if command.payload.passed:
            files.put(replace(file, stage=Stage.VERIFIED))
            channel = self._site.channel_sender(file.case.channel)
            asks = [_to(verified, view_topic(channel).name)] if channel else []
            return [verified, *asks]  # the report's channel asks the resident to rate it
        return [verified, *self._reopen(file, command, now, files, ReopenCause.VERIFICATION_FAILED)]

    def _rate(self, command: RateCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """The resident's rating (评价): satisfied or basically satisfied closes the case
        (结案); unsatisfied (不满意) reopens it to the unit that handled it."""
        file = holding(case_file(files, command), command)
        held, rating = file.assignment, command.payload.rating
        rated = event(CaseRated, untold(command.payload), file, command, now)
        file = replace(file, rating=rating)
        if Satisfaction.of(rating) is Satisfaction.UNSATISFIED:
            return [rated, *self._reopen(file, command, now, files, ReopenCause.UNSATISFIED)]
        closed = ClosedPayload(
            at=now,
            unit_id=held.unit_id,
            tier=held.tier,
            escalations=file.escalations,
            on_time=not file.lapsed,
            rating=rating,
        )
        files.put(replace(file, stage=Stage.CLOSED))
        return [rated, event(CaseClosed, closed, file, command, now)]

    def _reopen(
        self, file: CaseFile, cause: Command, now: datetime, files: CaseFiles, why: ReopenCause
    ) -> list[Emit]:
        """Back to the same unit (重办), which has accepted it already, under a new
        assignment with fresh clocks; counted, on the story and on the unit's topic."""
        held = file.assignment
        if held.seq >= INT_MAX:
            raise conflict(cause, file, "its assignments are used up: it cannot be reopened")
        rework = held.model_copy(
            update={
                "seq": held.seq + 1,
                "reason": AssignmentReason.REWORK,
                "assigned_at": now,
                "catalogue_version": self._site.version,
                "why": rework_explanation(self._site, file.case, held),
                "co_handlers": [],  # the rework is the lead's alone
            }
        )
        file = replace(file, reopenings=file.reopenings + 1, parts=())
        payload = ReopenedPayload(
            unit_id=held.unit_id, seq=rework.seq, at=now, cause=why, reopenings=file.reopenings
        )
        reopened = event(CaseReopened, payload, file, cause, now)
        files.put(replace(file, stage=Stage.ACCEPTED, assignment=rework))
        return [
            reopened,
            _to_unit(reopened, held.unit_id),
            *self._assigned(file.case, rework, cause, now, file.whole_case()),
        ]

    def _follow_up(self, command: FollowUpCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """A follow-up call to the resident (回访): on the story without the caller's
        note; the case does not move."""
        file = holding(case_file(files, command), command)
        return [event(CaseFollowedUp, untold(command.payload), file, command, now)]

    def _refer_up(self, command: ReferUp, now: datetime, files: CaseFiles) -> list[Emit]:
        """The holder reports the case beyond its powers (上报)."""
        file = holding(case_file(files, command), command)
        if file.assignment.tier.parent() is None:
            raise conflict(command, file, "there is no tier above it to refer to")
        return self._escalate(file, command, now, files, AssignmentReason.REFERRED)

    def _supervise(self, command: SuperviseCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """Supervision (督办): the holder is pressed, on the story and on its own topic."""
        file = holding(case_file(files, command), command)
        held = file.assignment
        payload = SupervisionPayload(
            at=command.payload.at,
            note=command.payload.note,
            by=command.sender,
            unit_id=held.unit_id,
            seq=held.seq,
        )
        supervised, pressed = _story_and_told(CaseSupervised, payload, file, command, now, "holder")
        return [supervised, _to_unit(pressed, held.unit_id)]

    # --- suspension and extension (挂起, 延期) ------------------------------------------

    def _request_suspension(
        self, command: RequestSuspension, now: datetime, files: CaseFiles
    ) -> list[Emit]:
        """The holder asks to stop the clocks; the command room over it is asked."""
        until = command.payload.until
        kinds = (RequestKind.SUSPENSION, CaseSuspensionRequested, SuspensionRequested)
        return self._request(command, now, files, *kinds, until=until)

    def _request_extension(
        self, command: RequestExtension, now: datetime, files: CaseFiles
    ) -> list[Emit]:
        """The holder asks for more working days; the command room over it is asked."""
        days = command.payload.working_days
        kinds = (RequestKind.EXTENSION, CaseExtensionRequested, ExtensionRequested)
        return self._request(command, now, files, *kinds, working_days=days)

    def _request(
        self,
        command: RequestSuspension | RequestExtension,
        now: datetime,
        files: CaseFiles,
        kind: RequestKind,
        asked: type[CaseSuspensionRequested | CaseExtensionRequested],
        payload_type: type[SuspensionRequested | ExtensionRequested],
        **extra: Any,
    ) -> list[Emit]:
        """A request opened on the case file and told (``extra``: what its kind adds)."""
        file, p = self._requesting(command, files), command.payload
        common = {"request_id": command.event_id, "seq": p.seq, "reason": p.reason, "at": p.at}
        request = OpenRequest(kind=kind, **common, **extra)
        payload = payload_type(by=command.sender, unit_id=p.unit_id, note=p.note, **common, **extra)
        files.put(replace(file, request=request))
        return self._asked(asked, payload, file, command, now)

    @staticmethod
    def _requesting(command: RequestSuspension | RequestExtension, files: CaseFiles) -> CaseFile:
        """The file, when its holder may ask now: it accepted the case and works it
        (not suspended, not reported handled), and has no other request open."""
        file = holding(case_file(files, command), command)
        other = file.open_request()
        if other is not None:
            raise conflict(
                command,
                file,
                f"its {other.kind} request {other.request_id} is still open: one at a time",
            )
        return file

    def _asked(
        self,
        kind: type[CaseSuspensionRequested | CaseExtensionRequested],
        payload: SuspensionRequested | ExtensionRequested,
        file: CaseFile,
        command: Command,
        now: datetime,
    ) -> list[Emit]:
        """A request on the story (without its note), on the holder's topic, and with
        its note on the view of the command room nearest the holder, which decides."""
        story, told = _story_and_told(kind, payload, file, command, now, "told")
        out = [story, _to_unit(told, file.assignment.unit_id)]
        approver = self._approver(file)
        if approver is not None:
            out.append(_to(told, view_topic(approver).name))
        else:
            log.warning("no command room to decide a request", extra={"case_id": file.case_id})
        return out

    def _approver(self, file: CaseFile) -> Sender | None:
        unit = self._site.unit(file.assignment.unit_id)
        place = unit.jurisdiction if unit else file.assignment.jurisdiction_id
        return self._site.approver_for(place)

    def _decide(self, command: DecideRequest, now: datetime, files: CaseFiles) -> list[Emit]:
        """The command room approves or refuses the open request it names.

        An approved suspension stops the clocks (stage suspended; the escalator pauses
        them on ``case.suspended``); an approved extension moves the deadline (the
        escalator, on ``case.extended``); a refusal changes nothing but the request."""
        file, d = case_file(files, command), command.payload
        request = file.open_request()
        if request is None or request.request_id != d.request_id:
            if workflow_refusal(file.stage, command.type) is not None:
                must = " or ".join(sources(command.type))
                raise conflict(command, file, f"it must be {must} for a decision")
            open_one = f"the open one is {request.request_id}" if request else "none is open"
            raise conflict(command, file, f"request {d.request_id} is not open: {open_one}")
        held = file.assignment
        facts = {
            "request_id": request.request_id,
            "by": command.sender,
            "unit_id": held.unit_id,
            "seq": held.seq,
            "at": d.at,
            "note": d.note,
        }
        if not d.approved:
            files.put(replace(file, request=None))
            payload: Model = RefusedRequest(**facts, kind=request.kind)
            kind: type[Envelope] = CaseRequestRefused
        elif request.kind is RequestKind.SUSPENSION:
            suspension = Suspension(request_id=request.request_id, seq=held.seq, since=now)
            files.put(replace(file, stage=Stage.SUSPENDED, request=None, suspension=suspension))
            payload = SuspensionRequested(**facts, reason=request.reason, until=request.until)
            kind = CaseSuspended
        else:
            assert request.working_days is not None
            files.put(replace(file, request=None))
            payload = ExtensionRequested(
                **facts, reason=request.reason, working_days=request.working_days
            )
            kind = CaseExtended
        decided = event(kind, untold(payload), file, command, now)
        told = event(kind, payload, file, command, now, "holder")  # with the room's note
        return [decided, _to_unit(told, held.unit_id)]

    def _resume(self, command: ResumeCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """The wait is over: the clocks run again (the escalator, on ``case.resumed``),
        and the case is back at work, accepted."""
        file = holding(case_file(files, command), command)
        held, p = file.assignment, command.payload
        request_id = file.suspension.request_id if file.suspension else command.event_id
        payload = RequestFacts(
            request_id=request_id,
            by=command.sender,
            unit_id=held.unit_id,
            seq=held.seq,
            at=p.at,
            note=p.note,
        )
        files.put(replace(file, stage=Stage.ACCEPTED, suspension=None))
        resumed = event(CaseResumed, untold(payload), file, command, now)
        told = event(CaseResumed, payload, file, command, now, "holder")
        return [resumed, _to_unit(told, held.unit_id)]

    # --- returns and manual dispatch (退回, 人工分拨) -------------------------------------

    def _return(self, command: ReturnCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """The holder returns a misrouted case: on to the next unit routing allows that
        has not returned it (:mod:`router.returns`), with the returner's note on its
        topic; after ``routing.max_returns`` returns, or when no unit is left, to the
        dispatch queue of the command room over the holder."""
        file = holding(case_file(files, command), command)
        held, p = file.assignment, command.payload
        returned_by = (*file.returned_by, held.unit_id)
        category = self._site.category(file.case.category)
        to = None
        if len(returned_by) >= self._site.routing.max_returns:
            why = QueueReason.TOO_MANY_RETURNS
        else:
            why = QueueReason.NO_CANDIDATE
            if category is not None:  # it was routed: the catalogue knew it then
                to = next_unit(self._site, file.case, category, held.tier, returned_by)
        payload = ReturnedPayload(
            by=command.sender,
            unit_id=held.unit_id,
            seq=held.seq,
            at=p.at,
            reason=p.reason,
            note=p.note,
            returns=len(returned_by),
            to_unit_id=to.unit.id if to else None,
        )
        returned = event(CaseReturned, untold(payload), file, command, now)
        file = replace(file, returned_by=returned_by, request=None, suspension=None, parts=())
        if to is None:
            max_returns = self._site.routing.max_returns
            detail = f"returned {len(returned_by)} time(s), the last by {held.unit_id}: " + (
                f"routing.max_returns is {max_returns}"
                if why is QueueReason.TOO_MANY_RETURNS
                else "no unit routing allows is left that has not returned it"
            )
            return [returned, *self._queue(file, command, now, files, why, p.note, detail)]
        assert category is not None  # a candidate is found for a known category only
        explained = returned_explanation(
            self._site,
            file.case,
            held.unit_id,
            p.reason,
            held.tier,
            to,
            returned_by,
            category.unit_type,
        )
        assignment = Assignment(
            unit_id=to.unit.id,
            unit_name=to.unit.name,
            tier=to.tier,
            owner_tier=held.owner_tier,
            jurisdiction_id=to.jurisdiction_id,
            seq=held.seq + 1,
            reason=AssignmentReason.RETURNED,
            assigned_at=now,
            catalogue_version=self._site.version,
            why=explained,
        )
        assignment = cohandling.with_co_handlers(self._site, file.case, assignment)
        files.put(replace(file, stage=Stage.ASSIGNED, assignment=assignment, queued=None))
        told = event(CaseReturned, payload, file, command, now, "next")  # with the note
        return [
            returned,
            *self._assigned(file.case, assignment, command, now, file.whole_case()),
            _to_unit(told, to.unit.id),
        ]

    def _queue(
        self,
        file: CaseFile,
        cause: Envelope,
        now: datetime,
        files: CaseFiles,
        why: QueueReason,
        note: str | None,
        detail: str | None = None,
    ) -> list[Emit]:
        """The case waits in the dispatch queue of the command room nearest the unit
        that held it last (for a case queued on arrival, the queue's own place,
        :func:`router.manual.queue_place`): on the story, and with the note on the
        room's view. ``detail`` says why in words. The escalator arms the queue's clock
        (``dispatch``) from the story."""
        room = self._approver(file)
        files.put(
            replace(
                file,
                stage=Stage.QUEUED,
                queued=Queued(reason=why, since=now, room=room.id if room else None),
            )
        )
        payload = QueuedPayload(
            reason=why,
            at=now,
            room=room.id if room else None,
            seq=file.assignment.seq,
            returned_by=list(file.returned_by[-64:]),
            note=note,
            detail=detail,
        )
        out = [event(CaseQueued, untold(payload), file, cause, now)]
        if room is not None:
            told = event(CaseQueued, payload, file, cause, now, "room")
            out.append(_to(told, view_topic(room).name))
        else:
            log.warning("no command room for a queued case", extra={"case_id": file.case_id})
        return out

    def _dispatch(self, command: DispatchCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """A dispatcher assigns a queued case to a unit it chooses, the lead, with the
        co-handlers it names (else the category's): a new assignment, with fresh
        clocks, like any other. A case whose category the catalogue does not know is
        owned by the tier the dispatcher chose."""
        file = holding(case_file(files, command), command)
        p, held = command.payload, file.assignment
        unit = self._site.unit(p.unit_id)
        place = self._site.jurisdiction(unit.jurisdiction) if unit else None
        errors = [] if unit and place else [self._not_a_unit("payload.unit_id", p.unit_id)]
        for i, co in enumerate(p.co_handlers):
            if self._site.unit(co) is None:
                errors.append(self._not_a_unit(f"payload.co_handlers.{i}", co))
            elif co == p.unit_id:
                msg = f"{co} is the lead: a co-handler is another unit"
                errors.append(FieldError(loc=f"payload.co_handlers.{i}", msg=msg, type="conflict"))
        if errors or unit is None or place is None:
            raise Rejected(
                RejectionReason.UNKNOWN_REFERENCE,
                f"{command.type} refused: " + "; ".join(e.msg for e in errors),
                errors,
            )
        category = self._site.category(file.case.category)
        sender = self._site.sender(command.sender) if command.sender else None
        named = cohandling.named(self._site, p.co_handlers)
        room = file.queued.room if file.queued else None
        assignment = Assignment(
            unit_id=unit.id,
            unit_name=unit.name,
            tier=place.tier,
            owner_tier=held.owner_tier if category else place.tier,
            jurisdiction_id=place.id,
            seq=held.seq + 1,
            reason=AssignmentReason.DISPATCHED,
            assigned_at=now,
            catalogue_version=self._site.version,
            why=dispatched_explanation(
                self._site, file.case, sender, unit, place, room, [c.unit_id for c in named]
            ),
            co_handlers=named,
        )
        if not named:
            assignment = cohandling.with_co_handlers(self._site, file.case, assignment)
        files.put(replace(file, stage=Stage.ASSIGNED, assignment=assignment, queued=None, parts=()))
        return self._assigned(file.case, assignment, command, now, file.whole_case())

    def _not_a_unit(self, loc: str, unit_id: str) -> FieldError:
        msg = f"{unit_id!r} is not a unit of site {self._site.id}"
        return FieldError(loc=loc, msg=msg, type="unknown_reference")

    # --- lead and co-handlers (主办/协办) --------------------------------------------------

    def _report_part(self, command: ReportPart, now: datetime, files: CaseFiles) -> list[Emit]:
        """A co-handler reports its part done: on the story, and with its note on the
        lead's topic, naming the co-handlers still to report. Once none is left, the
        lead may report the case handled (:data:`router.workflow.GUARDS`)."""
        file, p = case_file(files, command), command.payload
        why = workflow_refusal(file.stage, command.type)
        if why is not None:
            raise conflict(command, file, why)
        held = file.assignment
        if p.seq != held.seq:
            raise conflict(command, file, f"seq {p.seq} is not its current assignment")
        if p.unit_id != command.sender or p.unit_id not in {c.unit_id for c in held.co_handlers}:
            raise conflict(command, file, f"{p.unit_id} is not a co-handler of seq {held.seq}")
        if p.unit_id in file.parts:
            raise conflict(command, file, f"{p.unit_id} has reported its part already")
        file = replace(file, parts=(*file.parts, p.unit_id))
        files.put(file)
        payload = PartReportedPayload(
            unit_id=p.unit_id,
            seq=p.seq,
            at=p.at,
            note=p.note,
            lead=held.unit_id,
            pending=list(file.pending()),
        )
        story, told = _story_and_told(CasePartReported, payload, file, command, now, "lead")
        return [story, _to_unit(told, held.unit_id)]

    # --- deadlines -------------------------------------------------------------------

    def _lapsed(self, message: DeadlineLapsed, now: datetime, files: CaseFiles) -> list[Emit]:
        file = case_file(files, message)
        lapse = message.payload
        why = stale_lapse(file, lapse)
        if why is not None:
            extra = {"case_id": file.case_id, "kind": lapse.kind.value, "seq": lapse.seq}
            log.debug("lapse ignored: %s", why, extra=extra)
            return []
        file = replace(file, lapsed=True)
        if lapse.kind in (DeadlineKind.DISPATCH, DeadlineKind.ASSIST):
            # Late, so it cannot close on time; the lapse reaches the room (the queue's
            # clock) or the co-handler from the escalator. The case does not move: it
            # waits for its dispatcher, or stays with its lead.
            files.put(file)
            return []
        return self._escalate(
            file, message, now, files, AssignmentReason.ESCALATED, lapse.kind, lapse.due_at
        )

    def _warned(self, message: DeadlineWarning, now: datetime, files: CaseFiles) -> list[Emit]:
        return []  # the notifier reminds the unit; the case does not move

    def _reminded(self, message: DeadlineReminder, now: datetime, files: CaseFiles) -> list[Emit]:
        """Supervision, not escalation: the case lapsed at the top and stays there. The
        reminder itself reaches the holder on its own topic and the supervisors through
        the notifier; the case does not move, and no second escalation is counted."""
        return []

    # --- escalation (升级) -------------------------------------------------------------

    def _escalate(
        self,
        file: CaseFile,
        cause: Envelope,
        now: datetime,
        files: CaseFiles,
        reason: AssignmentReason,
        kind: DeadlineKind | None = None,
        due_at: datetime | None = None,
    ) -> list[Emit]:
        """Up one tier, to the unit of the category's type there (else its default unit).

        Above the top tier there is no one to hand it to: the case is supervised
        (督办) - CaseEscalated with no target tells the supervisors - and the holder
        keeps it.
        """
        case, held = file.case, file.assignment
        up = held.tier.parent()
        referred = reason is AssignmentReason.REFERRED
        rule = RoutingRule.REFERRED if referred else RoutingRule.ESCALATED
        category = self._site.category(case.category)
        try:
            to = place(self._site, case, category_of(self._site, case), up, rule) if up else None
        except Rejected as unplaced:  # a dispatched case routing cannot place: back to 人工分拨
            file = replace(file, request=None, suspension=None, parts=())
            why = QueueReason.NO_CANDIDATE if category else QueueReason.UNKNOWN_CATEGORY
            detail = f"{reason} from {held.unit_id}, but {unplaced.message}"
            return self._queue(file, cause, now, files, why, None, detail[:2000])
        payload = EscalatedPayload(
            from_unit_id=held.unit_id,
            from_tier=held.tier,
            to_unit_id=to.unit.id if to else None,
            to_tier=up,
            reason=reason,
            deadline_kind=kind,
            due_at=due_at,
            seq=held.seq,
        )
        escalated = event(CaseEscalated, payload, file, cause, now)
        notice = _to_unit(escalated, held.unit_id)  # taken from it, or it is supervised
        file = replace(file, escalations=file.escalations + 1)
        if to is None:
            files.put(file)
            log.warning("case supervised at the top tier", extra={"case_id": case.case_id})
            return [escalated, notice]
        assignment = Assignment(
            unit_id=to.unit.id,
            unit_name=to.unit.name,
            tier=to.tier,
            owner_tier=held.owner_tier,
            jurisdiction_id=to.jurisdiction_id,
            seq=held.seq + 1,
            reason=reason,
            assigned_at=now,
            catalogue_version=self._site.version,
            why=to.why,
        )
        assignment = cohandling.with_co_handlers(self._site, case, assignment)
        files.put(
            replace(
                file,
                stage=Stage.ASSIGNED,
                assignment=assignment,
                request=None,
                suspension=None,
                parts=(),
            )
        )
        whole = file.whole_case()
        return [escalated, notice, *self._assigned(case, assignment, cause, now, whole)]


def _story_and_told(
    kind: type[Envelope], payload: Model, file: CaseFile, cause: Envelope, now: datetime, part: str
) -> tuple[Emit, Emit]:
    """The event for the shared story, without its free text, and the one for whom it
    concerns, with it: an id of its own (``part``), since its content differs."""
    return (
        event(kind, untold(payload), file, cause, now),
        event(kind, payload, file, cause, now, part),
    )


def _to_unit(emit: Emit, unit_id: str) -> Emit:
    """The same event, on the unit's own topic: what concerns the unit reaches it there."""
    return _to(emit, assignment_topic(unit_id).name)


def _to(emit: Emit, topic: str) -> Emit:
    """The same event on a sender's view topic, for the sender it concerns."""
    return Emit(topic=topic, key=emit.key, message=emit.message)

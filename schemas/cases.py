"""Case events: the canonical story of one case, written by the router alone.

Events are named in the past tense. They flow on ``gridflow.cases.events``; a
``CaseAssigned`` is also published on the holding unit's assignment topic.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.edges import (
    CatalogueVersion,
    CommandId,
    Comment,
    Count,
    ExtensionDays,
    Flag,
    Name,
    Note,
    PlaceId,
    Rating,
    Seq,
    Time,
    UnitId,
    Why,
)
from schemas.envelope import Envelope, Model
from schemas.reports import Case, CaseFacts, Tier


class Stage(StrEnum):
    """Where a case is in the closed loop (闭环)."""

    ASSIGNED = "assigned"  # 派遣: waiting for the unit to accept
    ACCEPTED = "accepted"  # 受理: the unit is working on it
    SUSPENDED = "suspended"  # 挂起: accepted, its clocks stopped until it is resumed
    QUEUED = "queued"  # 人工分拨: in a command room's dispatch queue, held by no unit
    HANDLED = "handled"  # 处置反馈: the unit reports it done; waiting for verification
    VERIFIED = "verified"  # 核查: checked on site; waiting for the resident's rating
    CLOSED = "closed"  # 结案归档


class AssignmentReason(StrEnum):
    INITIAL = "initial"  # first dispatch (调度分流)
    ESCALATED = "escalated"  # a deadline lapsed: up one tier
    REFERRED = "referred"  # the unit reported it beyond its powers (上报)
    REWORK = "rework"  # verification failed: back to the same unit
    RETURNED = "returned"  # the holder returned it as misrouted (退回): on to the next unit
    DISPATCHED = "dispatched"  # a dispatcher assigned it from the queue (人工分拨)


class DeadlineKind(StrEnum):
    ACCEPT = "accept"  # accept the same working day (当天受理)
    RESOLVE = "resolve"  # handle within the tier's working days
    REFER = "refer"  # beyond this tier: report up within N working days
    REMIND = "remind"  # lapsed at the top tier: the holder is reminded on a period (督办)
    DISPATCH = "dispatch"  # queued (人工分拨): the command room assigns it within its limit
    ASSIST = "assist"  # a co-handler (协办) reports its part within its tier's resolve limit


class LimitUnit(StrEnum):
    """What a limit counts (the counting rules: :mod:`escalator.calendar`)."""

    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    HOURS = "hours"


class Limit(Model):
    """How long a clock runs: an amount of a unit. 0 working days is the same working day."""

    amount: Count
    unit: LimitUnit = LimitUnit.WORKING_DAYS

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"


class RoutingRule(StrEnum):
    """The rule that chose an assignment's tier (see docs/ARCHITECTURE.md, Routing)."""

    OWNER_TIER = "owner_tier"  # stepwise, first dispatch: the tier whose duty it is
    ENTRY_TIER = "entry_tier"  # stepwise, owned above the entry tier: held there, referred up
    FLAT = "flat"  # flat mode (扁平化), first dispatch: straight to the owning tier
    ESCALATED = "escalated"  # a deadline lapsed: one tier up (升级)
    REFERRED = "referred"  # the holder reported it beyond its powers: one tier up (上报)
    REWORK = "rework"  # verification failed: the same unit again (返工)
    RETURNED = "returned"  # the holder returned it (退回): the next unit routing allows
    DISPATCHED = "dispatched"  # a dispatcher assigned it from the queue (人工分拨)


class UnitChoice(StrEnum):
    """How the unit was chosen at the tier's serving jurisdiction."""

    TYPED = "typed"  # a unit of the category's department type
    DEFAULT = "default"  # none of that type there: the jurisdiction's default unit (兜底)
    SAME = "same"  # the unit that held it (rework)
    CHOSEN = "chosen"  # the unit a dispatcher named (人工分拨)


class PathStep(Model):
    """One jurisdiction walked from the case's grid to the one whose unit serves it."""

    jurisdiction_id: PlaceId
    tier: Tier
    name: Name


class Explanation(Model):
    """Why an assignment went where it went: the rule, the unit's choice, the path."""

    rule: RoutingRule
    unit_choice: UnitChoice
    unit_type: Name = Field(description="The department type the category's owner is.")
    text: Why = Field(description="The reason in words (English, with the Chinese terms).")
    path: list[PathStep] = Field(
        default_factory=list,
        max_length=32,
        description="The jurisdictions walked, from the case's grid up to the serving one.",
    )


class Role(StrEnum):
    """A unit's part in a case several units work (主办/协办)."""

    LEAD = "lead"  # 主办: holds the case, reports it handled once every co-handler has
    CO_HANDLER = "co_handler"  # 协办: does its part and reports it to the lead


class CoHandler(Model):
    """A unit that co-handles (协办) a case beside the lead, and where it serves."""

    unit_id: UnitId
    unit_name: Name
    tier: Tier
    jurisdiction_id: PlaceId
    unit_type: Name = Field(description="The department type it was chosen for.")


class Assignment(Model):
    """Who holds a case now, and why."""

    unit_id: UnitId
    unit_name: Name
    tier: Tier = Field(description="The holding unit's tier.")
    owner_tier: Tier = Field(description="The tier whose duty the category is.")
    jurisdiction_id: PlaceId = Field(description="The jurisdiction the unit serves.")
    seq: Seq = Field(description="1 for the first assignment, +1 for each reassignment.")
    reason: AssignmentReason
    assigned_at: Time
    catalogue_version: CatalogueVersion | None = Field(
        default=None,
        description="The version of the site catalogue that made it (Site.version); none "
        "on assignments made before catalogues had versions.",
    )
    why: Explanation | None = Field(
        default=None, description="Why it went here; none on assignments made before."
    )
    role: Role = Field(
        default=Role.LEAD,
        description="lead (主办) on the holder's; co_handler (协办) on the copy a co-handler "
        "receives on its own topic, whose unit_id is then the co-handler's.",
    )
    co_handlers: list[CoHandler] = Field(
        default_factory=list,
        max_length=8,
        description="The co-handlers (协办) of this assignment, from the category or the "
        "dispatcher; the lead reports the case handled once each has reported its part.",
    )


class CaseReceived(Envelope):
    """Intake accepted a report; the case exists from here on."""

    type: Literal["case.received"] = "case.received"
    payload: Case


LIMIT_DESCRIPTION = "The clock's limit, in its unit (working days, calendar days or hours)."
POLICY_DESCRIPTION = (
    "The name of the site's override (deadlines.overrides) that set the limit; none when it "
    "is the holding tier's own."
)


class Due(Model):
    """One clock the assignment starts, and when it runs out (the escalator's own)."""

    kind: DeadlineKind
    working_days: Count | None = Field(
        default=None, description="The limit when it is counted in working days, else none."
    )
    limit: Limit | None = Field(default=None, description=LIMIT_DESCRIPTION)
    policy: str | None = Field(default=None, max_length=64, description=POLICY_DESCRIPTION)
    due_at: Time
    warn_at: Time | None = Field(
        default=None, description="When the unit is first warned, if at all."
    )
    warnings: list[Time] = Field(
        default_factory=list,
        max_length=16,
        description="Every moment the unit is warned, in order (the site's warning policy).",
    )
    provisional: Flag = Field(
        default=False,
        description="Counted on a day of a year whose official holiday schedule was not "
        "known yet (the statutory holidays alone): it may move when the schedule comes, "
        "and a deadline.rescheduled then says so.",
    )


class CaseAssignedPayload(Model):
    assignment: Assignment
    case: CaseFacts = Field(description="The case's ids, codes and times; no personal data.")
    due: list[Due] = Field(
        default_factory=list,
        max_length=3,
        description="Each clock the assignment starts and its due time, as on the unit's "
        "case.dispatched; empty on assignments told before the story carried them.",
    )


class CaseAssigned(Envelope):
    """The router dispatched (派遣) the case to a unit: the shared story's record of it."""

    type: Literal["case.assigned"] = "case.assigned"
    payload: CaseAssignedPayload


class CaseDispatchedPayload(Model):
    assignment: Assignment
    case: Case = Field(description="The whole case, reporter and location included.")
    due: list[Due] = Field(
        default_factory=list,
        max_length=3,
        description="Each clock the assignment starts (accept, resolve, refer) and its due time.",
    )


class CaseDispatched(Envelope):
    """The case as the holding unit receives it on its own topic, whole.

    Derived from the same cause as the ``case.assigned`` beside it on the story,
    so it carries the same assignment; only the holding unit reads it.
    """

    type: Literal["case.dispatched"] = "case.dispatched"
    payload: CaseDispatchedPayload


class StepPayload(Model):
    """One step of the loop done by the holding unit."""

    unit_id: UnitId
    seq: Seq = Field(description="The assignment this step belongs to.")
    at: Time
    note: Note | None = None


class CaseAccepted(Envelope):
    type: Literal["case.accepted"] = "case.accepted"
    payload: StepPayload


class CaseHandled(Envelope):
    type: Literal["case.handled"] = "case.handled"
    payload: StepPayload


class VerifiedPayload(StepPayload):
    passed: Flag


class CaseVerified(Envelope):
    type: Literal["case.verified"] = "case.verified"
    payload: VerifiedPayload


class Satisfaction(StrEnum):
    """The resident's verdict (评价), as the hotlines record it, from the 1-5 rating."""

    SATISFIED = "satisfied"  # 满意: 4 or 5
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意: 3
    UNSATISFIED = "unsatisfied"  # 不满意: 1 or 2; the case is reopened to the same unit

    @classmethod
    def of(cls, rating: int) -> Satisfaction:
        if rating >= 4:
            return cls.SATISFIED
        return cls.BASICALLY_SATISFIED if rating == 3 else cls.UNSATISFIED


class RatedPayload(Model):
    at: Time
    rating: Rating = Field(
        description="5 very satisfied ... 1 very dissatisfied: 4-5 satisfied (满意), 3 "
        "basically satisfied (基本满意), 1-2 unsatisfied (不满意), which reopens the case."
    )
    comment: Comment | None = None


class ReopenCause(StrEnum):
    """Why a case went back to the unit that handled it (重办)."""

    VERIFICATION_FAILED = "verification_failed"  # 核查不通过
    UNSATISFIED = "unsatisfied"  # the resident's rating was 不满意


class ReopenedPayload(Model):
    """A reopening: the case goes back to the same unit under a new assignment."""

    unit_id: UnitId = Field(description="The unit that handled it, which has it again.")
    seq: Seq = Field(description="The new assignment (the rework).")
    at: Time = Field(description="When the router reopened it.")
    cause: ReopenCause
    reopenings: Count = Field(description="How many times the case has been reopened, this too.")


class CaseReopened(Envelope):
    """The case was reopened to the same unit (重办): a failed check or an unsatisfied rating."""

    type: Literal["case.reopened"] = "case.reopened"
    payload: ReopenedPayload


class FollowUpPayload(Model):
    """A follow-up call to the resident (回访) and what the resident said.

    The answers are the hotlines' "three rates" (三率) questions: whether the unit
    contacted the resident (响应), and whether the matter is solved (解决); the
    satisfaction (满意) is the rating (``case.rate``)."""

    at: Time
    reached: Flag = Field(description="The resident answered the call.")
    responded: bool | None = Field(
        default=None,
        description="The resident says the unit contacted them (响应); none "
        "when not reached or not asked.",
    )
    resolved: bool | None = Field(
        default=None,
        description="The resident says the matter is solved (解决); none when "
        "not reached or not asked.",
    )
    note: Note | None = Field(
        default=None, description="The caller's free text: never on the story."
    )


class CaseFollowedUp(Envelope):
    """The channel (or a verifier) called the resident back (回访); the case does not move."""

    type: Literal["case.followed_up"] = "case.followed_up"
    payload: FollowUpPayload


class CaseRated(Envelope):
    type: Literal["case.rated"] = "case.rated"
    payload: RatedPayload


class ClosedPayload(Model):
    at: Time
    unit_id: UnitId
    tier: Tier
    escalations: Count
    on_time: Flag = Field(description="Handled before every deadline of the case lapsed.")
    rating: Rating | None = None


class CaseClosed(Envelope):
    type: Literal["case.closed"] = "case.closed"
    payload: ClosedPayload


class EscalatedPayload(Model):
    from_unit_id: UnitId
    from_tier: Tier
    to_unit_id: UnitId | None = Field(description="None when no tier is left above: supervised.")
    to_tier: Tier | None
    reason: AssignmentReason
    deadline_kind: DeadlineKind | None = None
    due_at: Time | None = None
    seq: Seq | None = Field(
        default=None, description="The assignment it was taken from (or, at the top, pressed)."
    )


class CaseEscalated(Envelope):
    """The case went up a tier (升级); supervisors are told (督办)."""

    type: Literal["case.escalated"] = "case.escalated"
    payload: EscalatedPayload


class SupervisedPayload(Model):
    """Supervision (督办): who pressed the holder, when, and what for."""

    at: Time
    note: Note | None = None


class SupervisionPayload(SupervisedPayload):
    by: UnitId = Field(description="The supervisor who sent it.")
    unit_id: UnitId = Field(description="The unit holding the case, which is pressed.")
    seq: Seq = Field(description="The assignment it presses.")


class CaseSupervised(Envelope):
    """A supervisor pressed the holding unit on the case (督办)."""

    type: Literal["case.supervised"] = "case.supervised"
    payload: SupervisionPayload


# --- suspension and extension (挂起, 延期) ------------------------------------------------


class RequestKind(StrEnum):
    """What a holder asks the command room for."""

    SUSPENSION = "suspension"  # 挂起: stop the clocks while the case waits on someone else
    EXTENSION = "extension"  # 延期: more working days to resolve it


class RequestReason(StrEnum):
    """Why a holder asks: a code, so that the shared story says why without free text."""

    AWAITING_REPORTER = "awaiting_reporter"  # 等待群众配合、补充材料
    AWAITING_OTHER_PARTY = "awaiting_other_party"  # 等待其他部门、第三方或鉴定结论
    LEGAL_PROCEDURE = "legal_procedure"  # 进入司法、行政复议或仲裁程序
    FORCE_MAJEURE = "force_majeure"  # 天气、不可抗力
    COMPLEX_MATTER = "complex_matter"  # 情况复杂，需要更多办理时间
    OTHER = "other"  # the note says what


class SuspensionRequestPayload(StepPayload):
    """The holder asks to suspend the case (挂起); note says more, for the command room."""

    reason: RequestReason
    until: Time | None = Field(
        default=None,
        description="When the holder expects the wait to end; it resumes the case itself "
        "(case.resume), so this only informs the command room.",
    )


class ExtensionRequestPayload(StepPayload):
    """The holder asks for more working days (延期); note says more, for the command room."""

    reason: RequestReason
    working_days: ExtensionDays = Field(
        description="Working days added to the resolve (or refer) deadline, counted from "
        "the day it falls due."
    )


class DecisionPayload(Model):
    """The command room's answer to a holder's open request."""

    request_id: CommandId = Field(description="The event_id of the request command decided.")
    approved: Flag
    at: Time
    note: Note | None = Field(default=None, description="Why, for the holding unit.")


class RequestFacts(Model):
    """Who did what to which request, on which assignment, and when."""

    request_id: CommandId = Field(
        description="The request's id: the event_id the holder gave its request command."
    )
    by: UnitId = Field(description="Who sent the command: the holder, or the command room.")
    unit_id: UnitId = Field(description="The unit holding the case.")
    seq: Seq = Field(description="The assignment the request belongs to.")
    at: Time
    note: Note | None = Field(
        default=None, description="The sender's free text: on the copies, never on the story."
    )


class SuspensionRequested(RequestFacts):
    reason: RequestReason
    until: Time | None = None


class ExtensionRequested(RequestFacts):
    reason: RequestReason
    working_days: ExtensionDays


class CaseSuspensionRequested(Envelope):
    """The holder asked to suspend the case (挂起申请); the command room decides."""

    type: Literal["case.suspension_requested"] = "case.suspension_requested"
    payload: SuspensionRequested


class CaseExtensionRequested(Envelope):
    """The holder asked for an extension (延期申请); the command room decides."""

    type: Literal["case.extension_requested"] = "case.extension_requested"
    payload: ExtensionRequested


class CaseSuspended(Envelope):
    """The command room approved a suspension: the case's clocks stop (挂起)."""

    type: Literal["case.suspended"] = "case.suspended"
    payload: SuspensionRequested


class CaseExtended(Envelope):
    """The command room approved an extension: the escalator moves the deadline (延期)."""

    type: Literal["case.extended"] = "case.extended"
    payload: ExtensionRequested


class RefusedRequest(RequestFacts):
    kind: RequestKind


class CaseRequestRefused(Envelope):
    """The command room refused a suspension or an extension: the clocks run on."""

    type: Literal["case.request_refused"] = "case.request_refused"
    payload: RefusedRequest


class CaseResumed(Envelope):
    """The wait is over (解挂): the clocks run again with the working time they had left.

    ``request_id`` names the suspension it ends."""

    type: Literal["case.resumed"] = "case.resumed"
    payload: RequestFacts


# --- returns and manual dispatch (退回, 人工分拨) ---------------------------------------


class ReturnReason(StrEnum):
    """Why a holder returns a case: a code, so that the story says why without free text."""

    NOT_OUR_DUTY = "not_our_duty"  # 非本单位职责
    OUTSIDE_JURISDICTION = "outside_jurisdiction"  # 不属本辖区
    WRONG_CATEGORY = "wrong_category"  # 分类错误
    OTHER = "other"  # the note says what


class QueueReason(StrEnum):
    """Why a case waits in a command room's dispatch queue (人工分拨)."""

    TOO_MANY_RETURNS = "too_many_returns"  # returned routing.max_returns times
    NO_CANDIDATE = "no_candidate"  # every unit routing could send it to has returned it
    UNKNOWN_CATEGORY = "unknown_category"  # its category is not in the site's catalogue
    OFF_MAP = "off_map"  # its point lies in no grid of the site


class ReturnPayload(StepPayload):
    """The holder returns the case as misrouted (退回); note says more, for the next one."""

    reason: ReturnReason


class ReturnedPayload(Model):
    """A return: who returned which assignment, why, and where the case went."""

    by: UnitId = Field(description="The unit that returned it: the holder.")
    unit_id: UnitId = Field(description="The unit that held it until now (the same).")
    seq: Seq = Field(description="The assignment returned.")
    at: Time
    reason: ReturnReason
    note: Note | None = Field(
        default=None, description="The returner's free text: on the copies, never on the story."
    )
    returns: Count = Field(description="How many times the case has been returned, this one too.")
    to_unit_id: UnitId | None = Field(
        description="The unit it was sent on to; none when it went to the dispatch queue."
    )


class CaseReturned(Envelope):
    """The holder returned the case as misrouted (退回): on to the next unit, or the queue."""

    type: Literal["case.returned"] = "case.returned"
    payload: ReturnedPayload


class QueuedPayload(Model):
    """A case put in a command room's dispatch queue (人工分拨), and why."""

    reason: QueueReason
    at: Time = Field(description="When the router queued it: the queue's clock starts here.")
    room: UnitId | None = Field(
        description="The command room (approver) told, nearest the last holder; none when "
        "the site has none there."
    )
    seq: Seq = Field(
        description="The last assignment, the one returned; for a case queued on arrival, "
        "1, the queue's own (no unit held it)."
    )
    detail: Why | None = Field(
        default=None,
        description="The reason in words: the unknown category, the site the point is off, "
        "the returns.",
    )
    returned_by: list[UnitId] = Field(
        max_length=64, description="Every unit that returned it, in order: never sent back."
    )
    note: Note | None = Field(
        default=None, description="The last return's note: on the room's copy, never the story."
    )


class CaseQueued(Envelope):
    """The case waits in a command room's dispatch queue until a dispatcher assigns it."""

    type: Literal["case.queued"] = "case.queued"
    payload: QueuedPayload


class DispatchPayload(Model):
    """A dispatcher's assignment from the queue (人工分拨): to which unit, and why."""

    unit_id: UnitId = Field(description="The unit the case is assigned to.")
    at: Time
    note: Note | None = Field(default=None, description="Why, for the unit.")
    co_handlers: list[UnitId] = Field(
        default_factory=list,
        max_length=8,
        description="Units that co-handle it (协办) beside the lead named by unit_id: each is "
        "told on its own topic and reports its part; none: the category's, if it has any.",
    )


# --- lead and co-handlers (主办/协办) ---------------------------------------------------


class PartReportedPayload(StepPayload):
    """A co-handler reports its part of the case done (协办反馈): to the lead, and on the story.

    ``unit_id`` is the co-handler; ``seq`` the assignment it co-handles."""

    lead: UnitId = Field(description="The lead (主办) holding the case.")
    pending: list[UnitId] = Field(
        max_length=8,
        description="The co-handlers still to report after this one; empty: the lead may "
        "report the case handled.",
    )


class CasePartReported(Envelope):
    """A co-handler (协办) reported its part; the lead is told on its own topic."""

    type: Literal["case.part_reported"] = "case.part_reported"
    payload: PartReportedPayload

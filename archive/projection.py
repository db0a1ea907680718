"""The case projection: one summary row per case, folded from its events by a pure function.

Events reach the archive from several topics, so one case's events can arrive out
of order (``case.assigned`` before ``case.received`` when the partitions of
``gridflow.cases.received`` and ``gridflow.cases.events`` are read at different
paces). :func:`project` therefore accepts any event first and follows these rules:

- Any case event, ``case.received`` or deadline event creates the row when there
  is none; later events fill in what earlier ones did not carry.
- Stage. ``closed`` is final. ``case.received`` sets ``received`` only while no stage
  is known. Any other stage-bearing event (assigned, accepted, suspended, resumed
  (back to ``accepted``), queued (人工分拨), handled, verified with ``passed``, closed)
  sets the stage
  when its ``occurred_at`` is at or after ``stage_at``, the time of the event that
  set the current stage; an older event
  that arrives late fills in its own timestamp but leaves the stage alone. Ties go
  to the later arrival: the router writes a case's events in order on one
  partition. The stage may move back (an escalation or a rework makes it
  ``assigned`` again) because a newer event says so, never because an old one
  arrived late, and no timestamp is lost when it does.
- Holder (``unit_id``, ``tier``, ``owner_tier``): the assignment with the highest
  ``seq``, whatever the arrival order; ``due_at`` is its resolve (or refer) due time,
  moved by the extensions approved for it (``case.extended``: their working days add
  up in ``extension_days``, and the archive stamps the due time they give). A
  suspension does not move it here: the escalator restarts the clock on resume with
  the time it had left, which the archive does not see.
- Timestamps: ``assigned_at`` is the first assignment; ``accepted_at``,
  ``handled_at`` and ``verified_at`` (a passed check only) the latest, i.e. the
  step that finished the loop.
- Counters (escalations, lapsed deadlines, warnings) count events. The caller
  projects an event only the first time it is archived, so they never double.

Residents' names, phones and addresses are never copied here: they stay in the
archived event payloads only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from router.workflow import RECEIVED, REOPENING_REASONS
from schemas.cases import (
    AssignmentReason,
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseExtended,
    CaseFollowedUp,
    CaseHandled,
    CaseQueued,
    CaseRated,
    CaseReceived,
    CaseReopened,
    CaseResumed,
    CaseSupervised,
    CaseSuspended,
    CaseVerified,
    DeadlineKind,
    Stage,
)
from schemas.deadlines import DeadlineLapsed, DeadlineWarning
from schemas.duplicates import CaseLinked
from schemas.envelope import Envelope
from schemas.reports import CaseFacts

DUPLICATE = "duplicate"
"""A report linked to an open case (重复件, ``case.linked``): counted apart, never open."""
STAGES = (RECEIVED, *(s.value for s in Stage), DUPLICATE)


@dataclass(frozen=True)
class CaseRow:
    """What the archive knows about one case (archive_cases); no personal data."""

    case_id: str
    channel: str | None = None
    category: str | None = None
    grid_id: str | None = None
    stage: str | None = None  # one of STAGES; None while only deadline events are known
    stage_at: datetime | None = None  # occurred_at of the event that set the stage
    unit_id: str | None = None  # the current holder (the closing unit once closed)
    tier: str | None = None
    owner_tier: str | None = None
    seq: int = 0  # the holder's assignment seq; 0 before any assignment
    received_at: datetime | None = None
    reported_at: datetime | None = None
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    handled_at: datetime | None = None
    verified_at: datetime | None = None
    closed_at: datetime | None = None
    escalations: int = 0
    lapsed_deadlines: int = 0
    deadline_warnings: int = 0
    on_time: bool | None = None
    rating: int | None = None
    last_event_at: datetime | None = None
    external_id: str | None = None  # the channel's own number: a hotline's work order (工单号)
    first_accepted_at: datetime | None = None  # the first acceptance (受理), by any holder
    accept_due_at: datetime | None = None  # the first assignment's same-day accept limit
    due_at: datetime | None = None  # the current assignment's resolve (or refer) due time
    rated_at: datetime | None = None  # when the latest rating was given
    followed_up_at: datetime | None = None  # the latest follow-up call that reached them
    reopenings: int = 0  # sent back to the unit (重办): a failed check, an unsatisfied rating
    referrals: int = 0  # referred up by the holder (上报)
    supervisions: int = 0  # pressed by a supervisor (督办)
    responded: bool | None = None  # the resident says the unit contacted them (响应)
    resolved: bool | None = None  # the resident says the matter is solved (解决)
    handling_days: int | None = None  # working days, first dispatch to last handling report:
    # not folded from an event but stamped by the archive (archive.kpi.HandlingClock)
    assignment_due_at: datetime | None = None  # the current assignment's due_at as dispatched
    extension_days: int = 0  # working days the command room added to it since (延期)


def _first(old: datetime | None, new: datetime) -> datetime:
    return new if old is None or new < old else old


def _latest(old: datetime | None, new: datetime) -> datetime:
    return new if old is None or new > old else old


def _staged(row: CaseRow, stage: Stage, e: Envelope) -> CaseRow:
    """Move to ``stage`` unless closed, or unless the current stage is newer (see module doc)."""
    if row.stage == Stage.CLOSED.value:
        return row
    if row.stage_at is not None and e.occurred_at < row.stage_at:
        return row
    return replace(row, stage=stage.value, stage_at=e.occurred_at)


def _case_facts(row: CaseRow, case: CaseFacts) -> CaseRow:
    """Fill the case's own facts where they are missing (never its reporter or location)."""
    return replace(
        row,
        channel=row.channel or case.channel.value,
        category=row.category or case.category,
        grid_id=row.grid_id or case.grid_id,
        received_at=row.received_at or case.received_at,
        reported_at=row.reported_at or case.reported_at,
        external_id=row.external_id or case.external_id,
    )


def _received(row: CaseRow, e: CaseReceived) -> CaseRow:
    row = _case_facts(row, e.payload)
    return replace(row, stage=RECEIVED) if row.stage is None else row


def _due(e: CaseAssigned, *kinds: DeadlineKind) -> datetime | None:
    """The due time of the first of ``kinds`` the assignment starts a clock for."""
    by_kind = {d.kind: d.due_at for d in e.payload.due}
    return next((by_kind[k] for k in kinds if k in by_kind), None)


def _assigned(row: CaseRow, e: CaseAssigned) -> CaseRow:
    a = e.payload.assignment
    row = _case_facts(row, e.payload.case)
    row = replace(row, assigned_at=_first(row.assigned_at, a.assigned_at))
    if a.seq == 1:
        row = replace(row, accept_due_at=_due(e, DeadlineKind.ACCEPT))
    if a.seq >= row.seq:
        due = _due(e, DeadlineKind.RESOLVE, DeadlineKind.REFER)
        row = replace(
            row,
            unit_id=a.unit_id,
            tier=a.tier.value,
            owner_tier=a.owner_tier.value,
            seq=a.seq,
            due_at=due,
            assignment_due_at=due,
            extension_days=row.extension_days if a.seq == row.seq else 0,
        )
    # a rework goes back to a unit that has accepted the case already (router.workflow)
    stage = Stage.ACCEPTED if a.reason in REOPENING_REASONS else Stage.ASSIGNED
    return _staged(row, stage, e)


def _accepted(row: CaseRow, e: CaseAccepted) -> CaseRow:
    at = e.payload.at
    row = replace(
        row,
        accepted_at=_latest(row.accepted_at, at),
        first_accepted_at=_first(row.first_accepted_at, at),
    )
    return _staged(row, Stage.ACCEPTED, e)


def _handled(row: CaseRow, e: CaseHandled) -> CaseRow:
    row = replace(row, handled_at=_latest(row.handled_at, e.payload.at))
    return _staged(row, Stage.HANDLED, e)


def _verified(row: CaseRow, e: CaseVerified) -> CaseRow:
    if not e.payload.passed:  # back to the unit: the reopening moves the stage
        return row
    row = replace(row, verified_at=_latest(row.verified_at, e.payload.at))
    return _staged(row, Stage.VERIFIED, e)


def _rated(row: CaseRow, e: CaseRated) -> CaseRow:
    """The latest rating stands (an unsatisfied one reopened the case; a later one closed it)."""
    at = e.payload.at
    if row.rated_at is not None and at < row.rated_at:
        return row
    return replace(row, rating=e.payload.rating, rated_at=at)


def _reopened(row: CaseRow, e: CaseReopened) -> CaseRow:
    row = replace(row, reopenings=row.reopenings + 1)
    return _staged(row, Stage.ACCEPTED, e)


def _followed_up(row: CaseRow, e: CaseFollowedUp) -> CaseRow:
    """The latest call that reached the resident holds their answers."""
    p = e.payload
    if not p.reached or (row.followed_up_at is not None and p.at < row.followed_up_at):
        return row
    return replace(row, followed_up_at=p.at, responded=p.responded, resolved=p.resolved)


def _supervised(row: CaseRow, e: CaseSupervised) -> CaseRow:
    return replace(row, supervisions=row.supervisions + 1)


def _closed(row: CaseRow, e: CaseClosed) -> CaseRow:
    p = e.payload
    row = replace(
        row,
        closed_at=p.at,
        on_time=p.on_time,
        rating=row.rating if row.rating is not None else p.rating,
        unit_id=row.unit_id or p.unit_id,
        tier=row.tier or p.tier.value,
    )
    return _staged(row, Stage.CLOSED, e)


def _suspended(row: CaseRow, e: CaseSuspended) -> CaseRow:
    return _staged(row, Stage.SUSPENDED, e)


def _extended(row: CaseRow, e: CaseExtended) -> CaseRow:
    """An approved extension of the current assignment: its working days are added up,
    and the archive stamps the due time they give (archive.kpi.HandlingClock), as the
    escalator moves the clock (escalator.suspension.extended)."""
    p = e.payload
    if row.stage == Stage.CLOSED.value or (p.seq, p.unit_id) != (row.seq, row.unit_id):
        return row
    return replace(row, extension_days=row.extension_days + p.working_days)


def _resumed(row: CaseRow, e: CaseResumed) -> CaseRow:
    return _staged(row, Stage.ACCEPTED, e)


def _linked(row: CaseRow, e: CaseLinked) -> CaseRow:
    """A duplicate: its facts, and the stage that keeps it out of the open cases."""
    row = _case_facts(row, e.payload.case)
    return replace(row, stage=DUPLICATE, stage_at=e.occurred_at)


def _queued(row: CaseRow, e: CaseQueued) -> CaseRow:
    return _staged(row, Stage.QUEUED, e)


def _escalated(row: CaseRow, e: CaseEscalated) -> CaseRow:
    """Every move up (升级, 上报) counts; referrals also apart."""
    referred = e.payload.reason is AssignmentReason.REFERRED
    return replace(row, escalations=row.escalations + 1, referrals=row.referrals + referred)


def _lapsed(row: CaseRow, e: DeadlineLapsed) -> CaseRow:
    return replace(row, lapsed_deadlines=row.lapsed_deadlines + 1)


def _warned(row: CaseRow, e: DeadlineWarning) -> CaseRow:
    return replace(row, deadline_warnings=row.deadline_warnings + 1)


# Which events the projection answers, and how: the one map from message type to fold.
FOLDS: dict[type[Envelope], Callable[[CaseRow, Any], CaseRow]] = {
    CaseReceived: _received,
    CaseAssigned: _assigned,
    CaseAccepted: _accepted,
    CaseHandled: _handled,
    CaseVerified: _verified,
    CaseRated: _rated,
    CaseClosed: _closed,
    CaseEscalated: _escalated,
    CaseSuspended: _suspended,
    CaseExtended: _extended,
    CaseResumed: _resumed,
    CaseQueued: _queued,
    CaseLinked: _linked,
    CaseReopened: _reopened,
    CaseFollowedUp: _followed_up,
    CaseSupervised: _supervised,
    DeadlineLapsed: _lapsed,
    DeadlineWarning: _warned,
}


def projects(event: Envelope) -> bool:
    """True when ``event`` changes a case row (notifications and dead letters do not)."""
    return event.case_id is not None and type(event) in FOLDS


def project(row: CaseRow | None, event: Envelope) -> CaseRow | None:
    """The case row after ``event``: ``row`` itself when the event does not concern it."""
    fold = FOLDS.get(type(event))
    if fold is None or event.case_id is None:
        return row
    if row is None:
        row = CaseRow(case_id=event.case_id)
    row = fold(row, event)
    return replace(row, last_event_at=_latest(row.last_event_at, event.occurred_at))


_BY_TYPE: dict[str, type[Envelope]] = {kind.TYPE: kind for kind in FOLDS}


def replay(events: Iterable[Mapping[str, Any]]) -> dict[str, CaseRow]:
    """The case rows folded from archived events (``archive_events`` rows as mappings),
    in the order given: the archive's arrival order gives the live projection's rows
    (``gridflow archive rebuild``). Events the projection does not fold are skipped."""
    rows: dict[str, CaseRow] = {}
    for stored in events:
        kind = _BY_TYPE.get(stored["type"])
        case_id = stored["case_id"]
        if kind is None or case_id is None:
            continue
        envelope = kind.model_validate(
            {name: stored[name] for name in _ENVELOPE_FIELDS if name in stored}
        )
        new = project(rows.get(case_id), envelope)
        if new is not None:
            rows[case_id] = new
    return rows


_ENVELOPE_FIELDS = (
    "event_id",
    "type",
    "case_id",
    "occurred_at",
    "producer",
    "correlation_id",
    "causation_id",
    "schema_version",
    "payload",
)

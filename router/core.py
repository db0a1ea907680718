"""The router processor: dispatch (派遣), the loop's steps, and escalation (升级).

Inputs: new cases (``gridflow.cases.received``), the commands of the people who
work them (``gridflow.cases.updates``) and deadlines (``gridflow.deadlines``).
Output: the canonical case story on ``gridflow.cases.events``, and every
assignment also on the holding unit's ``gridflow.assignments.<unit_id>``.

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

from router.checks import WORKING, case_file, conflict, differences, holding, stale_lapse
from router.ports import CaseFile, CaseFiles, CaseStore
from router.routing import category_of, initial_placement, place
from router.story import PRODUCER, assigned, event
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAccepted,
    CaseClosed,
    CaseEscalated,
    CaseHandled,
    CaseRated,
    CaseReceived,
    CaseVerified,
    ClosedPayload,
    DeadlineKind,
    EscalatedPayload,
    Stage,
)
from schemas.catalogue import Site
from schemas.commands import AcceptCase, RateCase, ReferUp, ReportHandled, VerifyCase
from schemas.deadletter import Rejected, RejectionReason
from schemas.deadlines import DeadlineLapsed, DeadlineWarning
from schemas.envelope import Envelope, Model
from schemas.processing import Inbound, Outcome
from schemas.topics import CASE_UPDATES, CASES_RECEIVED, DEADLINES, Emit

__all__ = ["CaseFile", "Router"]

log = logging.getLogger(__name__)

Handler = Callable[[Any, datetime, CaseFiles], list[Emit]]


class Router:
    """Processor ``router``: owns the case workflow; the one writer of case events."""

    name = PRODUCER
    topics = (CASES_RECEIVED.name, CASE_UPDATES.name, DEADLINES.name)

    def __init__(self, site: Site, store: CaseStore) -> None:
        self._site = site
        self._store = store
        # The one map from message type to handler.
        self.handlers: dict[type[Model], Handler] = {
            CaseReceived: self._received,
            AcceptCase: self._accept,
            ReportHandled: self._report_handled,
            VerifyCase: self._verify,
            RateCase: self._rate,
            ReferUp: self._refer_up,
            DeadlineLapsed: self._lapsed,
            DeadlineWarning: self._warned,
        }

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        ids = {m.case_id for m in (i.message for i in batch) if isinstance(m, Envelope)}
        files = CaseFiles(self._store.load({i for i in ids if i is not None}))
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
        return handler(message, now, files)

    def tick(self, now: datetime) -> list[Emit]:
        return []

    # --- dispatch (调度分流 / 派遣) ------------------------------------------------

    def _received(self, message: CaseReceived, now: datetime, files: CaseFiles) -> list[Emit]:
        case = message.payload
        known = files.get(case.case_id)
        if known is not None:
            return self._resent(message, known)
        category, to = initial_placement(self._site, case)
        assignment = Assignment(
            unit_id=to.unit.id,
            unit_name=to.unit.name,
            tier=to.tier,
            owner_tier=category.tier,
            jurisdiction_id=to.jurisdiction_id,
            seq=1,
            reason=AssignmentReason.INITIAL,
            assigned_at=now,
        )
        files.put(CaseFile.opened(case, assignment))
        return assigned(case, assignment, message, now, case)

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
        file = holding(case_file(files, command), command, (Stage.ASSIGNED,))
        files.put(replace(file, stage=Stage.ACCEPTED))
        return [event(CaseAccepted, command.payload, file, command, now)]

    def _report_handled(
        self, command: ReportHandled, now: datetime, files: CaseFiles
    ) -> list[Emit]:
        file = holding(case_file(files, command), command, (Stage.ACCEPTED,))
        files.put(replace(file, stage=Stage.HANDLED))
        return [event(CaseHandled, command.payload, file, command, now)]

    def _verify(self, command: VerifyCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """Passed: on to the rating. Failed: back to the same unit, which has
        accepted it already, under a new assignment (rework)."""
        file = holding(case_file(files, command), command, (Stage.HANDLED,))
        verified = event(CaseVerified, command.payload, file, command, now)
        if command.payload.passed:
            files.put(replace(file, stage=Stage.VERIFIED))
            return [verified]
        held = file.assignment
        rework = held.model_copy(
            update={"seq": held.seq + 1, "reason": AssignmentReason.REWORK, "assigned_at": now}
        )
        files.put(replace(file, stage=Stage.ACCEPTED, assignment=rework))
        return [verified, *assigned(file.case, rework, command, now, file.whole_case())]

    def _rate(self, command: RateCase, now: datetime, files: CaseFiles) -> list[Emit]:
        """The resident's rating closes the case (评价 -> 结案)."""
        file = holding(case_file(files, command), command, (Stage.VERIFIED,))
        held, rating = file.assignment, command.payload.rating
        closed = ClosedPayload(
            at=now,
            unit_id=held.unit_id,
            tier=held.tier,
            escalations=file.escalations,
            on_time=not file.lapsed,
            rating=rating,
        )
        files.put(replace(file, stage=Stage.CLOSED, rating=rating))
        return [
            event(CaseRated, command.payload, file, command, now),
            event(CaseClosed, closed, file, command, now),
        ]

    def _refer_up(self, command: ReferUp, now: datetime, files: CaseFiles) -> list[Emit]:
        """The holder reports the case beyond its powers (上报)."""
        file = holding(case_file(files, command), command, WORKING)
        if file.assignment.tier.parent() is None:
            raise conflict(command, file, "there is no tier above it to refer to")
        return self._escalate(file, command, now, files, AssignmentReason.REFERRED)

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
        return self._escalate(
            file, message, now, files, AssignmentReason.ESCALATED, lapse.kind, lapse.due_at
        )

    def _warned(self, message: DeadlineWarning, now: datetime, files: CaseFiles) -> list[Emit]:
        return []  # the notifier reminds the unit; the case does not move

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
        to = place(self._site, case, category_of(self._site, case), up) if up else None
        payload = EscalatedPayload(
            from_unit_id=held.unit_id,
            from_tier=held.tier,
            to_unit_id=to.unit.id if to else None,
            to_tier=up,
            reason=reason,
            deadline_kind=kind,
            due_at=due_at,
        )
        escalated = event(CaseEscalated, payload, file, cause, now)
        file = replace(file, escalations=file.escalations + 1)
        if to is None:
            files.put(file)
            log.warning("case supervised at the top tier", extra={"case_id": case.case_id})
            return [escalated]
        assignment = Assignment(
            unit_id=to.unit.id,
            unit_name=to.unit.name,
            tier=to.tier,
            owner_tier=held.owner_tier,
            jurisdiction_id=to.jurisdiction_id,
            seq=held.seq + 1,
            reason=reason,
            assigned_at=now,
        )
        files.put(replace(file, stage=Stage.ASSIGNED, assignment=assignment))
        return [escalated, *assigned(case, assignment, cause, now, file.whole_case())]

"""The case events the router writes, with ids derived from their cause.

Every event's id comes from ``Envelope.derive``: the cause's id, the case and a
key, so handling the same input again yields the same ids. The correlation id is
always the case id, whatever the sender of a command put in its own.
"""

from __future__ import annotations

import logging
from datetime import datetime

from router.ports import CaseFile
from schemas.cases import Assignment, CaseAssigned, CaseAssignedPayload
from schemas.envelope import Envelope, Model
from schemas.reports import Case
from schemas.topics import CASE_EVENTS, Emit, assignment_topic

log = logging.getLogger(__name__)
PRODUCER = "router"


def event(
    kind: type[Envelope], payload: Model, file: CaseFile, cause: Envelope, now: datetime
) -> Emit:
    """One case event on ``gridflow.cases.events``.

    The key holds the assignment seq the event belongs to; the event type (part of
    every derived id) keeps the kinds one cause yields apart.
    """
    message = kind.derive(
        payload,
        producer=PRODUCER,
        now=now,
        case_id=file.case_id,
        cause=cause,
        key=(kind.TYPE, file.assignment.seq),
        correlation_id=file.case_id,
    )
    return Emit(topic=CASE_EVENTS.name, key=file.case_id, message=message)


def assigned(case: Case, assignment: Assignment, cause: Envelope, now: datetime) -> list[Emit]:
    """CaseAssigned on the case story and on the holding unit's own topic."""
    message = CaseAssigned.derive(
        CaseAssignedPayload(assignment=assignment, case=case),
        producer=PRODUCER,
        now=now,
        case_id=case.case_id,
        cause=cause,
        key=(CaseAssigned.TYPE, assignment.seq),
        correlation_id=case.case_id,
    )
    extra = {"case_id": case.case_id, "unit_id": assignment.unit_id, "seq": assignment.seq}
    log.info("case assigned", extra=extra)
    return [
        Emit(topic=CASE_EVENTS.name, key=case.case_id, message=message),
        Emit(topic=assignment_topic(assignment.unit_id).name, key=case.case_id, message=message),
    ]

"""The case events the router writes, with ids derived from their cause.

Every event's id comes from ``Envelope.derive``: the cause's id, the case and a
key, so handling the same input again yields the same ids. The correlation id is
always the case id, whatever the sender of a command put in its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from router.cohandling import co_assignment
from router.ports import CaseFile
from schemas.cases import (
    Assignment,
    CaseAssigned,
    CaseAssignedPayload,
    CaseDispatched,
    CaseDispatchedPayload,
    Due,
)
from schemas.envelope import Envelope, Model
from schemas.reports import Case, CaseFacts
from schemas.topics import CASE_EVENTS, Emit, assignment_topic

log = logging.getLogger(__name__)
PRODUCER = "router"


def event(
    kind: type[Envelope],
    payload: Model,
    file: CaseFile,
    cause: Envelope,
    now: datetime,
    *part: str,
) -> Emit:
    """One case event on ``gridflow.cases.events``.

    The key holds the assignment seq the event belongs to; the event type (part of
    every derived id) keeps the kinds one cause yields apart, and ``part`` an event
    of one kind that goes elsewhere with other content (the holder's own copy).
    """
    message = kind.derive(
        payload,
        producer=PRODUCER,
        now=now,
        case_id=file.case_id,
        cause=cause,
        key=(kind.TYPE, file.assignment.seq, *part),
        correlation_id=file.case_id,
    )
    return Emit(topic=CASE_EVENTS.name, key=file.case_id, message=message)


def untold(payload: Model) -> Model:
    """``payload`` without its free text (a note, a comment), for the shared story.

    Free text is written by people and may quote the resident (已联系王女士); the story
    is read by every processor and by webhooks' builders, so it carries none. The text
    stays in the command, which the archive keeps, and reaches who needs it on their
    own topic.
    """
    fields = type(payload).model_fields
    blank = {name: None for name in ("note", "comment") if name in fields}
    return payload.model_copy(update=blank) if blank else payload


def assigned(
    case: CaseFacts,
    assignment: Assignment,
    cause: Envelope,
    now: datetime,
    whole: Case,
    due: Sequence[Due] = (),
    co_due: Mapping[str, Sequence[Due]] | None = None,
) -> list[Emit]:
    """The assignment: its facts on the case story, the whole case and its clocks'
    due times on the unit's topic; and each co-handler's copy (协办, role
    ``co_handler``) with its own clock (``co_due``) on its own topic.

    All derive from the same cause and seq; their types, and a co-handler's unit id,
    keep their ids apart.
    """
    common = {
        "producer": PRODUCER,
        "now": now,
        "case_id": case.case_id,
        "cause": cause,
        "correlation_id": case.case_id,
    }
    story = CaseAssigned.derive(
        CaseAssignedPayload(assignment=assignment, case=CaseFacts.of(case), due=list(due)),
        key=(CaseAssigned.TYPE, assignment.seq),
        **common,  # type: ignore[arg-type]
    )
    dispatched = CaseDispatched.derive(
        CaseDispatchedPayload(assignment=assignment, case=whole, due=list(due)),
        key=(CaseDispatched.TYPE, assignment.seq),
        **common,  # type: ignore[arg-type]
    )
    extra = {"case_id": case.case_id, "unit_id": assignment.unit_id, "seq": assignment.seq}
    log.info("case assigned", extra=extra)
    out = [
        Emit(topic=CASE_EVENTS.name, key=case.case_id, message=story),
        Emit(topic=assignment_topic(assignment.unit_id).name, key=case.case_id, message=dispatched),
    ]
    for co in assignment.co_handlers:
        told = CaseDispatched.derive(
            CaseDispatchedPayload(
                assignment=co_assignment(assignment, co),
                case=whole,
                due=list((co_due or {}).get(co.unit_id, ())),
            ),
            key=(CaseDispatched.TYPE, assignment.seq, "co", co.unit_id),
            **common,  # type: ignore[arg-type]
        )
        out.append(Emit(assignment_topic(co.unit_id).name, case.case_id, told))
    return out


def reply(
    kind: type[Envelope], payload: Model, command: Envelope, topic: str, now: datetime
) -> Emit:
    """The answer to ``command`` on its sender's view topic ``topic``."""
    message = kind.derive(
        payload,
        producer=PRODUCER,
        now=now,
        case_id=command.case_id,
        cause=command,
        key=(kind.TYPE,),
        correlation_id=command.case_id,
    )
    return Emit(topic=topic, key=command.case_id, message=message)

"""Whether a message may act on a case: the holder, the assignment and the stage.

A command is refused (CONFLICT) unless it comes from the unit holding the case,
names the current assignment, and finds the case at a stage where the step makes
sense. A lapsed deadline that no longer applies is not refused but ignored: it
is the ordinary outcome of a step done (or an escalation made) just in time.

A ``case.received`` for a case the router has opened already is a resend of the
report: ignored when its content is the case's as opened, else refused (CONFLICT)
with every differing field named (:func:`differences`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from intake.core import RECEIPT_FIELDS
from router.ports import CaseFile, CaseFiles
from router.workflow import WORKING, refusal
from schemas.cases import DeadlineKind, Stage, StepPayload
from schemas.deadletter import FieldError, Rejected, RejectionReason
from schemas.deadlines import DeadlinePayload
from schemas.envelope import Envelope
from schemas.reports import Case

__all__ = ["WORKING", "case_file", "conflict", "differences", "holding", "stale_lapse"]

DIFFERS_MSG = "differs from the case as opened"


def conflict(
    message: Envelope, file: CaseFile, why: str, errors: list[FieldError] | None = None
) -> Rejected:
    """A refusal that says what the case is, who holds it, and why the message cannot act."""
    held = file.assignment
    return Rejected(
        RejectionReason.CONFLICT,
        f"{message.type} refused: case {file.case_id} is {file.stage}, "
        f"held by {held.unit_id} (seq {held.seq}); {why}",
        errors,
    )


def differences(file: CaseFile, resent: Case) -> list[FieldError]:
    """The fields whose content differs between the case as opened and ``resent``.

    Content is every field of the case but intake's :data:`~intake.core.RECEIPT_FIELDS`
    (when it received the report). Each error names a field by dotted path
    (``reporter.phone``, ``attachments.1``), never its values: they can be personal
    data, and errors reach logs and metrics. The stored document is read back
    through :class:`Case`, so that times compare as instants and a field added to
    the schema since, with its default, is not taken for a change; a document the
    schema no longer accepts is compared as stored.
    """
    try:
        first: Mapping[str, Any] = Case.model_validate(file.document).model_dump()
        again: Mapping[str, Any] = resent.model_dump()
    except ValidationError:
        first, again = file.document, resent.model_dump(mode="json")
    first = {k: v for k, v in first.items() if k not in RECEIPT_FIELDS}
    again = {k: v for k, v in again.items() if k not in RECEIPT_FIELDS}
    return [FieldError(loc=loc, msg=DIFFERS_MSG, type="conflict") for loc in _paths(first, again)]


def _paths(first: Any, again: Any, at: str = "") -> Iterator[str]:
    """Dotted paths where ``first`` and ``again`` differ: the deepest field that does.

    A list of another length, or a value of another kind (an object where there was
    none), differs as a whole.
    """
    if isinstance(first, Mapping) and isinstance(again, Mapping):
        for key in sorted({*first, *again}, key=str):
            yield from _paths(first.get(key), again.get(key), f"{at}.{key}" if at else str(key))
    elif isinstance(first, list) and isinstance(again, list) and len(first) == len(again):
        for i, (a, b) in enumerate(zip(first, again, strict=True)):
            yield from _paths(a, b, f"{at}.{i}" if at else str(i))
    elif first != again:
        yield at


def case_file(files: CaseFiles, message: Envelope) -> CaseFile:
    """The file of the case ``message`` is about; refused when the router has none."""
    file = files.get(message.case_id) if message.case_id else None
    if file is None:
        raise Rejected(
            RejectionReason.CONFLICT,
            f"{message.type} refused: case {message.case_id} is unknown to the router",
        )
    return file


def holding(file: CaseFile, command: Envelope) -> CaseFile:
    """``file`` when ``command`` may act on it now, else a CONFLICT refusal.

    The stage must be one the loop's table allows the command in
    (:data:`router.workflow.TRANSITIONS`); step commands also name the sender's
    assignment (unit_id, seq); a rating names none.
    """
    why = refusal(file.stage, command.type)
    if why is not None:
        raise conflict(command, file, why)
    step = command.payload
    if isinstance(step, StepPayload):
        held = file.assignment
        if step.unit_id != held.unit_id:
            raise conflict(command, file, f"{step.unit_id} does not hold it")
        if step.seq != held.seq:
            raise conflict(command, file, f"seq {step.seq} is not its current assignment")
    return file


def stale_lapse(file: CaseFile, lapse: DeadlinePayload) -> str | None:
    """Why a lapsed deadline no longer applies to the case, or None when it does."""
    held = file.assignment
    if file.stage is Stage.CLOSED:
        return "case closed"
    if lapse.kind is DeadlineKind.DISPATCH:  # the queue's own clock (人工分拨)
        if file.stage is not Stage.QUEUED or lapse.seq != held.seq:
            return "dispatched meanwhile"
        return None
    if lapse.kind is DeadlineKind.ASSIST:  # a co-handler's (协办)
        if lapse.seq != held.seq:
            return f"assignment {lapse.seq} superseded by {held.seq}"
        if lapse.unit_id not in file.pending() or file.stage not in (*WORKING, Stage.SUSPENDED):
            return "its part is reported, or the case handled"
        return None
    if file.stage is Stage.QUEUED:
        return "queued: returned, no unit holds it until a dispatcher assigns it"
    if lapse.seq != held.seq or lapse.unit_id != held.unit_id:
        return f"assignment {lapse.seq} superseded by {held.seq}"
    if lapse.kind is DeadlineKind.ACCEPT and file.stage is not Stage.ASSIGNED:
        return "already accepted"
    if file.stage is Stage.SUSPENDED:
        # its clocks stopped when the suspension was approved; a lapse due before then
        # was already late, and stands (the escalator had taken it before it paused)
        since = file.suspension.since if file.suspension else None
        if since is None or lapse.due_at >= since:
            return "suspended: its clocks are stopped"
        return None
    if lapse.kind is not DeadlineKind.ACCEPT and file.stage not in WORKING:
        return "already reported handled"
    return None

"""Whether a message may act on a case: the holder, the assignment and the stage.

A command is refused (CONFLICT) unless it comes from the unit holding the case,
names the current assignment, and finds the case at a stage where the step makes
sense. A lapsed deadline that no longer applies is not refused but ignored: it
is the ordinary outcome of a step done (or an escalation made) just in time.
"""

from __future__ import annotations

from router.ports import CaseFile, CaseFiles
from schemas.cases import DeadlineKind, Stage, StepPayload
from schemas.deadletter import Rejected, RejectionReason
from schemas.deadlines import DeadlinePayload
from schemas.envelope import Envelope

WORKING = (Stage.ASSIGNED, Stage.ACCEPTED)  # held by a unit that has not reported it handled


def conflict(message: Envelope, file: CaseFile, why: str) -> Rejected:
    """A refusal that says what the case is, who holds it, and why the message cannot act."""
    held = file.assignment
    return Rejected(
        RejectionReason.CONFLICT,
        f"{message.type} refused: case {file.case_id} is {file.stage}, "
        f"held by {held.unit_id} (seq {held.seq}); {why}",
    )


def case_file(files: CaseFiles, message: Envelope) -> CaseFile:
    """The file of the case ``message`` is about; refused when the router has none."""
    file = files.get(message.case_id) if message.case_id else None
    if file is None:
        raise Rejected(
            RejectionReason.CONFLICT,
            f"{message.type} refused: case {message.case_id} is unknown to the router",
        )
    return file


def holding(file: CaseFile, command: Envelope, stages: tuple[Stage, ...]) -> CaseFile:
    """``file`` when ``command`` may act on it now, else a CONFLICT refusal.

    Step commands name the sender's assignment (unit_id, seq); a rating names none.
    """
    if file.stage not in stages:
        raise conflict(command, file, f"it must be {' or '.join(stages)} for this step")
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
    if lapse.seq != held.seq or lapse.unit_id != held.unit_id:
        return f"assignment {lapse.seq} superseded by {held.seq}"
    if lapse.kind is DeadlineKind.ACCEPT and file.stage is not Stage.ASSIGNED:
        return "already accepted"
    if lapse.kind is not DeadlineKind.ACCEPT and file.stage not in WORKING:
        return "already reported handled"
    return None

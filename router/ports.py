"""The router's record of one case, and the port it is kept behind."""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.cases import Assignment, QueueReason, RequestKind, RequestReason, Stage
from schemas.envelope import Model
from schemas.reports import Case, CaseFacts


class OpenRequest(Model):
    """A holder's suspension or extension request awaiting the command room's decision."""

    request_id: str  # the event_id of the request command
    kind: RequestKind
    seq: int  # the assignment it was asked on: it dies with it
    reason: RequestReason
    at: datetime  # when the holder says it asked
    working_days: int | None = None  # an extension's
    until: datetime | None = None  # a suspension's expected end


class Suspension(Model):
    """An approved suspension in force: the case's clocks are stopped since ``since``."""

    request_id: str
    seq: int
    since: datetime  # when the router applied the approval: the clocks stopped then


class Queued(Model):
    """A case in a command room's dispatch queue (人工分拨), since when, and why."""

    reason: QueueReason
    since: datetime  # when the router queued it
    room: str | None = None  # the command room told, nearest the last holder


@dataclass(frozen=True)
class CaseFile:
    """What the router knows of one case: enough to judge the next message about it.

    ``case`` holds the facts routing needs; ``document`` is the whole case as JSON,
    carried along unread and validated only when a unit must receive it again (an
    escalation or a rework), so the common path never re-validates personal data.
    """

    case: CaseFacts
    document: Mapping[str, Any]
    stage: Stage
    assignment: Assignment  # who holds it now
    escalations: int = 0  # how many times it went up a tier (referrals and supervision included)
    lapsed: bool = False  # some deadline of the case lapsed: it cannot close on time
    rating: int | None = None  # the resident's rating, once given
    request: OpenRequest | None = None  # a suspension or extension asked for, undecided
    suspension: Suspension | None = None  # while the stage is suspended
    returned_by: tuple[str, ...] = ()  # every unit that returned it (退回), in order
    queued: Queued | None = None  # while the stage is queued
    reopenings: int = 0  # how many times it went back to the unit (重办, router.workflow)

    def open_request(self) -> OpenRequest | None:
        """The request still open: asked on the current assignment, which is at work."""
        r = self.request
        if r is None or r.seq != self.assignment.seq or self.stage is not Stage.ACCEPTED:
            return None
        return r

    @property
    def case_id(self) -> str:
        return self.case.case_id

    @classmethod
    def opened(cls, case: Case, assignment: Assignment) -> CaseFile:
        """The file of a case just dispatched."""
        return cls(
            case=CaseFacts.of(case),
            document=case.model_dump(mode="json"),
            stage=Stage.ASSIGNED,
            assignment=assignment,
        )

    def whole_case(self) -> Case:
        return Case.model_validate(self.document)


class CaseStore(abc.ABC):
    """Case files by case id, read and written a batch at a time."""

    @abc.abstractmethod
    def load(self, case_ids: Collection[str]) -> dict[str, CaseFile]:
        """The files of those of ``case_ids`` the router has seen, with one query."""

    @abc.abstractmethod
    def save(self, files: Sequence[CaseFile]) -> None:
        """Insert or replace each file, with one statement."""


class CaseFiles:
    """One batch's case files: loaded with one query, changed in memory, saved once.

    Messages of one batch act in order, so a later message about a case sees what an
    earlier one did to it.
    """

    def __init__(self, loaded: dict[str, CaseFile]) -> None:
        self._files = loaded
        self._changed: dict[str, CaseFile] = {}

    def get(self, case_id: str) -> CaseFile | None:
        return self._files.get(case_id)

    def put(self, file: CaseFile) -> None:
        self._files[file.case_id] = file
        self._changed[file.case_id] = file

    @property
    def changed(self) -> list[CaseFile]:
        return list(self._changed.values())

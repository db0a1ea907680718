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
    parts: tuple[str, ...] = ()  # co-handlers (协办) of the assignment that reported, in order

    def pending(self) -> tuple[str, ...]:
        """The co-handlers of the current assignment yet to report their part."""
        return tuple(c.unit_id for c in self.assignment.co_handlers if c.unit_id not in self.parts)

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


@dataclass(frozen=True)
class Probe:
    """Where to look for the open cases a new report may repeat: its category, a box
    around its point and a window around its time (router/duplicates.py)."""

    category: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    since: datetime
    until: datetime


@dataclass(frozen=True)
class NearbyCase:
    """An open case with a point, as the near-duplicate lookup needs it."""

    case_id: str
    category: str
    lat: float
    lon: float
    reported_at: datetime
    unit_id: str


def point_of(document: Mapping[str, Any]) -> tuple[float, float] | None:
    """The point a case file's case gave, if any."""
    location = document.get("location") or {}
    lat, lon = location.get("lat"), location.get("lon")
    return None if lat is None or lon is None else (float(lat), float(lon))


def point_in(file: CaseFile, probes: Sequence[Probe]) -> NearbyCase | None:
    """``file`` as a :class:`NearbyCase` when its point and time fall in a probe."""
    point = point_of(file.document)
    if point is None:
        return None
    for p in probes:
        if (
            p.category == file.case.category
            and p.lat_min <= point[0] <= p.lat_max
            and p.lon_min <= point[1] <= p.lon_max
            and p.since <= file.case.reported_at <= p.until
        ):
            return NearbyCase(
                case_id=file.case_id,
                category=file.case.category,
                lat=point[0],
                lon=point[1],
                reported_at=file.case.reported_at,
                unit_id=file.assignment.unit_id,
            )
    return None


class CaseStore(abc.ABC):
    """Case files by case id, read and written a batch at a time."""

    @abc.abstractmethod
    def open_near(self, probes: Sequence[Probe]) -> list[NearbyCase]:
        """The open (not closed) cases inside any probe's box and window, with one
        query for a batch's probes; in no particular order."""

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

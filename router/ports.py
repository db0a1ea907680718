"""The router's record of one case, and the port it is kept behind."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from schemas.cases import Assignment, Stage
from schemas.reports import Case


@dataclass(frozen=True)
class CaseFile:
    """What the router knows of one case: enough to judge the next message about it."""

    case: Case
    stage: Stage
    assignment: Assignment  # who holds it now
    escalations: int = 0  # how many times it went up a tier (referrals and supervision included)
    lapsed: bool = False  # some deadline of the case lapsed: it cannot close on time
    rating: int | None = None  # the resident's rating, once given

    @property
    def case_id(self) -> str:
        return self.case.case_id


class CaseStore(abc.ABC):
    """Case files by case id."""

    @abc.abstractmethod
    def get(self, case_id: str) -> CaseFile | None:
        """The case's file, or None for a case the router has not seen."""

    @abc.abstractmethod
    def put(self, file: CaseFile) -> None:
        """Save ``file``, replacing the case's previous file."""

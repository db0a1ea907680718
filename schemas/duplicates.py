"""The link of a duplicate report (重复件) to the open case it repeats: ``case.linked``.

The router writes it, instead of dispatching, when a new report of the same category
lies within the site's ``duplicates`` distance and time of an open case (router/
duplicates.py). Its ``case_id`` is the new report's own (the one the channel's
external id derives); ``duplicate_of`` is the open case's: the case number the
resident is given. It goes on the case story, to the holder of the open case on its
unit topic, and to the reporting channel's reply topic.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.edges import CaseId, Time, UnitId
from schemas.envelope import Envelope, Model
from schemas.reports import CaseFacts


class LinkedPayload(Model):
    """Which open case the report repeats, how near, and who holds it."""

    duplicate_of: CaseId = Field(description="The open case: the resident's case number.")
    distance_m: float = Field(ge=0, le=5000, description="Metres between the two points.")
    holder: UnitId = Field(description="The unit holding the open case, told of the link.")
    case: CaseFacts = Field(description="The duplicate report's facts (no personal data).")
    linked_at: Time


class CaseLinked(Envelope):
    """A report linked to the open case it repeats (重复件): it is not dispatched."""

    type: Literal["case.linked"] = "case.linked"
    payload: LinkedPayload

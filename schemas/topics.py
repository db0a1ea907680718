"""The topic catalogue: every topic gridflow uses, its key, what flows on it, who
writes and who reads. This is the one place topic names are spelled.

Every topic that carries case messages is keyed by ``case_id`` and has the same
partition count, so one case's messages keep their order and land on the same
partition number in each topic (co-partitioning): a router instance that owns
partition *p* sees the whole story of the cases hashed to *p*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.cases import (
    CaseAccepted,
    CaseAssigned,
    CaseClosed,
    CaseDispatched,
    CaseEscalated,
    CaseHandled,
    CaseRated,
    CaseReceived,
    CaseVerified,
)
from schemas.clock import ClockTicked
from schemas.commands import AcceptCase, RateCase, ReferUp, ReportHandled, VerifyCase
from schemas.deadletter import MessageRejected
from schemas.deadlines import DeadlineLapsed, DeadlineWarning
from schemas.edges import UNIT_ID_PATTERN
from schemas.envelope import Model
from schemas.notifications import NotificationRecorded
from schemas.reports import RawReport

CASE_PARTITIONS = 6
ASSIGNMENT_PARTITIONS = 1
"""A unit's own topic: its work in one ordered log. Even a busy street department
receives hundreds of cases a day, well within one partition; and a site has a few
hundred units, whose partitions a broker must lead."""
TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}
"""Every gridflow topic's config: the broker, not the sender, stamps each record's
time, and the logic acts at that time (see :mod:`schemas.processing`)."""
_UNIT_ID = re.compile(UNIT_ID_PATTERN)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One message as a topic delivers it, transport-neutral (Kafka or in-memory).

    ``timestamp`` is when the broker appended it: the time the logic acts at
    (the time rule in :mod:`schemas.processing`). ``value`` is None for a
    tombstone (no value at all), which is not the same as an empty value.
    """

    topic: str
    value: bytes | None
    timestamp: datetime
    key: bytes | None = None
    partition: int = 0
    offset: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Emit:
    """A message a processor wants published: where, under which key, what."""

    topic: str
    key: str | None
    message: Model


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    carries: tuple[type[Model], ...]
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    description: str
    partitions: int = CASE_PARTITIONS


REPORTS_RAW = Topic(
    name="gridflow.reports.raw",
    key="'<channel>:<external_id>' (optional; intake does not rely on it)",
    carries=(RawReport,),
    writers=("upstream channels: 12345 hotline, grid app, web, Open311 gateway",),
    readers=("intake",),
    description="Reports exactly as channels send them, in the native JSON format.",
)
CASES_RECEIVED = Topic(
    name="gridflow.cases.received",
    key="case_id",
    carries=(CaseReceived,),
    writers=("intake",),
    readers=("router", "archive"),
    description="Accepted, normalised reports: one case each.",
)
CASE_UPDATES = Topic(
    name="gridflow.cases.updates",
    key="case_id",
    carries=(AcceptCase, ReportHandled, VerifyCase, RateCase, ReferUp),
    writers=("units' systems", "verifiers", "resident rating channels"),
    readers=("router",),
    description="Commands about a case from the people who work it.",
)
CASE_EVENTS = Topic(
    name="gridflow.cases.events",
    key="case_id",
    carries=(
        CaseAssigned,
        CaseAccepted,
        CaseHandled,
        CaseVerified,
        CaseRated,
        CaseClosed,
        CaseEscalated,
    ),
    writers=("router",),
    readers=("escalator", "notifier", "archive"),
    description="The canonical story of every case; the router is its one writer.",
)
DEADLINES = Topic(
    name="gridflow.deadlines",
    key="case_id",
    carries=(DeadlineWarning, DeadlineLapsed),
    writers=("escalator",),
    readers=("router", "notifier", "archive"),
    description="Deadlines that are near or have lapsed.",
)
NOTIFICATIONS = Topic(
    name="gridflow.notifications",
    key="case_id",
    carries=(NotificationRecorded,),
    writers=("notifier",),
    readers=("archive",),
    description="One record per notification delivered or given up on.",
)
DEADLETTER = Topic(
    name="gridflow.deadletter",
    key="case_id when known, else none",
    carries=(MessageRejected,),
    writers=("intake", "router", "escalator", "notifier", "archive"),
    readers=("archive", "operations"),
    description="What a processor could not accept, verbatim, with the reason.",
)
CLOCK = Topic(
    name="gridflow.clock",
    key="none",
    carries=(ClockTicked,),
    writers=("simulations and tests",),
    readers=("escalator, when GRIDFLOW_CLOCK=ticks",),
    description="Simulated time, so days of deadlines pass in seconds.",
    partitions=1,
)

ASSIGNMENT_PREFIX = "gridflow.assignments."
ASSIGNMENT_DESCRIPTION = (
    "One topic per unit: the cases dispatched to it, whole (CaseDispatched), keyed by case_id. "
    "A department subscribes to its own topic and sees its own work alone."
)

CATALOGUE: tuple[Topic, ...] = (
    REPORTS_RAW,
    CASES_RECEIVED,
    CASE_UPDATES,
    CASE_EVENTS,
    DEADLINES,
    NOTIFICATIONS,
    DEADLETTER,
    CLOCK,
)
BY_NAME: dict[str, Topic] = {t.name: t for t in CATALOGUE}


ASSIGNMENTS = Topic(
    name=ASSIGNMENT_PREFIX + "<unit_id>",
    key="case_id",
    carries=(CaseDispatched,),
    writers=("router",),
    readers=("the unit",),
    description=ASSIGNMENT_DESCRIPTION,
    partitions=ASSIGNMENT_PARTITIONS,
)
"""The assignment topics as one entry: every unit's is this, under the unit's name."""


def assignment_topic(unit_id: str) -> Topic:
    """The assignment topic of one unit, e.g. ``gridflow.assignments.zs.urban``."""
    if not _UNIT_ID.match(unit_id):
        raise ValueError(f"unit id {unit_id!r} cannot name a topic: use [a-z0-9._-]")
    return replace(ASSIGNMENTS, name=ASSIGNMENT_PREFIX + unit_id, readers=(f"unit {unit_id}",))


def topic_named(name: str) -> Topic:
    """Look a topic up by name, assignment topics included."""
    if name in BY_NAME:
        return BY_NAME[name]
    if name.startswith(ASSIGNMENT_PREFIX):
        return assignment_topic(name.removeprefix(ASSIGNMENT_PREFIX))
    raise KeyError(f"no topic {name!r} in the catalogue")

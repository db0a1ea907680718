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
    CaseExtended,
    CaseExtensionRequested,
    CaseFollowedUp,
    CaseHandled,
    CasePartReported,
    CaseQueued,
    CaseRated,
    CaseReceived,
    CaseReopened,
    CaseRequestRefused,
    CaseResumed,
    CaseReturned,
    CaseSupervised,
    CaseSuspended,
    CaseSuspensionRequested,
    CaseVerified,
)
from schemas.clock import ClockTicked
from schemas.commands import COMMANDS
from schemas.deadletter import MessageRejected
from schemas.deadlines import (
    DeadlineLapsed,
    DeadlineReminder,
    DeadlineRescheduled,
    DeadlineWarning,
)
from schemas.duplicates import CaseLinked
from schemas.edges import UNIT_ID_PATTERN
from schemas.envelope import Model
from schemas.formats import REPORT_FORMATS
from schemas.notifications import NotificationRecorded
from schemas.replies import CommandAcknowledged, CommandRefused
from schemas.suspension import DeadlineExtended, DeadlinePaused, DeadlineResumed

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


CASES_RECEIVED = Topic(
    name="gridflow.cases.received",
    key="case_id",
    carries=(CaseReceived,),
    writers=("intake",),
    # the notifier keeps the reporter's contact, to tell them of closure (notifier/core.py)
    readers=("router", "notifier", "archive"),
    description="Accepted, normalised reports: one case each.",
)
CASE_UPDATES = Topic(
    name="gridflow.cases.updates",
    key="case_id",
    carries=COMMANDS,
    writers=("intake",),
    readers=("router", "archive"),
    description="Commands about a case, each stamped by intake with the sender its command "
    "topic proves, keyed by case_id with gridflow's own partitioner.",
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
        CaseSupervised,
        CaseSuspensionRequested,
        CaseExtensionRequested,
        CaseSuspended,
        CaseExtended,
        CaseRequestRefused,
        CaseResumed,
        CaseReturned,
        CaseQueued,
        CaseLinked,
        CaseReopened,
        CaseFollowedUp,
        CasePartReported,
    ),
    writers=("router",),
    readers=("escalator", "notifier", "archive"),
    description="The canonical story of every case; the router is its one writer.",
)
DEADLINES = Topic(
    name="gridflow.deadlines",
    key="case_id",
    carries=(DeadlineWarning, DeadlineLapsed, DeadlineReminder),
    writers=("escalator",),
    readers=("router", "notifier", "archive"),
    description="Deadlines that are near or have lapsed, and reminders of cases that "
    "lapsed at the top tier.",
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
    "One topic per unit, its whole view, keyed by case_id: the cases dispatched to it, whole, "
    "with each clock's due time (case.dispatched); their deadline warnings and lapses, the "
    "reminders of a case lapsed at the top tier (deadline.reminder), and "
    "the new due time of a provisional deadline once its year's schedule is known "
    "(deadline.rescheduled); the "
    "escalation that takes a case from it, and supervision (case.escalated, case.supervised); "
    "its suspension and extension requests, their decisions and the resumes "
    "(case.suspension_requested, case.extension_requested, case.suspended, case.extended, "
    "case.request_refused, case.resumed), and what became of each clock they moved "
    "(deadline.paused, deadline.resumed, deadline.extended); the return of a case sent on "
    "to it, with the returner's note (case.returned); a report linked to a case it holds "
    "as a duplicate (case.linked, 重复件); a case reopened to it after a failed "
    "check or an unsatisfied rating (case.reopened, beside the rework's case.dispatched); "
    "the answer to each of its own commands (command.acknowledged, command.refused). A "
    "department subscribes to its own topic and sees its own work alone."
)
REPORT_PREFIX = "gridflow.reports."
COMMAND_PREFIX = "gridflow.commands."
REPLY_PREFIX = "gridflow.replies."
SENDER_PARTITIONS = 1
"""A sender's command topic and reply topic: one ordered log each, so no client's
partitioner can reorder what a sender said, and a sender's traffic fits one partition."""

CATALOGUE: tuple[Topic, ...] = (
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
    carries=(
        CaseDispatched,
        CaseEscalated,
        CaseSupervised,
        DeadlineWarning,
        DeadlineLapsed,
        DeadlineReminder,
        DeadlineRescheduled,
        CaseSuspensionRequested,
        CaseExtensionRequested,
        CaseSuspended,
        CaseExtended,
        CaseRequestRefused,
        CaseResumed,
        CaseReturned,
        CaseLinked,
        CaseReopened,
        CasePartReported,
        DeadlinePaused,
        DeadlineResumed,
        DeadlineExtended,
        CommandAcknowledged,
        CommandRefused,
    ),
    writers=("router", "escalator", "intake"),
    readers=("the unit",),
    description=ASSIGNMENT_DESCRIPTION,
    partitions=ASSIGNMENT_PARTITIONS,
)
"""The assignment topics as one entry: every unit's is this, under the unit's name."""


REPORTS_OF = Topic(
    name=REPORT_PREFIX + "<channel_sender_id>",
    key="'<channel>:<external_id>' (optional; intake does not rely on it)",
    carries=REPORT_FORMATS,
    writers=("the channel",),
    readers=("intake",),
    description="One topic per upstream channel (the 12345 hotline, the grid app, the web, "
    "the Open311 gateway, ...): its reports exactly as it sends them, in the native JSON "
    "format or another its format field names (docs/FORMATS.md). Only the channel's "
    "principal may write it, so the topic proves which channel a report came from; intake "
    "refuses a native report whose channel field names another.",
)
"""The report topics as one entry: every channel sender's is this, under its id."""

COMMANDS_OF = Topic(
    name=COMMAND_PREFIX + "<sender_id>",
    key="case_id (any partitioner: the topic has one partition, and intake re-keys)",
    carries=COMMANDS,
    writers=("the sender",),
    readers=("intake",),
    description="One topic per sender (a unit, verifier, supervisor or channel): the commands "
    "it sends. Only the sender's principal may write it, so the topic proves who sent each.",
    partitions=SENDER_PARTITIONS,
)
"""The command topics as one entry: every sender's is this, under the sender's id."""

REPLIES_TO = Topic(
    name=REPLY_PREFIX + "<sender_id>",
    key="case_id",
    carries=(
        CaseHandled,
        CaseVerified,
        CaseSuspensionRequested,
        CaseExtensionRequested,
        CaseQueued,
        CaseLinked,
        DeadlineWarning,
        DeadlineLapsed,
        CommandAcknowledged,
        CommandRefused,
    ),
    writers=("router", "intake", "escalator"),
    readers=("the sender",),
    description="One topic per sender that is not a unit (a unit reads its assignment topic), "
    "its whole view: for a verifier, the cases handled in its area, to check (case.handled); "
    "for a channel, the cases it reported that passed the check, to rate (case.verified), "
    "and those linked to an open case as duplicates, with its case number (case.linked); for "
    "a command room (approver), the suspensions and extensions its units ask for, to decide "
    "(case.suspension_requested, case.extension_requested), and the cases put in its dispatch "
    "queue (case.queued), to assign (case.dispatch), and the warnings and lapse of that "
    "queue's clock (deadline.warning, deadline.lapsed of kind dispatch); for "
    "every sender, the acknowledgement or refusal of each of its commands.",
    partitions=SENDER_PARTITIONS,
)
"""The reply topics as one entry: every non-unit sender's is this, under its id."""

TEMPLATES: tuple[Topic, ...] = (REPORTS_OF, ASSIGNMENTS, COMMANDS_OF, REPLIES_TO)
"""The per-unit and per-sender topics, each one entry for all of its kind."""


def _named(template: Topic, prefix: str, sender_id: str, reader: str) -> Topic:
    if not _UNIT_ID.match(sender_id):
        raise ValueError(f"id {sender_id!r} cannot name a topic: use [a-z0-9._-]")
    return replace(template, name=prefix + sender_id, **{reader: (sender_id,)})


def report_topic(sender_id: str) -> Topic:
    """The topic a channel writes its reports on, e.g. ``gridflow.reports.channel.web``."""
    return _named(REPORTS_OF, REPORT_PREFIX, sender_id, "writers")


def command_topic(sender_id: str) -> Topic:
    """The topic a sender writes its commands on, e.g. ``gridflow.commands.zs.urban``."""
    return _named(COMMANDS_OF, COMMAND_PREFIX, sender_id, "writers")


def reply_topic(sender_id: str) -> Topic:
    """The topic a non-unit sender reads its answers on, e.g. ``gridflow.replies.zs.verify``."""
    return _named(REPLIES_TO, REPLY_PREFIX, sender_id, "readers")


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
    if name.startswith(REPORT_PREFIX):
        return report_topic(name.removeprefix(REPORT_PREFIX))
    if name.startswith(COMMAND_PREFIX):
        return command_topic(name.removeprefix(COMMAND_PREFIX))
    if name.startswith(REPLY_PREFIX):
        return reply_topic(name.removeprefix(REPLY_PREFIX))
    raise KeyError(f"no topic {name!r} in the catalogue")

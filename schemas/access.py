"""Who may say what, and who may read and write where: the rules, as data.

**Identity is proven, not claimed.** Every sender of commands (a unit, a
verifier, a supervisor, a residents' channel; see
:class:`~schemas.catalogue.Sender`) has a Kafka principal of its own, named by
its id, and a command topic of its own, ``gridflow.commands.<id>``, that only
that principal may write (:func:`grants`). Intake stamps each command with the
sender its topic proves and passes it on, on ``gridflow.cases.updates``, which
only intake may write. The router therefore knows a command's sender from where
the command arrived, and never from a field the sender filled in.

**Who may send which command** is :data:`PERMISSIONS`: for each command type,
the roles that may send it and the relation the sender must have to the case.
:func:`refusal` applies them; the router refuses (``permission``) what they do
not allow, on the sender's own view topic.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from schemas.catalogue import PROCESSOR_PRINCIPAL_PREFIX, Sender, SenderRole, Site
from schemas.commands import (
    AcceptCase,
    DecideRequest,
    DispatchCase,
    FollowUpCase,
    RateCase,
    ReferUp,
    ReportHandled,
    ReportPart,
    RequestExtension,
    RequestSuspension,
    ResumeCase,
    ReturnCase,
    SuperviseCase,
    VerifyCase,
)
from schemas.reports import CaseFacts, Channel
from schemas.topics import (
    ASSIGNMENT_PREFIX,
    CASE_UPDATES,
    CATALOGUE,
    CLOCK,
    COMMAND_PREFIX,
    DEADLETTER,
    REPLY_PREFIX,
    REPORT_PREFIX,
    TEMPLATES,
    Topic,
    assignment_topic,
    command_topic,
    reply_topic,
    report_topic,
)


class Relation(StrEnum):
    """What a sender must be to the case for a rule to let it act."""

    HOLDER = "holder"  # the unit holding the case now
    JURISDICTION = "jurisdiction"  # its jurisdiction contains the case's grid
    REPORTING_CHANNEL = "reporting_channel"  # the channel that took the case's report
    OVER_HOLDER = "over_holder"  # its jurisdiction contains the holding unit's (for a
    # queued case, which no unit holds: the unit that held it last)
    CO_HANDLER = "co_handler"  # a co-handler (协办) of the current assignment


@dataclass(frozen=True)
class Rule:
    role: SenderRole
    relation: Relation


PERMISSIONS: dict[str, tuple[Rule, ...]] = {
    # The holding unit works the case: accepts (受理), reports it handled (处置反馈),
    # refers it up beyond its powers (上报).
    AcceptCase.TYPE: (Rule(SenderRole.UNIT, Relation.HOLDER),),
    ReportHandled.TYPE: (Rule(SenderRole.UNIT, Relation.HOLDER),),
    ReferUp.TYPE: (Rule(SenderRole.UNIT, Relation.HOLDER),),
    # Verification (核查) comes from a verifier of the case's jurisdiction (the
    # command room, a grid leader), never from a unit, so never from the one that
    # did the work.
    VerifyCase.TYPE: (Rule(SenderRole.VERIFIER, Relation.JURISDICTION),),
    # The rating (评价) comes from the residents' channel that took the report.
    RateCase.TYPE: (Rule(SenderRole.CHANNEL, Relation.REPORTING_CHANNEL),),
    # The follow-up call (回访): the channel that took the report, as the hotlines call
    # back, or a verifier of the case's jurisdiction (a grid leader calling on them).
    FollowUpCase.TYPE: (
        Rule(SenderRole.CHANNEL, Relation.REPORTING_CHANNEL),
        Rule(SenderRole.VERIFIER, Relation.JURISDICTION),
    ),
    # Supervision (督办), by the supervisors of the case's jurisdiction.
    SuperviseCase.TYPE: (Rule(SenderRole.SUPERVISOR, Relation.JURISDICTION),),
    # Suspension and extension (挂起, 延期): the holder asks; a command room over the
    # holding unit decides (over the unit, not merely over the grid: a community's
    # command room does not decide for a street department). The wait ends by the
    # holder or by that command room.
    RequestSuspension.TYPE: (Rule(SenderRole.UNIT, Relation.HOLDER),),
    RequestExtension.TYPE: (Rule(SenderRole.UNIT, Relation.HOLDER),),
    DecideRequest.TYPE: (Rule(SenderRole.APPROVER, Relation.OVER_HOLDER),),
    ResumeCase.TYPE: (
        Rule(SenderRole.UNIT, Relation.HOLDER),
        Rule(SenderRole.APPROVER, Relation.OVER_HOLDER),
    ),
    # Returns and manual dispatch (退回, 人工分拨): the holder returns a misrouted case;
    # a queued case is assigned by a command room (approver, as dispatcher) over the
    # unit that held it last, the room that hears of the queue.
    ReturnCase.TYPE: (Rule(SenderRole.UNIT, Relation.HOLDER),),
    DispatchCase.TYPE: (Rule(SenderRole.APPROVER, Relation.OVER_HOLDER),),
    # Lead and co-handlers (主办/协办): a co-handler reports its own part to the lead.
    ReportPart.TYPE: (Rule(SenderRole.UNIT, Relation.CO_HANDLER),),
}
"""Command type -> the rules, any one of which lets a sender send it."""


def relates(
    site: Site,
    sender: Sender,
    relation: Relation,
    case: CaseFacts,
    holder: str,
    co_handlers: Collection[str] = (),
) -> bool:
    """Whether ``sender`` stands in ``relation`` to ``case``, held by unit ``holder``
    with ``co_handlers`` (协办) beside it."""
    if relation is Relation.HOLDER:
        return sender.id == holder
    if relation is Relation.CO_HANDLER:
        return sender.id in co_handlers
    if relation is Relation.JURISDICTION:
        return sender.jurisdiction is not None and site.within(case.grid_id, sender.jurisdiction)
    if relation is Relation.OVER_HOLDER:
        unit = site.unit(holder)
        return (
            sender.jurisdiction is not None
            and unit is not None
            and site.within(unit.jurisdiction, sender.jurisdiction)
        )
    return sender.channel is not None and sender.channel == case.channel


def refusal(
    site: Site,
    command_type: str,
    sender_id: str | None,
    case: CaseFacts,
    holder: str,
    co_handlers: Collection[str] = (),
) -> str | None:
    """Why ``sender_id`` may not send ``command_type`` about ``case``; None when it may."""
    rules = PERMISSIONS.get(command_type)
    if not rules:
        return f"no one may send {command_type}"
    sender = site.sender(sender_id) if sender_id else None
    if sender is None:
        return f"sender {sender_id!r} is not known to the site" if sender_id else "no sender"
    for rule in rules:
        if rule.role is sender.role and relates(
            site, sender, rule.relation, case, holder, co_handlers
        ):
            return None
    allowed = " or ".join(f"a {r.role} that is the case's {r.relation}" for r in rules)
    return f"{sender.id} ({sender.role}) may not send {command_type}: only {allowed} may"


def view_topic(sender: Sender) -> Topic:
    """Where ``sender`` reads: a unit its assignment topic, anyone else its reply topic."""
    if sender.role is SenderRole.UNIT:
        return assignment_topic(sender.id)
    return reply_topic(sender.id)


def own_topic(site: Site, sender_id: str) -> Topic:
    """Where the sender ``sender_id`` reads (:func:`view_topic`): a unit, or a command room
    whose dispatch queue's clock warns it. An id the site does not know (the catalogue
    changed since) is taken for a unit's."""
    sender = site.sender(sender_id)
    return view_topic(sender) if sender is not None else assignment_topic(sender_id)


def sender_topics(site: Site) -> list[Topic]:
    """The command topic of every sender, the reply topic of every non-unit sender, and
    the report topic of every channel sender."""
    out: list[Topic] = []
    for s in site.all_senders():
        out.append(command_topic(s.id))
        if s.role is not SenderRole.UNIT:
            out.append(reply_topic(s.id))
        if s.role is SenderRole.CHANNEL:
            out.append(report_topic(s.id))
    return out


def channel_topic(site: Site, channel: Channel) -> Topic:
    """Where ``channel``'s reports go on ``site``: the report topic of its sender."""
    sender = site.channel_sender(channel)
    if sender is None:
        raise KeyError(f"site {site.id} has no sender for channel {channel}")
    return report_topic(sender.id)


# --- Kafka ACLs ---------------------------------------------------------------------

Operation = Literal["read", "write"]
Resource = Literal["topic", "group"]
Pattern = Literal["literal", "prefixed"]


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL: ``principal`` may ``operation`` the ``resource`` named (or prefixed) ``name``.

    Names are catalogue names (``gridflow.…``); the ACL tooling puts them in the
    deployment's namespace. READ and WRITE on a topic imply DESCRIBE in Kafka.
    """

    principal: str
    operation: Operation
    resource: Resource
    name: str
    pattern: Pattern = "literal"


OPERATIONS_PRINCIPAL = PROCESSOR_PRINCIPAL_PREFIX + "operations"
"""The operations team's principal: reads ``gridflow.deadletter``, ticks the simulated clock."""


def processor_principal(processor: str) -> str:
    """A processor's Kafka principal: ``gridflow.router``."""
    return PROCESSOR_PRINCIPAL_PREFIX + processor


def grants(site: Site, processors: Iterable[str]) -> list[Grant]:
    """Every ACL a deployment of ``site`` needs, and no more.

    - Each processor reads the topics whose readers name it and writes those whose
      writers name it (the catalogue, templated topics by prefix), and reads its
      consumer group.
    - Each sender writes its own command topic and reads its own view topic; it
      may use consumer groups named ``gridflow.<its id>.…`` (in the namespace).
    - The operations principal reads the dead letters and may write the clock.
    - Channel senders also write their own report topic.
    """
    out: set[Grant] = set()
    prefixes = {
        REPORT_PREFIX: REPORT_PREFIX,
        ASSIGNMENT_PREFIX: ASSIGNMENT_PREFIX,
        COMMAND_PREFIX: COMMAND_PREFIX,
        REPLY_PREFIX: REPLY_PREFIX,
    }
    for name in processors:
        who = processor_principal(name)
        out.add(Grant(who, "read", "group", PROCESSOR_PRINCIPAL_PREFIX + name))
        for t in CATALOGUE:
            if name in t.writers:
                out.add(Grant(who, "write", "topic", t.name))
            if name in t.readers or (t is CLOCK and name == "escalator"):  # in ticks mode
                out.add(Grant(who, "read", "topic", t.name))
        for t in TEMPLATES:
            prefix = next(p for p in prefixes if t.name.startswith(p))
            if name in t.writers:
                out.add(Grant(who, "write", "topic", prefix, "prefixed"))
            if name in t.readers:
                out.add(Grant(who, "read", "topic", prefix, "prefixed"))
    ops = OPERATIONS_PRINCIPAL
    out.add(Grant(ops, "read", "topic", DEADLETTER.name))  # what was refused, verbatim
    out.add(Grant(ops, "write", "topic", CLOCK.name))  # `gridflow tick`, in simulations
    out.add(Grant(ops, "read", "group", ops + ".", "prefixed"))
    for s in site.all_senders():
        out.add(Grant(s.id, "write", "topic", command_topic(s.id).name))
        out.add(Grant(s.id, "read", "topic", view_topic(s).name))
        # its own consumer groups, in the deployment's namespace: gridflow.<id>.<any>
        out.add(Grant(s.id, "read", "group", f"{PROCESSOR_PRINCIPAL_PREFIX}{s.id}.", "prefixed"))
        if s.role is SenderRole.CHANNEL:
            out.add(Grant(s.id, "write", "topic", report_topic(s.id).name))
    return sorted(out)


__all__ = [
    "CASE_UPDATES",
    "PERMISSIONS",
    "Grant",
    "Relation",
    "Rule",
    "channel_topic",
    "grants",
    "own_topic",
    "processor_principal",
    "refusal",
    "sender_topics",
    "view_topic",
]

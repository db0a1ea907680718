"""The notifier: decides who is told what about each event, and queues it in the outbox.

:func:`plan` is pure: an event, the subscriptions, the site and the resident's
contact in, the deliveries out (:class:`~notifier.ports.OutboxEntry`, each with its
idempotency key and its words already rendered). :class:`Notifier` records a
batch's deliveries in the outbox (:class:`~notifier.ports.Outbox`) in the batch's
transaction, beside its inbox, and publishes a ``notification.recorded`` with
status ``queued`` for each on ``gridflow.notifications``. It sends nothing and
waits on nobody: the sender (:mod:`notifier.sender`) delivers from the outbox, with
retries over hours, and records ``delivered``, or ``failed`` as a dead letter with
its reason, which ``gridflow notify replay`` sends again. A slow receiver can
therefore never hold a batch, and the consumers poll on ordinary intervals.

Who hears what is data (``audiences`` in the subscriptions file,
:mod:`notifier.subscriptions`). A resident is reached through the channel the
report came from; a resident who cannot be reached (no contact, no route) gets a
``notification.recorded`` with status ``undeliverable`` and the reason, never silence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.bodies import Subject, body_for, subject_of
from notifier.messages import has_template, local_time, render
from notifier.outbox import idempotency_key
from notifier.ports import RESIDENT, Contact, Contacts, Outbox, OutboxEntry
from notifier.subscriptions import (
    Audience,
    ResidentRoute,
    Subscriber,
    Subscriptions,
)
from schemas.cases import CaseAssigned, CaseClosed, CaseReceived, DeadlineKind
from schemas.catalogue import SenderRole, Site
from schemas.envelope import Envelope, Model
from schemas.notifications import (
    DeliveryStatus,
    NotificationChannel,
    NotificationPayload,
    NotificationRecorded,
)
from schemas.processing import Inbound, Outcome
from schemas.reports import Case, Channel
from schemas.topics import CASE_EVENTS, CASES_RECEIVED, DEADLINES, NOTIFICATIONS, Emit
from schemas.urls import is_web_url

log = logging.getLogger(__name__)

PRODUCER = "notifier"
CLOCKS_ZH = {
    DeadlineKind.ACCEPT.value: "受理",
    DeadlineKind.RESOLVE.value: "办结",
    DeadlineKind.REFER.value: "上报",
    DeadlineKind.REMIND.value: "督办",
}


def encode_body(body: dict[str, Any]) -> str:
    """A webhook's JSON text, as sent and signed: compact, UTF-8, keys in build order."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Unreachable:
    """A resident who should have been told, and why they cannot be."""

    key: str
    channel: NotificationChannel
    template: str
    reason: str


@dataclass
class Plan:
    entries: list[OutboxEntry] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)


def _wants(subscriber: Subscriber, subject: Subject) -> bool:
    if subject.event_type not in subscriber.events:
        return False
    if subscriber.units is not None and not subscriber.units & subject.units:
        return False
    return subscriber.tiers is None or bool(subscriber.tiers & subject.tiers)


def _nearest(site: Site, role: SenderRole, unit_id: str | None) -> str | None:
    """The sender of ``role`` nearest the unit's jurisdiction (the lowest tier above it)."""
    unit = site.unit(unit_id) if unit_id else None
    if unit is None:
        return None
    if role is SenderRole.APPROVER:
        room = site.approver_for(unit.jurisdiction)
        return room.id if room else None
    found = [
        s
        for s in site.senders
        if s.role is role and s.jurisdiction and site.within(unit.jurisdiction, s.jurisdiction)
    ]
    tiers = {s.id: site.jurisdiction(s.jurisdiction or "") for s in found}
    best = min(found, key=lambda s: tiers[s.id].tier.rank if tiers[s.id] else 99, default=None)
    return best.id if best else None


def _parties(subject: Subject, audiences: Sequence[Audience], site: Site) -> list[str]:
    """The party ids (units, senders) the audiences name for ``subject``, in order."""
    out: list[str] = []
    for audience in audiences:
        match audience:
            case Audience.UNIT | Audience.HOLDER:
                party = subject.holder
            case Audience.SUPERVISOR:
                party = _nearest(site, SenderRole.SUPERVISOR, subject.holder)
            case Audience.COMMAND_ROOM:
                party = subject.room or _nearest(site, SenderRole.APPROVER, subject.holder)
            case _:
                party = None
        if party and party not in out:
            out.append(party)
    return out


def _link(pattern: str | None, case_id: str | None, external_id: str | None) -> str | None:
    if not pattern or case_id is None:
        return None
    return pattern.replace("{case_id}", case_id).replace("{external_id}", external_id or "")


def _context(event: Envelope, subject: Subject, site: Site, body: dict[str, Any]) -> dict[str, Any]:
    """What a template may say: ids, codes, unit names, the deadline; no personal data."""

    def name(unit_id: str | None) -> str | None:
        unit = site.unit(unit_id) if unit_id else None
        return unit.name if unit else unit_id

    category = body.get("category") or {}
    clock = body.get("deadline_kind")
    return {
        "case_id": event.case_id,
        "external_id": body.get("external_id"),
        "unit": name(subject.holder),
        "to_unit": name((body.get("to_unit") or {}).get("id")),
        "category": category.get("name_zh") or category.get("code") or "",
        "clock": CLOCKS_ZH.get(clock or "", "办理"),
        "due": local_time(subject.due_at, site.tz),
        "working_days": body.get("working_days"),
        "returns": body.get("returns"),
        "link": None,
    }


def _webhook(
    key: str,
    recipient: Subscriber,
    event: Envelope,
    subject: Subject,
    body: dict[str, Any],
    context: dict[str, Any],
    links: Any,
) -> OutboxEntry:
    link = _link(links.case, event.case_id, context["external_id"])
    words = render(subject.template, False, context | {"link": link})
    full = {**body, "notification_id": key, "message": words.text, "link": link}
    return OutboxEntry(
        key=key,
        channel=NotificationChannel.WEBHOOK,
        recipient=recipient.id,
        address=recipient.url,
        template=subject.template,
        event_id=event.event_id,
        event_type=event.type,
        case_id=event.case_id,
        body=encode_body(full),
        subject=words.subject,
        created_at=event.occurred_at,
    )


def _resident(
    event: Envelope,
    subject: Subject,
    subs: Subscriptions,
    site: Site,
    contact: Contact | None,
    context: dict[str, Any],
    out: Plan,
) -> None:
    """The resident's delivery through the first route their channel allows."""
    if not has_template(subject.template, resident=True):
        return  # nothing for residents to hear about this kind of event
    channel = Channel(contact.channel) if contact else None
    routes = subs.resident.get(channel, ()) if channel else ()
    if channel is not None and not routes:
        return  # this channel tells its residents nothing (the window: they came in person)
    external_id = contact.external_id if contact else None
    sender = site.channel_sender(channel) if channel else None
    link = _link(subs.links.rating, event.case_id, external_id)
    ctx = context | {
        "external_id": external_id,
        "brand": sender.name if sender else "网格化服务",
        "link": link if subject.template == "rating_request" else None,
    }
    words = render(subject.template, True, ctx)
    for route in routes:
        assert contact is not None
        match route:
            case ResidentRoute.CALLBACK if contact.callback_url and is_web_url(
                contact.callback_url
            ):
                kind, address = NotificationChannel.WEBHOOK, contact.callback_url
            case ResidentRoute.SMS if contact.phone:
                kind, address = NotificationChannel.SMS, contact.phone
            case ResidentRoute.EMAIL if contact.email:
                kind, address = NotificationChannel.EMAIL, contact.email
            case _:
                continue
        key = idempotency_key(event.event_id, RESIDENT, kind)
        if kind is NotificationChannel.WEBHOOK:
            text = encode_body(
                {
                    "notification_id": key,
                    "template": subject.template,
                    "event_id": event.event_id,
                    "event_type": event.type,
                    "occurred_at": event.occurred_at.isoformat(),
                    "case_id": event.case_id,
                    "external_id": external_id,
                    "reference": contact.callback_reference,
                    "message": words.text,
                    "link": ctx["link"],
                }
            )
        else:
            text = words.text
        out.entries.append(
            OutboxEntry(
                key=key,
                channel=kind,
                recipient=RESIDENT,
                address=address,
                template=subject.template,
                event_id=event.event_id,
                event_type=event.type,
                case_id=event.case_id,
                body=text,
                subject=words.subject,
                created_at=event.occurred_at,
            )
        )
        return
    kind = NotificationChannel.SMS
    why = (
        "no contact kept for the case's resident"
        if contact is None
        else f"no way to reach the resident of a {contact.channel} report (routes "
        f"{[r.value for r in routes]}: no callback URL, phone or email to use)"
    )
    out.unreachable.append(
        Unreachable(idempotency_key(event.event_id, RESIDENT, kind), kind, subject.template, why)
    )


def plan(
    event: Model, subscriptions: Subscriptions, site: Site, contact: Contact | None = None
) -> Plan:
    """The deliveries ``event`` calls for: the audiences' parties, the resident, then
    the observers, one per recipient and channel (their keys differ)."""
    out = Plan()
    if not isinstance(event, Envelope):
        return out
    subject = subject_of(event)
    if subject is None:
        return out
    details = body_for(event, subject, "", site)
    if isinstance(event, CaseAssigned):
        details["external_id"] = event.payload.case.external_id
    context = _context(event, subject, site, details)
    audiences = subscriptions.audiences.get(event.type, ())
    recipients: list[Subscriber] = []
    for party in _parties(subject, audiences, site):
        hook = subscriptions.parties.get(party)
        if hook is not None:  # a party without a webhook reads its own topic
            recipients.append(hook)
    if Audience.RESIDENT in audiences:
        _resident(event, subject, subscriptions, site, contact, context, out)
    recipients += [s for s in subscriptions.subscribers if _wants(s, subject)]
    seen = {e.key for e in out.entries}
    for recipient in recipients:
        key = idempotency_key(event.event_id, recipient.id, NotificationChannel.WEBHOOK)
        if key in seen:
            continue
        seen.add(key)
        out.entries.append(
            _webhook(key, recipient, event, subject, details, context, subscriptions.links)
        )
    return out


def contact_of(case: Case) -> Contact:
    """How to reach the reporter of ``case``: the reporter's phone, and the channel's
    callback (``case.source``: a 12345 work order's ``callback_url`` and reference).
    The report model has no email (Open311's is not kept): ``email`` is read where a
    reporter carries one."""
    reporter, source = case.reporter, case.source
    return Contact(
        channel=case.channel.value,
        phone=reporter.phone if reporter else None,
        email=getattr(reporter, "email", None) if reporter else None,
        callback_url=source.callback_url if source else None,
        external_id=case.external_id,
        callback_reference=source.callback_reference if source else None,
    )


def _resident_told(subscriptions: Subscriptions, event: Model) -> bool:
    if not isinstance(event, Envelope):
        return False
    return Audience.RESIDENT in subscriptions.audiences.get(event.type, ())


class Notifier:
    """The notifier processor: case events and deadlines in, outbox rows and records out."""

    name = PRODUCER
    topics: tuple[str, ...] = (CASES_RECEIVED.name, CASE_EVENTS.name, DEADLINES.name)

    def __init__(
        self, subscriptions: Subscriptions, site: Site, outbox: Outbox, contacts: Contacts
    ) -> None:
        self.subscriptions = subscriptions
        self.site = site
        self.outbox = outbox
        self.contacts = contacts

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        """One batch: contacts kept, deliveries planned and queued, with one write each."""
        subs = self.subscriptions
        fresh: dict[str, Contact] = {}
        if subs.tells_residents:
            for item in batch:
                if isinstance(item.message, CaseReceived):
                    fresh[item.message.payload.case_id] = contact_of(item.message.payload)
        if fresh:
            self.contacts.remember(fresh)
        wanted = {
            item.message.case_id
            for item in batch
            if _resident_told(subs, item.message) and item.message.case_id  # type: ignore[attr-defined]
        } - set(fresh)
        known = {**(self.contacts.recall(wanted) if wanted else {}), **fresh}
        outcomes: list[Outcome] = []
        entries: list[OutboxEntry] = []
        closed: list[str] = []
        for item in batch:
            message = item.message
            if isinstance(message, CaseReceived):
                outcomes.append([])
                continue
            case_id = message.case_id if isinstance(message, Envelope) else None
            planned = plan(message, subs, self.site, known.get(case_id or ""))
            entries += planned.entries
            outcomes.append(self._records(planned, message, item.now))
            if isinstance(message, CaseClosed) and case_id:
                closed.append(case_id)
        if entries:
            self.outbox.enqueue(entries)
        if closed and subs.tells_residents:
            self.contacts.forget(closed)
        return outcomes

    def tick(self, now: datetime) -> list[Emit]:
        return []

    def _records(self, planned: Plan, cause: Model, now: datetime) -> list[Emit]:
        out = []
        for e in planned.entries:
            out.append(
                self._record(
                    e.key, e.channel, e.recipient, e.template, DeliveryStatus.QUEUED, cause, now
                )
            )
        for u in planned.unreachable:
            log.info(
                "resident unreachable",
                extra={"case_id": getattr(cause, "case_id", None), "template": u.template},
            )
            out.append(
                self._record(
                    u.key,
                    u.channel,
                    RESIDENT,
                    u.template,
                    DeliveryStatus.UNDELIVERABLE,
                    cause,
                    now,
                    error=u.reason,
                )
            )
        return out

    @staticmethod
    def _record(
        key: str,
        channel: NotificationChannel,
        recipient: str,
        template: str,
        status: DeliveryStatus,
        cause: Model,
        now: datetime,
        error: str | None = None,
    ) -> Emit:
        assert isinstance(cause, Envelope)
        payload = NotificationPayload(
            notification_id=key,
            channel=channel,
            recipient=recipient,
            template=template,
            source_event_id=cause.event_id,
            source_type=cause.type,
            status=status,
            attempts=0,
            error=error,
        )
        record = NotificationRecorded.derive(
            payload,
            producer=PRODUCER,
            now=now,
            case_id=cause.case_id,
            cause=cause,
            key=(key,),
        )
        return Emit(topic=NOTIFICATIONS.name, key=cause.case_id, message=record)


def outcome_record(
    entry: OutboxEntry,
    status: DeliveryStatus,
    attempts: int,
    at: datetime,
    http_status: int | None = None,
    error: str | None = None,
) -> NotificationRecorded:
    """What the sender publishes once it is done with an entry: delivered, or failed.

    Its id is derived from the key and the status, so a sender that publishes it
    twice (killed before it recorded the outcome) publishes the same id."""
    payload = NotificationPayload(
        notification_id=entry.key,
        channel=entry.channel,
        recipient=entry.recipient,
        template=entry.template,
        source_event_id=entry.event_id,
        source_type=entry.event_type,
        status=status,
        attempts=attempts,
        http_status=http_status,
        error=error,
    )
    return NotificationRecorded.derive(
        payload,
        producer=PRODUCER,
        now=at,
        case_id=entry.case_id,
        key=(entry.key, status.value, attempts),
        correlation_id=entry.case_id or entry.event_id,
    )

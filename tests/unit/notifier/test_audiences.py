"""Who hears what, as data: the audiences' parties and the resident, by their routes."""

from __future__ import annotations

import json

from notifier.core import Notifier, contact_of, plan
from notifier.memory import MemoryContacts, MemoryOutbox
from notifier.messages import TEMPLATES, has_template
from notifier.ports import RESIDENT, Contact
from notifier.subscriptions import Audience, ResidentRoute, Subscriber, Subscriptions
from schemas.catalogue import Site
from schemas.envelope import stable_id
from schemas.notifications import DeliveryStatus, NotificationChannel, NotificationRecorded
from schemas.processing import Inbound
from schemas.reports import Channel, Source
from tests.unit.notifier.factories import (
    ADDRESS,
    CASE_ID,
    NAME,
    NOW,
    PHONE,
    assigned,
    case,
    closed,
    escalated,
    received,
    suspension_requested,
    verified,
    warning,
)

PARTIES = {
    "s.urban": Subscriber("unit.s.urban", "http://s-urban.test/"),
    "d.command": Subscriber("unit.d.command", "http://d-command.test/"),
    "d.supervise": Subscriber("sender.d.supervise", "http://d-supervise.test/"),
    "s.approve": Subscriber("sender.s.approve", "http://s-approve.test/"),
}
AUDIENCES = {
    "case.assigned": (Audience.UNIT,),
    "deadline.warning": (Audience.HOLDER,),
    "case.escalated": (Audience.HOLDER, Audience.SUPERVISOR),
    "case.suspension_requested": (Audience.COMMAND_ROOM,),
    "case.verified": (Audience.RESIDENT,),
    "case.closed": (Audience.RESIDENT,),
}
ROUTES = {
    Channel.HOTLINE_12345: (ResidentRoute.CALLBACK, ResidentRoute.SMS),
    Channel.WEB: (ResidentRoute.EMAIL, ResidentRoute.SMS),
}


def rules(**kw: object) -> Subscriptions:
    return Subscriptions(audiences=AUDIENCES, parties=PARTIES, resident=ROUTES, **kw)  # type: ignore[arg-type]


def test_each_audience_names_its_party(small_site: Site) -> None:
    s = rules()
    assert [e.recipient for e in plan(assigned(), s, small_site).entries] == ["unit.s.urban"]
    assert [e.recipient for e in plan(warning(), s, small_site).entries] == ["unit.s.urban"]
    # an escalation: the holder it leaves, and the supervisor (督办) above its jurisdiction
    assert [e.recipient for e in plan(escalated(), s, small_site).entries] == [
        "unit.s.urban",
        "sender.d.supervise",
    ]
    # a suspension request: the command room nearest the holder (the street's, for s.urban)
    [room] = plan(suspension_requested(), s, small_site).entries
    assert room.recipient == "sender.s.approve"
    assert "申请挂起案件" in json.loads(room.body)["message"]
    assert f"等{NAME}" not in room.body  # the holder's note stays off the webhook


def test_a_party_without_a_webhook_is_not_queued(small_site: Site) -> None:
    s = Subscriptions(audiences=AUDIENCES, parties={})
    assert plan(assigned(), s, small_site).entries == []
    assert plan(assigned(), s, small_site).unreachable == []  # it reads its own topic


def test_the_resident_hears_of_closure_through_the_report_channel(small_site: Site) -> None:
    s = rules()
    hotline = Contact(
        "hotline_12345",
        phone=PHONE,
        callback_url="https://12345.test/cb?o=1",
        external_id="NB-0001",
    )
    [cb] = plan(closed(), s, small_site, hotline).entries
    assert (cb.channel, cb.recipient, cb.address) == (
        NotificationChannel.WEBHOOK,
        RESIDENT,
        "https://12345.test/cb?o=1",
    )
    body = json.loads(cb.body)
    assert body["external_id"] == "NB-0001" and "已办结" in body["message"]
    assert body["message"].startswith("【Hotline】")  # the channel's own name signs it
    assert cb.key == stable_id(closed().event_id, RESIDENT, "webhook")
    # no callback URL: the phone
    [sms] = plan(closed(), s, small_site, Contact("hotline_12345", phone=PHONE)).entries
    assert (sms.channel, sms.address) == (NotificationChannel.SMS, PHONE)
    assert "已办结" in sms.body and NAME not in sms.body and ADDRESS not in sms.body
    # the web: email first
    web = Contact("web", phone=PHONE, email="wang@example.org", external_id="W-9")
    [mail] = plan(closed(), s, small_site, web).entries
    assert (mail.channel, mail.address, mail.subject) == (
        NotificationChannel.EMAIL,
        "wang@example.org",
        "您反映的问题已办结",
    )
    assert "W-9" in mail.body


def test_the_request_for_a_rating_carries_the_rating_link(small_site: Site) -> None:
    from notifier.subscriptions import LinksSpec

    s = rules(links=LinksSpec(rating="https://12345.test/rate/{external_id}"))
    contact = Contact("hotline_12345", phone=PHONE, external_id="NB-0001")
    [sms] = plan(verified(), s, small_site, contact).entries
    assert sms.template == "rating_request"
    assert "请您对办理情况进行评价" in sms.body and "https://12345.test/rate/NB-0001" in sms.body
    assert plan(verified(passed=False), s, small_site, contact).entries == []


def test_a_resident_who_cannot_be_reached_is_recorded_with_why(small_site: Site) -> None:
    s = rules()
    nothing = plan(closed(), s, small_site, None)
    assert nothing.entries == [] and "no contact kept" in nothing.unreachable[0].reason
    no_phone = plan(closed(), s, small_site, Contact("hotline_12345"))
    assert (
        "no way to reach the resident of a hotline_12345 report" in no_phone.unreachable[0].reason
    )
    # a channel with no routes (the window) tells its residents nothing, on purpose
    quiet = plan(closed(), s, small_site, Contact("window", phone=PHONE))
    assert quiet.entries == [] and quiet.unreachable == []


def test_contact_of_a_case() -> None:
    c = contact_of(case())
    assert (c.channel, c.phone, c.external_id) == ("hotline_12345", PHONE, "NB-0001")
    assert c.callback_url is None and PHONE not in repr(c)
    source = Source(
        format="hotline_12345.work_order",
        callback_url="https://12345.test/reply",
        callback_reference="WO-77",
    )
    order = contact_of(case().model_copy(update={"source": source}))
    assert (order.callback_url, order.callback_reference) == ("https://12345.test/reply", "WO-77")


def test_the_callback_quotes_the_channel_reference(small_site: Site) -> None:
    contact = Contact(
        "hotline_12345",
        callback_url="https://12345.test/reply",
        external_id="NB-0001",
        callback_reference="WO-77",
    )
    [cb] = plan(closed(), rules(), small_site, contact).entries
    assert json.loads(cb.body)["reference"] == "WO-77"


def test_the_batch_keeps_contacts_queues_and_records(small_site: Site) -> None:
    outbox, contacts = MemoryOutbox(), MemoryContacts()
    notifier = Notifier(rules(), small_site, outbox, contacts)
    batch = [Inbound(received(), NOW), Inbound(assigned(), NOW), Inbound(closed(), NOW)]
    outcomes = notifier.handle(batch)
    assert outcomes[0] == []  # a report: its contact is kept, nobody is told
    [[a], [c]] = outcomes[1:]
    for emit in (a, c):
        assert isinstance(emit.message, NotificationRecorded)
        assert emit.message.payload.status is DeliveryStatus.QUEUED
        assert emit.message.payload.attempts == 0
    assert c.message.payload.recipient == RESIDENT  # type: ignore[union-attr]
    assert c.message.payload.channel is NotificationChannel.SMS  # type: ignore[union-attr]
    assert {r.entry.recipient for r in outbox.rows()} == {"unit.s.urban", RESIDENT}
    assert contacts.recall([CASE_ID]) == {}  # closed: forgotten
    # the batch again (a redelivery): the same records, still one row per key
    again = Notifier(rules(), small_site, outbox, MemoryContacts()).handle(batch)
    assert [o for o in again[1:]] == outcomes[1:]
    assert len(outbox.rows()) == 2


def test_a_closure_in_a_later_batch_reaches_the_resident(small_site: Site) -> None:
    outbox, contacts = MemoryOutbox(), MemoryContacts()
    notifier = Notifier(rules(), small_site, outbox, contacts)
    notifier.handle([Inbound(received(), NOW)])
    assert contacts.recall([CASE_ID])[CASE_ID].phone == PHONE
    [[record]] = notifier.handle([Inbound(closed(), NOW)])
    assert record.message.payload.status is DeliveryStatus.QUEUED  # type: ignore[union-attr]
    # without a contact: undeliverable, with the reason
    [[lost]] = Notifier(rules(), small_site, MemoryOutbox(), MemoryContacts()).handle(
        [Inbound(closed(), NOW)]
    )
    assert lost.message.payload.status is DeliveryStatus.UNDELIVERABLE  # type: ignore[union-attr]
    assert "no contact" in (lost.message.payload.error or "")  # type: ignore[union-attr]


def test_no_contacts_are_kept_when_residents_hear_nothing(small_site: Site) -> None:
    contacts = MemoryContacts()
    subs = Subscriptions(audiences={"case.assigned": (Audience.UNIT,)}, parties=PARTIES)
    Notifier(subs, small_site, MemoryOutbox(), contacts).handle([Inbound(received(), NOW)])
    assert contacts.recall([CASE_ID]) == {}


def test_every_template_a_subject_names_exists() -> None:
    names = {
        "assignment",
        "escalation",
        "supervision",
        "deadline_warning",
        "supervision_reminder",
        "closure",
        "rating_request",
        "suspension_request",
        "extension_request",
        "returned",
        "queued",
    }
    assert all(has_template(n, resident=False) for n in names)
    assert {p.name.split(".")[0] for p in TEMPLATES.glob("*.resident.j2")} == {
        "closure",
        "rating_request",
    }

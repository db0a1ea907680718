"""plan() for observers: which subscriber gets what, with which template and body, and no
personal data. (Audiences and residents: test_audiences.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from notifier.core import plan
from notifier.ports import OutboxEntry
from notifier.subscriptions import Subscriber, Subscriptions
from schemas.cases import CaseAccepted, StepPayload
from schemas.catalogue import Site
from schemas.deadlines import DeadlineLapsed
from schemas.envelope import Envelope, stable_id
from schemas.reports import Tier
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
    warning,
)

ALL = frozenset({"case.assigned", "case.escalated", "deadline.warning", "case.closed"})


def subs(*subscribers: Subscriber) -> Subscriptions:
    return Subscriptions(subscribers=subscribers)


def sub(
    sid: str,
    events: frozenset[str] = ALL,
    units: frozenset[str] | None = None,
    tiers: frozenset[Tier] | None = None,
) -> Subscriber:
    return Subscriber(sid, f"http://{sid}.test/hook", events, units, tiers)


def planned(event: object, subscriptions: Subscriptions, site: Site) -> list[OutboxEntry]:
    return plan(event, subscriptions, site).entries  # type: ignore[arg-type]


def who(event: Envelope, subscriptions: Subscriptions, site: Site) -> list[str]:
    return [n.recipient for n in planned(event, subscriptions, site)]


def body(entry: OutboxEntry) -> dict[str, Any]:
    return json.loads(entry.body)


def test_each_event_type_goes_to_those_who_asked(small_site: Site) -> None:
    s = subs(
        sub("ops", frozenset({"case.escalated"})),
        sub("desk", frozenset({"case.assigned", "case.closed"})),
        sub("all"),
    )
    assert who(assigned(), s, small_site) == ["desk", "all"]
    assert who(escalated(), s, small_site) == ["ops", "all"]
    assert who(warning(), s, small_site) == ["all"]
    assert who(closed(), s, small_site) == ["desk", "all"]


def test_templates(small_site: Site) -> None:
    s = subs(sub("all"))
    templates = {
        "assignment": assigned(),
        "escalation": escalated(),
        "supervision": escalated(to_unit=None),
        "deadline_warning": warning(),
        "closure": closed(),
    }
    for template, event in templates.items():
        [n] = planned(event, s, small_site)
        assert n.template == body(n)["template"] == template
        assert n.event_type == event.type


def test_events_nobody_is_told_about(small_site: Site) -> None:
    step = StepPayload(unit_id="s.urban", seq=1, at=NOW)
    accepted = CaseAccepted.derive(step, producer="router", now=NOW, case_id=CASE_ID)
    lapsed = DeadlineLapsed.derive(
        warning().payload, producer="escalator", now=NOW, case_id=CASE_ID
    )
    s = subs(sub("all"))
    assert planned(accepted, s, small_site) == []
    assert planned(lapsed, s, small_site) == []
    assert planned(case(), s, small_site) == []  # not an envelope at all


def test_unit_filter(small_site: Site) -> None:
    s = subs(
        sub("urban", units=frozenset({"s.urban"})), sub("district", units=frozenset({"d.command"}))
    )
    assert who(assigned("s.urban"), s, small_site) == ["urban"]
    assert who(assigned("s-a.station", Tier.COMMUNITY), s, small_site) == []
    assert who(warning("s.urban"), s, small_site) == ["urban"]
    # an escalation concerns both the unit it leaves and the unit it reaches
    assert who(escalated("d.command"), s, small_site) == ["urban", "district"]
    assert who(escalated(None), s, small_site) == ["urban"]


def test_tier_filter(small_site: Site) -> None:
    s = subs(sub("district-up", tiers=frozenset({Tier.DISTRICT, Tier.CITY})))
    assert who(assigned("s.urban", Tier.STREET), s, small_site) == []
    assert who(assigned("d.command", Tier.DISTRICT), s, small_site) == ["district-up"]
    assert who(escalated("d.command"), s, small_site) == ["district-up"]  # to the district
    assert who(escalated(None), s, small_site) == []  # supervision at the street: no to-tier
    assert who(closed(), s, small_site) == []


def test_both_filters_must_match(small_site: Site) -> None:
    s = subs(sub("x", units=frozenset({"s.urban"}), tiers=frozenset({Tier.DISTRICT})))
    assert who(assigned("s.urban", Tier.STREET), s, small_site) == []
    assert who(escalated("d.command"), s, small_site) == ["x"]


def test_notification_ids_are_stable_and_distinct(small_site: Site) -> None:
    s = subs(sub("a"), sub("b"))
    event = assigned()
    first = planned(event, s, small_site)
    again = planned(assigned(), s, small_site)
    assert first == again  # the same words, keys and bytes
    assert first[0].key == stable_id(event.event_id, "a", "webhook")
    assert first[0].key != first[1].key
    assert body(first[0])["notification_id"] == first[0].key
    assert (first[0].address, first[0].case_id, first[0].event_id) == (
        "http://a.test/hook",
        CASE_ID,
        event.event_id,
    )


def test_the_secret_stays_in_the_subscriptions_not_the_outbox(small_site: Site) -> None:
    secret_sub = Subscriber("signed", "http://s.test/", ALL, secret="hunter2")
    s = subs(secret_sub)
    [n] = planned(closed(), s, small_site)
    assert s.secret_for(n.recipient) == "hunter2"  # the sender looks it up when it signs
    assert "hunter2" not in repr(n) and "hunter2" not in repr(secret_sub)
    assert "hunter2" not in n.body


def test_assignment_body(small_site: Site) -> None:
    [n] = planned(assigned(), subs(sub("all")), small_site)
    body = json.loads(n.body)
    assert body["case_id"] == CASE_ID
    assert body["unit"] == {"id": "s.urban", "name": "Street urban management", "tier": "street"}
    assert body["category"] == {"code": "urban.garbage", "name": "Garbage", "name_zh": "垃圾堆放"}
    assert body["grid"] == {"id": "s-a-g1", "name": "Grid A1"}
    assert body["urgency"] == "urgent"
    assert body["seq"] == 1 and body["reason"] == "initial"
    assert body["assigned_at"] == NOW.isoformat()
    assert body["external_id"] == "NB-0001"
    assert body["message"].startswith("【网格化治理】Street urban management：收到新派遣案件")
    assert CASE_ID in body["message"] and "垃圾堆放" in body["message"]
    assert n.subject == f"【新派遣】案件 {CASE_ID}"


def test_warning_escalation_and_closure_bodies(small_site: Site) -> None:
    s = subs(sub("all"))
    [w] = map(body, planned(warning(), s, small_site))
    assert w["due_at"] == warning().payload.due_at.isoformat()
    assert (w["deadline_kind"], w["working_days"]) == ("resolve", 5)
    # the deadline, in the site's time, in the words
    assert "办结时限" in w["message"] and "办理时限：2024年6月3日 14:00" in w["message"]
    [e] = map(body, planned(escalated(), s, small_site))
    assert e["from_unit"]["id"] == "s.urban"
    assert e["to_unit"] == {"id": "d.command", "name": "District command", "tier": "district"}
    assert "升级至 District command" in e["message"]
    [sv] = map(body, planned(escalated(None), s, small_site))
    assert sv["to_unit"] is None and sv["message"].startswith("【督办】")
    [c] = map(body, planned(closed(), s, small_site))
    assert (c["on_time"], c["rating"], c["escalations"]) == (True, 5, 0)


@pytest.mark.parametrize("make", [assigned, escalated, warning, closed])
def test_no_personal_data_or_free_text_in_bodies(
    small_site: Site, make: Callable[[], Envelope]
) -> None:
    event = make()
    [n] = planned(event, subs(sub("all")), small_site)
    text = n.body
    for secret in (NAME, PHONE, ADDRESS, "兴庄路", case().description, case().title):
        assert secret not in text
    assert "reporter" not in text and "location" not in text and "description" not in text

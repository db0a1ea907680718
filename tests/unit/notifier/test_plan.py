"""plan(): which subscriber gets what, with which template and body, and no personal data."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from notifier.core import plan
from notifier.subscriptions import Subscriber, Subscriptions
from notifier.webhook import encode_body
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


def who(event: Envelope, subscriptions: Subscriptions, site: Site) -> list[str]:
    return [n.subscriber for n in plan(event, subscriptions, site)]


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
        [n] = plan(event, s, small_site)
        assert n.template == n.body["template"] == template
        assert n.event_type == event.type


def test_events_nobody_is_told_about(small_site: Site) -> None:
    step = StepPayload(unit_id="s.urban", seq=1, at=NOW)
    accepted = CaseAccepted.derive(step, producer="router", now=NOW, case_id=CASE_ID)
    lapsed = DeadlineLapsed.derive(
        warning().payload, producer="escalator", now=NOW, case_id=CASE_ID
    )
    s = subs(sub("all"))
    assert plan(accepted, s, small_site) == []
    assert plan(lapsed, s, small_site) == []
    assert plan(case(), s, small_site) == []  # not an envelope at all


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
    first = plan(event, s, small_site)
    again = plan(assigned(), s, small_site)
    assert [n.notification_id for n in first] == [n.notification_id for n in again]
    assert first[0].notification_id == stable_id(event.event_id, "a", "webhook")
    assert first[0].notification_id != first[1].notification_id
    assert first[0].body["notification_id"] == first[0].notification_id
    assert (first[0].url, first[0].case_id, first[0].event_id) == (
        "http://a.test/hook",
        CASE_ID,
        event.event_id,
    )


def test_secret_travels_with_the_notification_but_not_its_repr(small_site: Site) -> None:
    secret_sub = Subscriber("signed", "http://s.test/", ALL, secret="hunter2")
    [n] = plan(closed(), subs(secret_sub), small_site)
    assert n.secret == "hunter2"
    assert "hunter2" not in repr(n) and "hunter2" not in repr(secret_sub)
    assert "hunter2" not in encode_body(n.body).decode()


def test_assignment_body(small_site: Site) -> None:
    [n] = plan(assigned(), subs(sub("all")), small_site)
    body = n.body
    assert body["case_id"] == CASE_ID
    assert body["unit"] == {"id": "s.urban", "name": "Street urban management", "tier": "street"}
    assert body["category"] == {"code": "urban.garbage", "name": "Garbage", "name_zh": "垃圾堆放"}
    assert body["grid"] == {"id": "s-a-g1", "name": "Grid A1"}
    assert body["urgency"] == "urgent"
    assert body["seq"] == 1 and body["reason"] == "initial"
    assert body["assigned_at"] == NOW.isoformat()


def test_warning_escalation_and_closure_bodies(small_site: Site) -> None:
    s = subs(sub("all"))
    [w] = plan(warning(), s, small_site)
    assert w.body["due_at"] == warning().payload.due_at.isoformat()
    assert (w.body["deadline_kind"], w.body["working_days"]) == ("resolve", 5)
    [e] = plan(escalated(), s, small_site)
    assert e.body["from_unit"]["id"] == "s.urban"
    assert e.body["to_unit"] == {"id": "d.command", "name": "District command", "tier": "district"}
    [sv] = plan(escalated(None), s, small_site)
    assert sv.body["to_unit"] is None
    [c] = plan(closed(), s, small_site)
    assert (c.body["on_time"], c.body["rating"], c.body["escalations"]) == (True, 5, 0)


@pytest.mark.parametrize("make", [assigned, escalated, warning, closed])
def test_no_personal_data_or_free_text_in_bodies(
    small_site: Site, make: Callable[[], Envelope]
) -> None:
    event = make()
    [n] = plan(event, subs(sub("all")), small_site)
    text = encode_body(n.body).decode("utf-8")
    for secret in (NAME, PHONE, ADDRESS, "兴庄路", case().description, case().title):
        assert secret not in text
    assert "reporter" not in text and "location" not in text and "description" not in text

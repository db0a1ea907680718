"""Deadline policies as data (issue 8, points 3 and 4): overrides and their precedence,
limits in hours and calendar days, warnings at shares of the limit and on the last day,
what a lapse says, and reminders at the top tier until the case closes."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from escalator.calendar import WorkingCalendar
from escalator.clocks import clocks_for, warning_moments
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAssigned,
    CaseAssignedPayload,
    CaseEscalated,
    DeadlineKind,
    EscalatedPayload,
    Limit,
    LimitUnit,
)
from schemas.catalogue import DEFAULT_SITE, CatalogueError, Deadlines, Site, load_site
from schemas.codec import encode
from schemas.deadlines import DeadlineLapsed, DeadlineReminder, DeadlineWarning
from schemas.reports import CaseFacts, Channel, RequestType, Tier, Urgency
from schemas.topics import DEADLINES, Emit
from tests.support.sites import tiny_site

from .builders import LIMITS, ROUTER, THU, at, closed, inbound, story_of

H, WD, CD = LimitUnit.HOURS, LimitUnit.WORKING_DAYS, LimitUnit.CALENDAR_DAYS

OVERRIDES: list[dict[str, Any]] = [
    {"name": "urgent", "urgency": "urgent", "resolve": {"hours": 2}},
    {"name": "water", "categories": ["city.water"], "resolve": {"hours": 24}},
    {
        "name": "garbage-a",
        "jurisdiction": "s-a",
        "categories": ["urban.garbage"],
        "resolve": {"calendar_days": 2},
    },
    {"name": "garbage", "categories": ["urban.garbage"], "resolve": {"working_days": 1}},
    {
        "name": "enquiry-a",
        "jurisdiction": "s-a",
        "request_type": "enquiry",
        "resolve": {"working_days": 2},
    },
    {"name": "enquiry", "request_type": "enquiry", "resolve": {"hours": 8}, "accept": {"hours": 1}},
    {"name": "street", "jurisdiction": "s", "resolve": 4},
    {"name": "community-a", "jurisdiction": "s-a", "resolve": {"working_days": 6}},
]


def policy_site(**policy: Any) -> Site:
    return tiny_site(tiers=LIMITS, **policy)


def facts(
    case_id: str = "c1",
    *,
    category: str = "street.parking",
    grid: str = "s-b-g1",
    urgency: Urgency = Urgency.NORMAL,
    request_type: RequestType | None = None,
    when: datetime = THU,
) -> CaseFacts:
    return CaseFacts(
        case_id=case_id,
        channel=Channel.HOTLINE_12345,
        external_id=f"ext-{case_id}",
        reported_at=when,
        received_at=when,
        category=category,
        grid_id=grid,
        urgency=urgency,
        request_type=request_type,
    )


def assignment(
    tier: Tier = Tier.STREET, unit_id: str = "s.urban", when: datetime = THU
) -> Assignment:
    return Assignment(
        unit_id=unit_id,
        unit_name="unit",
        tier=tier,
        owner_tier=tier,
        jurisdiction_id="s",
        seq=1,
        reason=AssignmentReason.INITIAL,
        assigned_at=when,
    )


def assigned(case: CaseFacts, a: Assignment) -> CaseAssigned:
    payload = CaseAssignedPayload(assignment=a, case=case)
    return CaseAssigned.derive(
        payload, producer=ROUTER, now=a.assigned_at, case_id=case.case_id, key=(a.seq,)
    )


# --- which limit holds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "resolve", "policy"),
    [
        # nothing matches but the jurisdiction: the street's own
        (facts(grid="s-b-g1"), Limit(amount=4, unit=WD), "street"),
        # the nearer jurisdiction wins at one level
        (facts(grid="s-a-g1"), Limit(amount=6, unit=WD), "community-a"),
        # request type > jurisdiction
        (facts(request_type=RequestType.ENQUIRY), Limit(amount=8, unit=H), "enquiry"),
        # jurisdiction+request type > request type
        (
            facts(grid="s-a-g2", request_type=RequestType.ENQUIRY),
            Limit(amount=2, unit=WD),
            "enquiry-a",
        ),
        # category > request type
        (
            facts(category="urban.garbage", request_type=RequestType.ENQUIRY),
            Limit(amount=1, unit=WD),
            "garbage",
        ),
        # jurisdiction+category > category (and > jurisdiction+request type)
        (
            facts(category="urban.garbage", grid="s-a-g1", request_type=RequestType.ENQUIRY),
            Limit(amount=2, unit=CD),
            "garbage-a",
        ),
        # urgency > everything
        (
            facts(category="urban.garbage", grid="s-a-g1", urgency=Urgency.URGENT),
            Limit(amount=2, unit=H),
            "urgent",
        ),
        (facts(category="city.water", grid="s-b-g1"), Limit(amount=24, unit=H), "water"),
    ],
)
def test_each_override_kind_and_their_precedence(
    case: CaseFacts, resolve: Limit, policy: str
) -> None:
    site = policy_site(overrides=OVERRIDES)
    limit, override = site.limit_for(DeadlineKind.RESOLVE, Tier.STREET, case)
    assert (limit, override.name if override else None) == (resolve, policy)


def test_each_clock_is_decided_on_its_own_and_the_tier_when_none_sets_it() -> None:
    site = policy_site(overrides=OVERRIDES)
    urgent_enquiry = facts(urgency=Urgency.URGENT, request_type=RequestType.ENQUIRY)
    # resolve from urgency; accept falls through to the request type, which sets it
    assert site.limit_for(DeadlineKind.RESOLVE, Tier.STREET, urgent_enquiry)[1].name == "urgent"  # type: ignore[union-attr]
    assert site.limit_for(DeadlineKind.ACCEPT, Tier.STREET, urgent_enquiry) == (
        Limit(amount=1, unit=H),
        site.deadlines.overrides[5],
    )
    # no override sets refer: the tier's own, in working days
    assert site.limit_for(DeadlineKind.REFER, Tier.STREET, urgent_enquiry) == (
        Limit(amount=1, unit=WD),
        None,
    )
    assert policy_site().limit_for(DeadlineKind.RESOLVE, Tier.CITY, facts()) == (
        Limit(amount=10, unit=WD),
        None,
    )


def test_hour_and_calendar_day_limits_count_by_their_own_rules() -> None:
    site = policy_site(overrides=OVERRIDES)
    cal = WorkingCalendar()
    urgent = {c.kind: c for c in clocks_for(site, cal, assignment(), facts(urgency=Urgency.URGENT))}
    assert urgent[DeadlineKind.RESOLVE].due_at == at(2026, 3, 5, 12)  # 2 elapsed hours
    assert urgent[DeadlineKind.RESOLVE].working_days is None
    assert urgent[DeadlineKind.ACCEPT].due_at == at(2026, 3, 6, 0)  # the tier's same day
    water = clocks_for(site, cal, assignment(Tier.CITY, "c.water"), facts(category="city.water"))
    assert {c.kind: c.due_at for c in water}[DeadlineKind.RESOLVE] == at(2026, 3, 6, 10)
    garbage = facts(category="urban.garbage", grid="s-a-g1")
    (_, resolve) = clocks_for(site, cal, assignment(), garbage)
    # 2 calendar days from Thursday end on Saturday, not a working day: Monday's end
    assert (resolve.limit, resolve.policy, resolve.due_at) == (
        Limit(amount=2, unit=CD),
        "garbage-a",
        at(2026, 3, 10, 0),
    )


# --- validated at load -----------------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, target)
    return target


def _with_overrides(copy: Path, yaml_lines: str) -> Site:
    path = copy / "site.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "  overrides:\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + yaml_lines, 1), encoding="utf-8")
    return load_site(copy)


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        (
            "    - {name: x, categories: [urban.nothing], resolve: 1}\n",
            "override x: unknown categories ['urban.nothing']",
        ),
        ("    - {name: x, jurisdiction: nowhere, resolve: 1}\n", "unknown jurisdiction nowhere"),
        (
            "    - {name: x, urgency: urgent, categories: [urban.garbage], resolve: 1}\n",
            "urgency is matched alone",
        ),
        (
            "    - {name: x, categories: [urban.garbage], request_type: help, resolve: 1}\n",
            "in one of the combinations",
        ),
        ("    - {name: x, request_type: help}\n", "sets no limit"),
        ("    - {name: x, request_type: help, resolve: {hours: 2, working_days: 1}}\n", "a limit"),
        ("    - {name: x, request_type: hurry, resolve: 1}\n", "request_type"),
        ("    - {name: urgent, request_type: help, resolve: 1}\n", "duplicate override names"),
        (
            "    - {name: x, categories: [urban.water_outage, urban.garbage], resolve: 3}\n",
            "overrides x and utilities both set ['resolve']",
        ),
    ],
)
def test_a_bad_override_stops_the_load(copy: Path, lines: str, why: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        _with_overrides(copy, lines)
    assert why in str(caught.value)


def test_overrides_at_different_levels_or_for_different_clocks_load(copy: Path) -> None:
    site = _with_overrides(
        copy,
        "    - {name: x, categories: [urban.garbage], accept: {hours: 4}}\n"
        "    - {name: y, jurisdiction: zs-xzl, categories: [urban.garbage], resolve: 2}\n",
    )
    assert [o.name for o in site.deadlines.overrides][:2] == ["x", "y"]


@pytest.mark.parametrize(
    "deadlines",
    [
        {"warnings": {"shares": [0.8, 0.5]}},
        {"warnings": {"shares": [1.0]}},
        {"warnings": {"shares": [0.5]}, "warn_before_hours": 4},
        {"reminder_every": {"hours": 0}},
        {"reminder_every": {"fortnights": 1}},
    ],
)
def test_bad_warning_or_reminder_policies_are_refused(deadlines: dict[str, Any]) -> None:
    tiers = {t.value: days for t, days in LIMITS.items()}
    with pytest.raises(ValueError):
        Deadlines.model_validate({"tiers": tiers, **deadlines})


def test_the_bundled_site_shows_each_kind_of_override() -> None:
    site = load_site()
    by_name = {o.name: o for o in site.deadlines.overrides}
    hotline = facts(category="urban.garbage", grid="zs-xzl-g01")
    urgent = hotline.model_copy(update={"urgency": Urgency.URGENT})
    assert site.limit_for(DeadlineKind.RESOLVE, Tier.STREET, urgent)[0] == Limit(amount=2, unit=H)
    water = hotline.model_copy(update={"category": "urban.water_outage"})
    assert site.limit_for(DeadlineKind.RESOLVE, Tier.CITY, water)[0] == Limit(amount=24, unit=H)
    for kind, limit in [
        (RequestType.ENQUIRY, Limit(amount=1, unit=WD)),
        (RequestType.HELP, Limit(amount=2, unit=WD)),
        (RequestType.COMPLAINT, Limit(amount=7, unit=CD)),
    ]:
        asked = hotline.model_copy(update={"request_type": kind})
        assert site.limit_for(DeadlineKind.RESOLVE, Tier.STREET, asked)[0] == limit
    assert by_name["straw-burning-yw"].jurisdiction == "zs-yw"
    assert site.deadlines.reminder_every == Limit(amount=24, unit=H)


# --- warnings: shares of the limit and the last day, each once ------------------------

SHARES = {"warnings": {"shares": [0.5, 0.8], "last_day": True}}
# street: resolve 5 working days from Thu 5 March 10:00 -> 24:00 on Thu 12 March (182 h)
RESOLVE_DUE = at(2026, 3, 13, 0)
RESOLVE_WARNINGS = [at(2026, 3, 9, 5), at(2026, 3, 11, 11, 36), at(2026, 3, 12, 0)]
# accept the same day: 24:00 (14 h); its last day began before the start: none then
ACCEPT_WARNINGS = [at(2026, 3, 5, 17), at(2026, 3, 5, 21, 12)]


def test_the_warning_moments_of_a_clock() -> None:
    site = policy_site(**SHARES)
    assert list(warning_moments(site, THU, RESOLVE_DUE)) == RESOLVE_WARNINGS
    assert list(warning_moments(site, THU, at(2026, 3, 6, 0))) == ACCEPT_WARNINGS
    legacy = policy_site()  # warn_before_hours: 4, the older form
    assert list(warning_moments(legacy, THU, RESOLVE_DUE)) == [at(2026, 3, 12, 20)]


def _warnings(out: list[Emit]) -> list[tuple[DeadlineKind, datetime]]:
    return [
        (e.message.payload.kind, e.message.occurred_at)  # type: ignore[attr-defined]
        for e in story_of(out)
        if isinstance(e.message, DeadlineWarning)
    ]


def test_each_share_and_the_last_day_warn_once() -> None:
    site = policy_site(**SHARES)
    store = MemoryDeadlineStore()
    escalator = Escalator(site, WorkingCalendar(), store)
    escalator.handle(inbound([assigned(facts(), assignment())]))
    seen: list[tuple[DeadlineKind, datetime]] = []
    ids: list[str] = []
    moment = THU
    while moment < RESOLVE_DUE:
        for _ in range(2):  # a second tick at the same moment sends nothing again
            out = escalator.tick(moment)
            seen += _warnings(out)
            ids += [
                e.message.event_id for e in story_of(out) if isinstance(e.message, DeadlineWarning)
            ]
        moment += timedelta(minutes=12)
    assert seen == sorted(
        [(DeadlineKind.ACCEPT, m) for m in ACCEPT_WARNINGS]
        + [(DeadlineKind.RESOLVE, m) for m in RESOLVE_WARNINGS],
        key=lambda w: w[1],
    )
    assert len(set(ids)) == len(ids)  # each warning its own id


def test_warnings_missed_in_downtime_come_one_a_tick_in_order() -> None:
    site = policy_site(**SHARES)
    store = MemoryDeadlineStore()
    escalator = Escalator(site, WorkingCalendar(), store)
    escalator.handle(inbound([assigned(facts(), assignment())]))
    escalator.tick(at(2026, 3, 6, 0))  # the accept lapses, its warnings sent on the way
    late = at(2026, 3, 12, 12)  # every resolve warning is due by now
    got = [_warnings(escalator.tick(late)) for _ in range(4)]
    assert got == [[(DeadlineKind.RESOLVE, m)] for m in RESOLVE_WARNINGS] + [[]]
    (row,) = store.rows()
    assert row.warned and row.warn_at == RESOLVE_WARNINGS[-1]  # none left


# --- a lapse says which clock, whose, and its limit ----------------------------------


def test_a_lapse_names_the_clock_the_tier_the_unit_and_its_limit() -> None:
    site = policy_site(overrides=OVERRIDES)
    escalator = Escalator(site, WorkingCalendar(), MemoryDeadlineStore())
    escalator.handle(inbound([assigned(facts(urgency=Urgency.URGENT), assignment())]))
    out = story_of(escalator.tick(at(2026, 3, 5, 13, 30)))  # an hour and a half late
    (lapse,) = [e.message for e in out if isinstance(e.message, DeadlineLapsed)]
    assert lapse.payload.model_dump(mode="json") == {
        "kind": "resolve",
        "unit_id": "s.urban",
        "tier": "street",
        "seq": 1,
        "due_at": "2026-03-05T12:00:00+08:00",
        "working_days": None,
        "limit": {"amount": 2, "unit": "hours"},
        "policy": "urgent",
        "started_at": "2026-03-05T10:00:00+08:00",
        "provisional": False,
    }
    # it happens at its due time, whenever the tick ran: the same bytes at any lateness
    assert lapse.occurred_at == at(2026, 3, 5, 12)
    again = Escalator(site, WorkingCalendar(), MemoryDeadlineStore())
    again.handle(inbound([assigned(facts(urgency=Urgency.URGENT), assignment())]))
    (same,) = [
        e.message
        for e in story_of(again.tick(at(2026, 3, 5, 23)))
        if isinstance(e.message, DeadlineLapsed)
    ]
    assert encode(same) == encode(lapse)


# --- at the top: reminders until the case closes -------------------------------------

CITY_ACCEPT_DUE = at(2026, 3, 7, 0)  # the tiny city accepts within 1 working day: Friday's end


def _supervised(case_id: str, due_at: datetime) -> CaseEscalated:
    """What the router says when a lapse reaches the top: supervised where it is."""
    payload = EscalatedPayload(
        from_unit_id="c.water",
        from_tier=Tier.CITY,
        to_unit_id=None,
        to_tier=None,
        reason=AssignmentReason.ESCALATED,
        deadline_kind=DeadlineKind.ACCEPT,
        due_at=due_at,
        seq=1,
    )
    return CaseEscalated.derive(
        payload, producer=ROUTER, now=due_at, case_id=case_id, key=("c.water",)
    )


def _reminders(out: list[Emit]) -> list[tuple[datetime, int]]:
    return [
        (e.message.occurred_at, e.message.payload.late_by_seconds)  # type: ignore[attr-defined]
        for e in story_of(out)
        if isinstance(e.message, DeadlineReminder)
    ]


def _top_tier_lapse(escalator: Escalator) -> None:
    city = assignment(Tier.CITY, "c.water")
    escalator.handle(inbound([assigned(facts(category="city.water"), city)]))
    out = story_of(escalator.tick(CITY_ACCEPT_DUE))
    assert [type(e.message) for e in out] == [DeadlineLapsed]
    escalator.handle(inbound([_supervised("c1", CITY_ACCEPT_DUE)]))


def test_a_case_supervised_at_the_top_is_reminded_on_the_period_until_it_closes() -> None:
    site = policy_site(reminder_every={"hours": 24})
    store = MemoryDeadlineStore()
    escalator = Escalator(site, WorkingCalendar(), store)
    _top_tier_lapse(escalator)
    (row,) = store.rows()  # the holder's other clocks went with the supervision
    assert (row.kind, row.unit_id, row.due_at) == (
        DeadlineKind.REMIND,
        "c.water",
        CITY_ACCEPT_DUE + timedelta(hours=24),
    )
    day = timedelta(hours=24)
    assert _reminders(escalator.tick(CITY_ACCEPT_DUE + day - timedelta(seconds=1))) == []
    out = escalator.tick(CITY_ACCEPT_DUE + day)
    assert _reminders(out) == [(CITY_ACCEPT_DUE + day, 86400)]
    reminder = story_of(out)[0].message
    assert isinstance(reminder, DeadlineReminder)
    assert [e.topic for e in out] == [DEADLINES.name, "gridflow.assignments.c.water"]
    assert (reminder.payload.kind, reminder.payload.tier) == (DeadlineKind.REMIND, Tier.CITY)
    assert reminder.payload.started_at == CITY_ACCEPT_DUE  # overdue since
    assert reminder.payload.limit == Limit(amount=24, unit=H)  # the period
    # after downtime: each missed one, a tick apart, each with its own lateness
    late = CITY_ACCEPT_DUE + 3 * day + timedelta(hours=5)
    assert _reminders(escalator.tick(late)) == [(CITY_ACCEPT_DUE + 2 * day, 2 * 86400)]
    assert _reminders(escalator.tick(late)) == [(CITY_ACCEPT_DUE + 3 * day, 3 * 86400)]
    assert _reminders(escalator.tick(late)) == []
    # the case closes: no more
    escalator.handle(inbound([closed("c1", late)]))
    assert store.rows() == []
    assert _reminders(escalator.tick(late + 10 * day)) == []


def test_reminders_in_working_days_come_at_the_end_of_each_one_the_same_bytes_each_run() -> None:
    def run() -> list[Emit]:
        site = policy_site(reminder_every={"working_days": 1})
        escalator = Escalator(site, WorkingCalendar(), MemoryDeadlineStore())
        _top_tier_lapse(escalator)  # at 24:00 on Friday 6 March
        out: list[Emit] = []
        for days in (1, 3, 3, 9, 9, 9, 9, 9):
            out += story_of(escalator.tick(CITY_ACCEPT_DUE + timedelta(days=days)))
        return out

    first = run()
    assert [encode(e.message) for e in first] == [encode(e.message) for e in run()]
    # the end of each working day from Monday to Friday, none for the weekend; then
    # nothing until Monday 16 March ends
    assert [e.message.occurred_at for e in first] == [
        at(2026, 3, 10, 0),
        at(2026, 3, 11, 0),
        at(2026, 3, 12, 0),
        at(2026, 3, 13, 0),
        at(2026, 3, 14, 0),
    ]
    assert len({e.message.event_id for e in first}) == 5


def test_no_reminders_without_a_period_or_below_the_top() -> None:
    store = MemoryDeadlineStore()
    _top_tier_lapse(Escalator(policy_site(), WorkingCalendar(), store))
    assert store.rows() == []  # the site sends none
    store = MemoryDeadlineStore()
    escalator = Escalator(policy_site(reminder_every={"hours": 4}), WorkingCalendar(), store)
    escalator.handle(inbound([assigned(facts(), assignment())]))
    up = _supervised("c1", CITY_ACCEPT_DUE).payload.model_copy(
        update={"to_unit_id": "d.command", "to_tier": Tier.DISTRICT, "from_unit_id": "s.urban"}
    )
    moved = CaseEscalated.derive(up, producer=ROUTER, now=CITY_ACCEPT_DUE, case_id="c1")
    escalator.handle(inbound([moved]))
    assert store.rows() == []  # escalated to someone: fresh clocks come with the assignment

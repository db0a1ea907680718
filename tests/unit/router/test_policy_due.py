"""The router and the escalator agree on every clock of the site's policies (overrides,
units, warnings), and the ladder's top: supervision with the assignment named, then
reminders the router does not escalate."""

from __future__ import annotations

from datetime import timedelta

from escalator.clocks import site_calendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import CaseAssigned, CaseDispatched, CaseEscalated, DeadlineKind, Limit
from schemas.catalogue import Site
from schemas.deadlines import DeadlineReminder, ReminderPayload
from schemas.processing import Inbound
from schemas.reports import Case, RequestType, Tier, Urgency
from tests.support.sites import tiny_site
from tests.unit.router.support import T0, act, case, deadline, file_of, received

POLICY = {
    "warnings": {"shares": [0.5, 0.8], "last_day": True},
    "overrides": [
        {"name": "urgent", "urgency": "urgent", "resolve": {"hours": 2}},
        {"name": "enquiry", "request_type": "enquiry", "accept": {"hours": 1}},
        {
            "name": "parking-a",
            "jurisdiction": "s-a",
            "categories": ["street.parking"],
            "resolve": {"calendar_days": 3},
        },
    ],
    "reminder_every": {"hours": 12},
}


def _site() -> Site:
    return tiny_site(**POLICY)


def _agree(site: Site, c: Case) -> None:
    out = act(Router(site, MemoryCaseStore()), received(c), T0)
    dispatched = next(e.message for e in out if isinstance(e.message, CaseDispatched))
    story = next(e.message for e in out if isinstance(e.message, CaseAssigned))
    store = MemoryDeadlineStore()
    Escalator(site, site_calendar(site), store).handle([Inbound(story, T0)])
    armed = {d.kind: d for d in store.load([c.case_id])[c.case_id]}
    due = {d.kind: d for d in dispatched.payload.due}
    assert {
        k: (d.due_at, d.warn_at, d.limit, d.policy, d.provisional) for k, d in armed.items()
    } == {k: (d.due_at, d.warn_at, d.limit, d.policy, d.provisional) for k, d in due.items()}
    for d in due.values():  # the unit is told every warning moment, the first one armed
        assert d.warnings[:1] == ([d.warn_at] if d.warn_at else [])


def test_the_unit_gets_each_policy_clock_as_the_escalator_arms_it() -> None:
    site = _site()
    plain = case()
    urgent_enquiry = plain.model_copy(
        update={"urgency": Urgency.URGENT, "request_type": RequestType.ENQUIRY}
    )
    parking_a = plain.model_copy(update={"grid_id": "s-a-g2"})
    for c in (plain, urgent_enquiry, parking_a):
        _agree(site, c)
    out = act(Router(site, MemoryCaseStore()), received(urgent_enquiry), T0)
    dispatched = next(e.message for e in out if isinstance(e.message, CaseDispatched))
    due = {d.kind: d for d in dispatched.payload.due}
    assert (due[DeadlineKind.RESOLVE].policy, due[DeadlineKind.RESOLVE].limit) == (
        "urgent",
        Limit(amount=2, unit="hours"),
    )
    assert due[DeadlineKind.RESOLVE].due_at == T0 + timedelta(hours=2)
    assert due[DeadlineKind.RESOLVE].working_days is None
    assert (due[DeadlineKind.ACCEPT].policy, due[DeadlineKind.ACCEPT].limit.amount) == (  # type: ignore[union-attr]
        "enquiry",
        1,
    )


def test_supervision_at_the_top_names_the_assignment_and_a_reminder_moves_nothing() -> None:
    store = MemoryCaseStore()
    router = Router(_site(), store)
    act(router, received(case(category="city.water")), T0)  # enters at the street
    ladder = [("s.command", Tier.STREET), ("d.command", Tier.DISTRICT)]
    for seq, (unit, tier) in enumerate(ladder, 1):
        act(router, deadline("GF-1", unit, tier, seq, DeadlineKind.REFER), T0)
    out = act(router, deadline("GF-1", "c.water", Tier.CITY, 3, DeadlineKind.ACCEPT), T0)
    top = out[0].message
    assert isinstance(top, CaseEscalated)
    assert (top.payload.to_unit_id, top.payload.seq) == (None, 3)
    before = file_of(store, "GF-1")

    payload = ReminderPayload(
        kind=DeadlineKind.REMIND,
        unit_id="c.water",
        tier=Tier.CITY,
        seq=3,
        due_at=T0 + timedelta(hours=12),
        started_at=T0,
        late_by_seconds=12 * 3600,
    )
    reminder = DeadlineReminder.derive(payload, producer="escalator", now=T0, case_id="GF-1")
    assert act(router, reminder, T0 + timedelta(hours=12)) == []
    assert file_of(store, "GF-1") == before  # no escalation counted, nothing moved

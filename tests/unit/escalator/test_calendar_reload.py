"""A State Council notice taken up while the processes run (services.calendar_watch).

The escalator and the router count on the new calendar from the next batch or tick,
with no restart: the escalator's provisional deadlines are counted again and each
announced once, and an assignment told on the old calendar is corrected by the
escalator's own count. The watch loads the site directory again, so a bad file is
refused (logged and counted) and the calendar in use stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from escalator.calendar import WorkingCalendar
from escalator.clocks import clocks_for
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from schemas.calendar import load_schedule
from schemas.cases import CaseAssigned, DeadlineKind, Due
from schemas.catalogue import DEFAULT_SITE, load_site
from schemas.deadlines import DeadlineRescheduled
from schemas.reports import Tier
from services.calendar_watch import RELOADS, SiteCalendarWatch
from tests.support.sites import tiny_site

from .builders import LIMITS, assigned, inbound
from .test_official import TEST_NOTICE_2027
from .test_provisional import MON, OFFICIAL_DUE, PROVISIONAL_DUE, UNIT_TOPIC


@pytest.fixture
def known(tmp_path: Path) -> WorkingCalendar:
    """The calendar once the 2027 notice is loaded."""
    path = tmp_path / "calendar.yaml"
    path.write_text(TEST_NOTICE_2027, encoding="utf-8")
    return WorkingCalendar(schedule=load_schedule(path))


class Source:
    """A calendar source that hands over the calendars it is given, once each."""

    def __init__(self) -> None:
        self.next: WorkingCalendar | None = None

    def changed(self) -> WorkingCalendar | None:
        new, self.next = self.next, None
        return new


def test_a_notice_taken_up_while_running_reschedules_once(known: WorkingCalendar) -> None:
    source = Source()
    store = MemoryDeadlineStore()
    escalator = Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), store, calendars=source)
    assert escalator.handle(inbound([assigned("c1", when=MON, tier=Tier.STREET)])) == [[]]
    assert escalator.tick(MON) == []  # the pass over the provisional ones finds nothing new
    source.next = known  # the operator added 2027 to calendar.yaml
    out = escalator.tick(MON)
    news = {e.message.payload.kind: e.message for e in out}
    assert {e.topic for e in out} == {UNIT_TOPIC}
    resolve = news[DeadlineKind.RESOLVE]
    assert isinstance(resolve, DeadlineRescheduled)
    assert resolve.payload.due_at == OFFICIAL_DUE
    assert resolve.payload.previous_due_at == PROVISIONAL_DUE
    assert escalator.tick(MON) == []  # once
    # and the clocks it arms from now on are official from the start
    assert escalator.handle(inbound([assigned("c2", when=MON, tier=Tier.STREET)])) == [[]]
    assert not any(d.provisional for d in store.load(["c2"])["c2"])


def _told(message: CaseAssigned, calendar: WorkingCalendar) -> CaseAssigned:
    """``message`` carrying the due times a router counting on ``calendar`` told."""
    site = tiny_site(tiers=LIMITS)
    p = message.payload
    due = [
        Due(kind=c.kind, due_at=c.due_at, provisional=c.provisional, limit=c.limit)
        for c in clocks_for(site, calendar, p.assignment, p.case)
    ]
    return message.model_copy(update={"payload": p.model_copy(update={"due": due})})


def test_an_assignment_told_on_the_old_calendar_is_corrected(known: WorkingCalendar) -> None:
    """The router still counted on the old calendar; the escalator, on the new one, arms
    the official clock and tells the unit so, at the assignment's own time."""
    message = _told(assigned("c1", when=MON, tier=Tier.STREET), WorkingCalendar())
    outs = []
    for _ in range(2):  # a re-run: the same ids and bytes
        escalator = Escalator(tiny_site(tiers=LIMITS), known, MemoryDeadlineStore())
        [emits] = escalator.handle(inbound([message]))
        outs.append(emits)
    assert outs[0] == outs[1]
    news = {e.message.payload.kind: e.message for e in outs[0]}
    resolve = news[DeadlineKind.RESOLVE]
    assert isinstance(resolve, DeadlineRescheduled)
    assert (resolve.payload.previous_due_at, resolve.payload.due_at) == (
        PROVISIONAL_DUE,
        OFFICIAL_DUE,
    )
    assert resolve.occurred_at == message.occurred_at
    assert {e.topic for e in outs[0]} == {UNIT_TOPIC}


def test_an_assignment_told_what_is_armed_says_nothing_more(known: WorkingCalendar) -> None:
    message = _told(assigned("c1", when=MON, tier=Tier.STREET), known)
    escalator = Escalator(tiny_site(tiers=LIMITS), known, MemoryDeadlineStore())
    assert escalator.handle(inbound([message])) == [[]]


# --- the watch, on a copy of the bundled site -----------------------------------------


class Ticker:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, target)
    (target / "calendar.yaml").unlink(missing_ok=True)
    return target


def test_the_watch_takes_up_a_new_notice(site_dir: Path) -> None:
    site = load_site(site_dir)
    ticker = Ticker()
    watch = SiteCalendarWatch(site, site_dir, period=60, monotonic=ticker)
    taken = RELOADS.labels("taken")._value.get()
    assert watch.changed() is None  # nothing changed
    (site_dir / "calendar.yaml").write_text(TEST_NOTICE_2027, encoding="utf-8")
    ticker.t = 30
    assert watch.changed() is None  # not looked at again before the period
    ticker.t = 61
    calendar = watch.changed()
    assert calendar is not None
    assert not calendar.is_provisional(2027)
    assert RELOADS.labels("taken")._value.get() == taken + 1
    ticker.t = 200
    assert watch.changed() is None  # once
    # and a process's own registry, the one its /metrics serves, shows the count
    from services.metrics import Metrics

    shown = Metrics().registry.get_sample_value(
        "gridflow_calendar_reloads_total", {"outcome": "taken"}
    )
    assert shown == taken + 1


def test_a_bad_notice_is_refused_and_the_calendar_stays(
    site_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = load_site(site_dir)
    ticker = Ticker()
    watch = SiteCalendarWatch(site, site_dir, period=1, monotonic=ticker)
    refused = RELOADS.labels("refused")._value.get()
    broken = TEST_NOTICE_2027.replace("2027-02-", "2028-02-", 1)  # a date of another year
    (site_dir / "calendar.yaml").write_text(broken, encoding="utf-8")
    ticker.t = 2
    assert watch.changed() is None
    assert RELOADS.labels("refused")._value.get() == refused + 1
    assert "calendar change refused" in caplog.text
    # fixed: taken up at the next look
    (site_dir / "calendar.yaml").write_text(TEST_NOTICE_2027 + "\n", encoding="utf-8")
    ticker.t = 4
    assert watch.changed() is not None


def test_the_router_tells_due_times_on_the_new_calendar(known: WorkingCalendar) -> None:
    from router.core import Router
    from router.memory import MemoryCaseStore
    from schemas.cases import CaseDispatched, CaseReceived
    from tests.unit.router.support import case

    def dispatched(router: Router, case_id: str) -> list[Due]:
        c = case(case_id).model_copy(update={"reported_at": MON, "received_at": MON})
        event = CaseReceived.derive(c, producer="intake", now=MON, case_id=case_id)
        [emits] = router.handle(inbound([event]))
        [told] = [e.message for e in emits if isinstance(e.message, CaseDispatched)]
        return told.payload.due

    source = Source()
    router = Router(tiny_site(tiers=LIMITS), MemoryCaseStore(), WorkingCalendar(), source)
    assert all(d.provisional for d in dispatched(router, "GF-1"))
    source.next = known  # taken up at the next batch
    assert not any(d.provisional for d in dispatched(router, "GF-2"))

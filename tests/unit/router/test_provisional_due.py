"""The unit's assignment says which of its clocks are provisional, as the escalator arms them."""

from __future__ import annotations

from datetime import datetime

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.cases import CaseDispatched, DeadlineKind
from schemas.catalogue import Site
from tests.support.sites import SHANGHAI, tiny_site
from tests.unit.router.support import act, case, received


def dispatched_at(site: Site, now: datetime) -> CaseDispatched:
    out = act(Router(site, MemoryCaseStore()), received(case()), now)
    return next(e.message for e in out if isinstance(e.message, CaseDispatched))


def test_a_clock_counting_into_an_uncovered_year_is_provisional() -> None:
    # Thu 31 Dec 2026, 10:00: accept the same day (official), resolve in 3 working days,
    # which counts days of 2027 (no notice yet): Mon 4, Tue 5, Wed 6 Jan
    message = dispatched_at(tiny_site(), datetime(2026, 12, 31, 10, tzinfo=SHANGHAI))
    due = {d.kind: d for d in message.payload.due}
    assert not due[DeadlineKind.ACCEPT].provisional
    assert due[DeadlineKind.RESOLVE].provisional
    assert due[DeadlineKind.RESOLVE].due_at == datetime(2027, 1, 7, tzinfo=SHANGHAI)


def test_an_official_clock_is_not() -> None:
    message = dispatched_at(tiny_site(), datetime(2026, 3, 5, 10, tzinfo=SHANGHAI))
    assert not any(d.provisional for d in message.payload.due)

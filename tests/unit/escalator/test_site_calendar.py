"""The site's own holidays and working days reach the escalator built by the registry."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date

from sqlalchemy import Engine

from escalator.core import Escalator
from escalator.sql import SqlDeadlineStore  # also puts its table in the metadata
from schemas.cases import DeadlineKind
from schemas.catalogue import Site
from services.processors import Parts, spec
from storage.db import Transaction
from tests.support.sites import tiny_site

from .builders import LIMITS, assigned, at, inbound

THU = at(2026, 3, 5, 10)  # Thursday 5 March 2026: community resolve is 3 working days


def with_calendar(site: Site, **dates: list[date]) -> Site:
    data = site.model_dump()
    data["deadlines"].update(dates)
    return Site.model_validate(data)


def resolve_due(site: Site, engine: Engine):
    tx = Transaction(engine)
    with ExitStack() as resources:
        escalator = spec("escalator").build(Parts(site, tx, resources))
        assert isinstance(escalator, Escalator)
        with tx.begin():
            assert escalator.handle(inbound([assigned("c1", when=THU)])) == [[]]
            armed = SqlDeadlineStore(tx).load(["c1"])["c1"]
    (resolve,) = [d for d in armed if d.kind is DeadlineKind.RESOLVE]
    return resolve.due_at


def test_official_calendar_alone(sqlite_engine: Engine) -> None:
    # Fri 6, Mon 9, Tue 10: ends at 24:00 on Tuesday
    assert resolve_due(tiny_site(tiers=LIMITS), sqlite_engine) == at(2026, 3, 11)


def test_a_site_holiday_stretches_the_deadline(sqlite_engine: Engine) -> None:
    site = with_calendar(tiny_site(tiers=LIMITS), holidays=[date(2026, 3, 9)])
    # Monday 9 March off here: Fri 6, Tue 10, Wed 11
    assert resolve_due(site, sqlite_engine) == at(2026, 3, 12)


def test_a_site_working_day_shortens_it(sqlite_engine: Engine) -> None:
    site = with_calendar(tiny_site(tiers=LIMITS), workdays=[date(2026, 3, 7)])
    # Saturday 7 March worked here: Fri 6, Sat 7, Mon 9
    assert resolve_due(site, sqlite_engine) == at(2026, 3, 10)

"""The command-room page's rates are archive/kpi.py's, counted by the database
(archive.sql.kpi_figures), on the hand-computed seed (tests/unit/archive/kpi_seed.py),
in SQLite and PostgreSQL: one source for each figure."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from archive.kpi import Period
from archive.sql import SqlArchiveStore
from services.api.auth import viewer_of
from services.api.room import rates
from storage.db import Transaction
from tests.support.sites import SHANGHAI, tiny_site
from tests.unit.archive.kpi_seed import ROWS


@pytest.mark.parametrize("db", ["sqlite", pytest.param("pg", marks=pytest.mark.postgres)])
def test_the_rooms_rates_are_the_kpis(db: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"{db}_engine")
    tx = Transaction(engine)
    with tx.begin():
        SqlArchiveStore(tx).save_cases(ROWS)
    site = tiny_site()
    sender = site.sender("s.approve")
    assert sender is not None
    room = viewer_of(sender)
    with engine.connect() as conn:
        # March so far, at 3-31 12:00: received C1 C2 C3 C4 C5, closed C1 C2 C5: 3/5;
        # due by then or closed: C1 (on time), C2 (late), C3 (open, past due), C5 (on
        # time): 2/4; rated C1 5, C2 3, C5 4: all satisfied or basically: 3/3
        month = rates(conn, site, room, Period.MONTH, datetime(2026, 3, 31, 12, tzinfo=SHANGHAI))
        # at 3-4 12:00 this month runs to its end: C1, C2 and C5 are closed and due in
        # March, so they count (C1, C5 on time); C3 is open and not due until 3-11
        early = rates(conn, site, room, Period.MONTH, datetime(2026, 3, 4, 12, tzinfo=SHANGHAI))
        # 3-5: nothing received; C5 due 3-5 00:00 and handled 3-4: 1/1; C5 rated 4: 1/1
        day = rates(conn, site, room, Period.DAY, datetime(2026, 3, 5, 12, tzinfo=SHANGHAI))
    assert month == {
        "from": "2026-03-01T00:00:00+08:00",
        "received": 5,
        "closed": 3,
        "due": 4,
        "rated": 3,
        "completion": 0.6,
        "on_time": 0.5,
        "satisfaction": 1.0,
    }
    assert (early["due"], early["on_time"]) == (3, round(2 / 3, 4))
    assert (day["received"], day["completion"], day["on_time"], day["satisfaction"]) == (
        0,
        None,
        1.0,
        1.0,
    )

"""The near-duplicate lookup on PostgreSQL: router_cases' point columns, one query a
batch, open cases only, and the link a batch makes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from router.core import Router
from router.duplicates import probe_for
from router.sql import SqlCaseStore
from schemas.duplicates import CaseLinked
from schemas.processing import Inbound
from storage.db import Transaction, metadata
from tests.support.postgres import fresh_schema
from tests.unit.router.support import T0, received
from tests.unit.router.test_duplicates import POLICY, at, site

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    with fresh_schema(postgres_url, prefix="dup") as e:
        metadata.create_all(e)
        yield e


def test_open_near_finds_open_cases_in_the_box_and_window(engine: Engine) -> None:
    tx = Transaction(engine)
    router = Router(site(), SqlCaseStore(tx))
    with tx.begin():
        router.handle([Inbound(received(at(f"GF-{i}", north_m=100 * i)), T0) for i in range(4)])
    with tx.begin():
        store = SqlCaseStore(tx)
        probe = probe_for(at("GF-X", north_m=110), POLICY)
        assert probe is not None
        assert [c.case_id for c in store.open_near([probe])] == ["GF-1"]
        late = probe_for(at("GF-Y", north_m=110, hours=100), POLICY)
        assert late is not None and store.open_near([late]) == []
        assert (
            len(
                store.open_near(
                    [p for i in range(4) if (p := probe_for(at("q", north_m=100 * i), POLICY))]
                )
            )
            == 4
        )


def test_a_batch_links_its_near_duplicate_on_postgresql(engine: Engine) -> None:
    tx = Transaction(engine)
    router = Router(site(), SqlCaseStore(tx))
    with tx.begin():
        router.handle([Inbound(received(at("GF-1")), T0)])
    with tx.begin():
        [out] = router.handle([Inbound(received(at("GF-2", north_m=20)), T0 + timedelta(hours=1))])
    assert isinstance(out, list)
    link = out[0].message
    assert isinstance(link, CaseLinked) and link.payload.duplicate_of == "GF-1"

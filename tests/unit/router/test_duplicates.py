"""Near-duplicates (重复件): a report of the same category near an open case, in space and
time, is linked to it (case.linked) and not dispatched; the holder and the channel are
told; anything further apart, of another category, or after closing is a case of its own.
On the memory store and on SQLite, one lookup per batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from archive.projection import DUPLICATE, project
from router.core import Router
from router.duplicates import distance_m, probe_for
from router.memory import MemoryCaseStore
from router.ports import CaseStore
from router.sql import SqlCaseStore
from schemas.cases import CaseAssigned, CaseDispatched
from schemas.catalogue import DuplicatePolicy, Site
from schemas.codec import decode
from schemas.duplicates import CaseLinked
from schemas.processing import Inbound
from schemas.reports import Case, Location
from schemas.topics import CASE_EVENTS, Emit, topic_named
from storage.db import Transaction
from tests.support.sites import tiny_site
from tests.unit.router.support import T0, case, received

POLICY = DuplicatePolicy(distance_m=50, within_hours=72)
LAT, LON = 31.2300, 121.4700
METRE = 1 / 111_195  # a metre of latitude, in degrees


def site(policy: DuplicatePolicy | None = POLICY) -> Site:
    return tiny_site().model_copy(update={"duplicates": policy})


def at(case_id: str, north_m: float = 0, *, hours: float = 0, **more: Any) -> Case:
    c = case(case_id, **more)
    return c.model_copy(
        update={
            "location": Location(lat=LAT + north_m * METRE, lon=LON),
            "reported_at": c.reported_at + timedelta(hours=hours),
        }
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, sqlite_engine: Engine) -> Iterator[CaseStore]:
    if request.param == "memory":
        yield MemoryCaseStore()
        return
    tx = Transaction(sqlite_engine)
    with tx.begin():
        yield SqlCaseStore(tx)


def run(router: Router, *cases: Case, hours: float = 0) -> list[list[Emit]]:
    now = T0 + timedelta(hours=hours)
    outcomes = router.handle([Inbound(received(c), now) for c in cases])
    assert all(isinstance(o, list) for o in outcomes), outcomes
    return outcomes  # type: ignore[return-value]


def kinds(emits: list[Emit]) -> list[tuple[str, str]]:
    return [(e.topic, e.message.type) for e in emits]  # type: ignore[attr-defined]


def test_a_near_report_of_the_same_category_is_linked_not_dispatched(store: CaseStore) -> None:
    router = Router(site(), store)
    [first] = run(router, at("GF-1"))
    holder = next(e.message for e in first if isinstance(e.message, CaseAssigned))
    unit = holder.payload.assignment.unit_id
    [second] = run(router, at("GF-2", north_m=30), hours=1)
    assert kinds(second) == [
        ("gridflow.cases.events", "case.linked"),
        (f"gridflow.assignments.{unit}", "case.linked"),
        ("gridflow.replies.grid-app", "case.linked"),  # the channel: the resident's number
    ]
    link = second[0].message
    assert isinstance(link, CaseLinked) and link.case_id == "GF-2"
    assert link.payload.duplicate_of == "GF-1" and link.payload.holder == unit
    assert 29 <= link.payload.distance_m <= 31
    assert not any(isinstance(e.message, CaseDispatched) for e in second)
    for emit in second:  # each copy is what its topic carries
        assert decode(topic_named(emit.topic), emit.message.model_dump_json().encode()) == link


@pytest.mark.parametrize(
    ("north_m", "hours", "category"),
    [(80, 0, "street.parking"), (10, 80, "street.parking"), (10, 0, "grid.noise")],
)
def test_further_later_or_of_another_category_is_a_case_of_its_own(
    store: CaseStore, north_m: float, hours: float, category: str
) -> None:
    router = Router(site(), store)
    run(router, at("GF-1"))
    [second] = run(router, at("GF-2", north_m=north_m, hours=hours, category=category), hours=hours)
    assert ("gridflow.cases.events", "case.assigned") in kinds(second)


def test_without_a_policy_nothing_is_a_duplicate(store: CaseStore) -> None:
    router = Router(site(None), store)
    run(router, at("GF-1"))
    [second] = run(router, at("GF-2", north_m=1))
    assert ("gridflow.cases.events", "case.assigned") in kinds(second)


def test_two_near_reports_in_one_batch_link_and_the_nearest_open_case_wins(
    store: CaseStore,
) -> None:
    router = Router(site(), store)
    run(router, at("GF-A", north_m=0))
    run(router, at("GF-B", north_m=60))  # 60 m from A: its own case
    first, second = run(router, at("GF-C", north_m=40), at("GF-D", north_m=45))
    assert first[0].message.payload.duplicate_of == "GF-B"  # type: ignore[attr-defined]
    assert second[0].message.payload.duplicate_of == "GF-B"  # type: ignore[attr-defined]


def test_ties_go_to_the_earliest_reported_then_the_smallest_id(store: CaseStore) -> None:
    router = Router(site(), store)
    run(router, at("GF-2", north_m=30), at("GF-1", north_m=-30))  # 60 m apart
    [linked] = run(router, at("GF-9"))
    assert linked[0].message.payload.duplicate_of == "GF-1"  # type: ignore[attr-defined]


def test_a_report_without_a_point_is_never_a_duplicate(store: CaseStore) -> None:
    router = Router(site(), store)
    run(router, at("GF-1"))
    [second] = run(router, case("GF-2"))
    assert ("gridflow.cases.events", "case.assigned") in kinds(second)


def test_the_same_batch_gives_the_same_bytes(store: CaseStore) -> None:
    a = Router(site(), MemoryCaseStore())
    run(a, at("GF-1"))
    [one] = run(a, at("GF-2", north_m=5))
    b = Router(site(), MemoryCaseStore())
    run(b, at("GF-1"))
    [two] = run(b, at("GF-2", north_m=5))
    assert [e.message.model_dump_json() for e in one] == [e.message.model_dump_json() for e in two]


def test_one_store_query_per_batch(store: CaseStore) -> None:
    calls: list[int] = []
    original = store.open_near

    def counted(probes):  # type: ignore[no-untyped-def]
        calls.append(len(probes))
        return original(probes)

    store.open_near = counted  # type: ignore[method-assign]
    router = Router(site(), store)
    run(router, *(at(f"GF-{i}", north_m=100 * i) for i in range(5)))
    assert calls == [5]


def test_the_archive_counts_a_duplicate_apart() -> None:
    router = Router(site(), MemoryCaseStore())
    run(router, at("GF-1"))
    [second] = run(router, at("GF-2", north_m=5))
    link = next(e.message for e in second if e.topic == CASE_EVENTS.name)
    row = project(None, link)
    assert row is not None and row.stage == DUPLICATE and row.category == "street.parking"
    again = project(row, received(at("GF-2", north_m=5)))  # received arriving late
    assert again is not None and again.stage == DUPLICATE


def test_distance_and_probe() -> None:
    assert distance_m(LAT, LON, LAT + 100 * METRE, LON) == pytest.approx(100, rel=1e-3)
    probe = probe_for(at("GF-1"), POLICY)
    assert probe is not None
    assert probe.lat_min < LAT < probe.lat_max and probe.lon_min < LON < probe.lon_max
    assert probe.until - probe.since == timedelta(hours=144)

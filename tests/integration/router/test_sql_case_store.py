"""The CaseStore port suite, run on memory, SQLite and PostgreSQL, plus the router on each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from router.ports import CaseFile, CaseStore
from router.sql import SqlCaseStore
from schemas.cases import Assignment, AssignmentReason, CaseClosed, DeadlineKind, Stage
from schemas.reports import Location, Reporter, Tier
from tests.support.backends import BACKENDS, open_store
from tests.support.sites import tiny_site
from tests.unit.router.support import (
    LATER,
    T0,
    accept,
    case,
    deadline,
    events,
    rate,
    received,
    report_handled,
    verify,
)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[CaseStore]:
    yield from open_store(request, MemoryCaseStore, SqlCaseStore)


def _file(case_id: str = "GF-1", **kw: object) -> CaseFile:
    assignment = Assignment(
        unit_id="s.urban",
        unit_name="街道城管",
        tier=Tier.STREET,
        owner_tier=Tier.DISTRICT,
        jurisdiction_id="s",
        seq=1,
        reason=AssignmentReason.INITIAL,
        assigned_at=T0,
    )
    fields: dict[str, object] = {
        "case": case(case_id),
        "stage": Stage.ASSIGNED,
        "assignment": assignment,
    }
    fields.update(kw)
    return CaseFile(**fields)  # type: ignore[arg-type]


def test_unknown_case_is_none(store: CaseStore) -> None:
    assert store.get("GF-404") is None


def test_a_file_reads_back_as_written(store: CaseStore) -> None:
    file = _file()
    store.put(file)
    back = store.get("GF-1")
    assert back == file
    assert back is not None
    assert back.assignment.assigned_at.utcoffset() == timedelta(hours=8)
    assert back.case.received_at.tzinfo is not None


def test_put_replaces_the_file(store: CaseStore) -> None:
    store.put(_file())
    moved = _file(
        stage=Stage.CLOSED,
        escalations=2,
        lapsed=True,
        rating=3,
        assignment=_file().assignment.model_copy(
            update={"seq": 3, "unit_id": "d.env", "tier": Tier.DISTRICT}
        ),
    )
    store.put(moved)
    assert store.get("GF-1") == moved


def test_files_are_kept_apart(store: CaseStore) -> None:
    one, two = _file("GF-1"), _file("GF-2", stage=Stage.HANDLED)
    store.put(one)
    store.put(two)
    assert (store.get("GF-1"), store.get("GF-2")) == (one, two)


def test_optional_and_unicode_fields_survive(store: CaseStore) -> None:
    full = case().model_copy(
        update={
            "description": "楼下小区门口垃圾堆积三天无人清运",
            "location": Location(address="兴庄路 1 号", lat=29.95, lon=121.6),
            "reporter": Reporter(name="张三", phone="13800000000"),
            "attachments": ["https://example.org/a.jpg"],
            "received_at": T0.astimezone(UTC),
        }
    )
    file = replace(_file(), case=full)
    store.put(file)
    assert store.get("GF-1") == file


def test_the_router_runs_a_case_through_the_store(store: CaseStore) -> None:
    router = Router(tiny_site(), store)
    router.handle(received(case()), T0)
    router.handle(accept("GF-1", "s.urban"), T0)
    router.handle(deadline("GF-1", "s.urban", Tier.STREET, 1, DeadlineKind.RESOLVE), LATER)
    for message in (
        accept("GF-1", "d.command", 2),
        report_handled("GF-1", "d.command", 2),
        verify("GF-1", "d.command", 2),
    ):
        router.handle(message, LATER)
    closed = events(router.handle(rate("GF-1", 2), LATER))[-1]
    assert isinstance(closed, CaseClosed)
    assert (closed.payload.on_time, closed.payload.escalations, closed.payload.rating) == (
        False,
        1,
        2,
    )
    file = store.get("GF-1")
    assert file is not None
    assert (file.stage, file.assignment.seq, file.lapsed, file.rating) == (
        Stage.CLOSED,
        2,
        True,
        2,
    )

"""The CaseStore port suite, run on memory, SQLite and PostgreSQL, plus the router on each:
files are loaded and saved a batch at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine, event

from router.core import Router
from router.memory import MemoryCaseStore
from router.ports import CaseFile, CaseStore, OpenRequest, Suspension
from router.sql import SqlCaseStore
from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseClosed,
    CoHandler,
    DeadlineKind,
    RequestKind,
    RequestReason,
    Stage,
)
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.reports import Location, Reporter, Tier
from storage.db import Transaction
from tests.support.backends import BACKENDS, open_store
from tests.support.sites import tiny_site
from tests.unit.router.support import (
    LATER,
    T0,
    accept,
    act,
    case,
    deadline,
    events,
    file_of,
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
    file = CaseFile.opened(kw.pop("whole", case(case_id)), assignment)  # type: ignore[arg-type]
    return replace(file, **kw)  # type: ignore[arg-type]


def test_unknown_cases_are_left_out(store: CaseStore) -> None:
    assert store.load(["GF-404"]) == {}
    assert store.load([]) == {}


def test_a_file_reads_back_as_written(store: CaseStore) -> None:
    file = _file()
    store.save([file])
    back = file_of(store, "GF-1")
    assert back == file
    assert back is not None
    assert back.assignment.assigned_at.utcoffset() == timedelta(hours=8)
    assert back.case.received_at.tzinfo is not None
    assert back.whole_case() == case("GF-1")


def test_save_replaces_the_file(store: CaseStore) -> None:
    store.save([_file()])
    moved = _file(
        stage=Stage.CLOSED,
        escalations=2,
        lapsed=True,
        rating=3,
        assignment=_file().assignment.model_copy(
            update={"seq": 3, "unit_id": "d.env", "tier": Tier.DISTRICT}
        ),
    )
    store.save([moved])
    assert file_of(store, "GF-1") == moved


def test_a_batch_of_files_is_saved_and_loaded_together(store: CaseStore) -> None:
    files = [_file(f"GF-{n}", stage=Stage.HANDLED if n % 2 else Stage.ASSIGNED) for n in range(7)]
    store.save(files[:4])
    store.save([replace(f, escalations=1) for f in files[2:]])  # two updated, three new
    loaded = store.load([f.case_id for f in files] + ["GF-404"])
    assert sorted(loaded) == sorted(f.case_id for f in files)
    assert [loaded[f.case_id].escalations for f in files] == [0, 0, 1, 1, 1, 1, 1]


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
    file = _file(whole=full)
    store.save([file])
    back = file_of(store, "GF-1")
    assert back == file
    assert back is not None and back.whole_case() == full


def _story() -> list[tuple[Envelope, object]]:
    return [
        (received(case()), T0),
        (accept("GF-1", "s.urban"), T0),
        (deadline("GF-1", "s.urban", Tier.STREET, 1, DeadlineKind.RESOLVE), LATER),
        (accept("GF-1", "d.command", 2), LATER),
        (report_handled("GF-1", "d.command", 2), LATER),
        (verify("GF-1", "d.command", 2), LATER),
        (rate("GF-1", 3), LATER),  # basically satisfied (基本满意): it closes
    ]


def test_the_router_runs_a_case_through_the_store(store: CaseStore) -> None:
    router = Router(tiny_site(), store)
    out = [act(router, message, now) for message, now in _story()]  # type: ignore[arg-type]
    closed = events(out[-1])[-1]
    assert isinstance(closed, CaseClosed)
    assert (closed.payload.on_time, closed.payload.escalations, closed.payload.rating) == (
        False,
        1,
        3,
    )
    file = file_of(store, "GF-1")
    assert file is not None
    assert (file.stage, file.assignment.seq, file.lapsed, file.rating) == (
        Stage.CLOSED,
        2,
        True,
        3,
    )


def test_one_batch_gives_what_one_message_at_a_time_gives(store: CaseStore) -> None:
    """A case's whole story in one batch: each message sees what the one before did."""
    alone = Router(tiny_site(), MemoryCaseStore())
    one_by_one = [act(alone, m, now) for m, now in _story()]  # type: ignore[arg-type]
    batched = Router(tiny_site(), store).handle([Inbound(m, now) for m, now in _story()])  # type: ignore[arg-type]
    assert [[encode(e.message) for e in o] for o in batched] == [  # type: ignore[union-attr]
        [encode(e.message) for e in o] for o in one_by_one
    ]
    assert file_of(store, "GF-1") == alone._store.load(["GF-1"])["GF-1"]


def test_a_batch_loads_once_and_saves_once(sqlite_engine: Engine) -> None:
    statements: list[str] = []
    event.listen(
        sqlite_engine, "before_cursor_execute", lambda *a: statements.append(a[2].split()[0])
    )
    tx = Transaction(sqlite_engine)
    router = Router(tiny_site(), SqlCaseStore(tx))
    batch = [Inbound(received(case(f"GF-{n}")), T0) for n in range(50)]
    batch += [Inbound(accept(f"GF-{n}", "s.urban"), T0) for n in range(50)]
    with tx.begin():
        statements.clear()
        outcomes = router.handle(batch)
    assert all(isinstance(o, list) for o in outcomes)
    assert statements == ["SELECT", "INSERT"]


def test_an_open_request_and_a_suspension_round_trip(store: CaseStore) -> None:
    request = OpenRequest(
        request_id="5b1c4f7e-8a2d-4c3b-9e1f-0a1b2c3d4e5f",
        kind=RequestKind.EXTENSION,
        seq=1,
        reason=RequestReason.COMPLEX_MATTER,
        at=T0,
        working_days=2,
    )
    asking = _file("GF-1", stage=Stage.ACCEPTED, request=request)
    since = T0 + timedelta(hours=1)
    stopped = _file(
        "GF-2",
        stage=Stage.SUSPENDED,
        suspension=Suspension(request_id=request.request_id, seq=1, since=since),
    )
    store.save([asking, stopped])
    loaded = store.load(["GF-1", "GF-2"])
    assert loaded == {"GF-1": asking, "GF-2": stopped}
    got = loaded["GF-2"].suspension
    assert got is not None and got.since == since and got.since.tzinfo is not None
    store.save([replace(asking, request=None)])
    assert store.load(["GF-1"])["GF-1"].request is None


def test_co_handlers_and_their_reports_read_back(store: CaseStore) -> None:
    """The co-handlers (协办) ride in the assignment; those that reported, in parts_json."""
    co = [
        CoHandler(
            unit_id=u, unit_name=u, tier=Tier.DISTRICT, jurisdiction_id="d", unit_type="environment"
        )
        for u in ("d.env", "d.command")
    ]
    file = _file()
    file = replace(file, assignment=file.assignment.model_copy(update={"co_handlers": co}))
    store.save([replace(file, parts=("d.env",))])
    back = file_of(store, "GF-1")
    assert back is not None and back.parts == ("d.env",) and back.pending() == ("d.command",)
    assert back.assignment.co_handlers == co

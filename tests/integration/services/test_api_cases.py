"""The query API over real HTTP (uvicorn on an ephemeral port) on a seeded archive in
PostgreSQL: a case and its history, by id and by work-order number, a unit's open and
overdue cases, the dispatch queue, and the refusals across units."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from archive.sql import SqlArchiveStore
from services.api.app import create_app
from services.api.auth import digest
from services.settings import Settings
from storage.db import Transaction
from tests.support.archived import archive_story
from tests.support.sites import tiny_site
from tests.unit.router.support import (
    LATER,
    T0,
    accept,
    case,
    received,
    report_handled,
    return_case,
)

pytestmark = pytest.mark.postgres

TOKENS = {
    "urban": "s.urban",  # holds GF-1 and GF-2
    "command": "s.command",  # another unit of the street
    "room": "s.approve",  # the street's command room
    "verify": "s.verify",  # a verifier of the street: no personal data
    "ops": "operations",
}


@pytest.fixture(scope="module")
def seeded(postgres_url: str) -> Iterator[Engine]:
    from storage.db import metadata
    from tests.support.postgres import fresh_schema

    with fresh_schema(postgres_url, prefix="api") as engine:
        metadata.create_all(engine)
        tx = Transaction(engine)
        site = tiny_site()
        with tx.begin():
            steps = [
                (received(case("GF-1")), T0),
                (accept("GF-1", "s.urban"), T0 + timedelta(minutes=5)),
                (received(case("GF-2")), T0),
                (received(case("GF-3")), T0),
                (accept("GF-3", "s.urban"), LATER),
                (report_handled("GF-3", "s.urban"), LATER),
                # GF-4: returned by s.urban, then by s.command: queued
                (received(case("GF-4")), T0),
                (return_case("GF-4", "s.urban"), LATER),
                (return_case("GF-4", "s.command", seq=2, n=1), LATER),
            ]
            archive_story(site, SqlArchiveStore(tx), steps)
        yield engine


@pytest.fixture(scope="module")
def base_url(seeded: Engine) -> Iterator[str]:
    settings = Settings(api_tokens={digest(t): who for t, who in TOKENS.items()})
    app = create_app(settings, engine=seeded, site=tiny_site())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def get(base: str, path: str, token: str | None, **params: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(base + path, headers=headers, params=params, timeout=10)


def test_the_holder_sees_its_case_whole_with_its_history(base_url: str) -> None:
    r = get(base_url, "/cases/GF-1", "urban")
    assert r.status_code == 200
    body = r.json()
    assert body["case"]["unit_id"] == "s.urban" and body["case"]["stage"] == "accepted"
    assert body["case"]["external_id"] == "ext-GF-1"
    types = [e["type"] for e in body["history"]]
    assert sorted(types) == ["case.accept", "case.accepted", "case.assigned", "case.received"]
    assert types[-2:] == ["case.accept", "case.accepted"]  # by time: the opening came first
    assert body["personal_data"] is True
    opened = next(e for e in body["history"] if e["type"] == "case.received")
    assert opened["payload"]["title"] == "t"


def test_a_verifier_sees_it_without_personal_data(base_url: str) -> None:
    body = get(base_url, "/cases/GF-1", "verify").json()
    assert body["personal_data"] is False
    opened = next(e for e in body["history"] if e["type"] == "case.received")
    assert opened["payload"]["title"] is None and opened["payload"]["description"] is None
    assert opened["payload"]["category"] == "street.parking"  # the facts stay


def test_another_unit_is_refused_with_a_reason(base_url: str) -> None:
    r = get(base_url, "/cases/GF-1", "command")
    assert r.status_code == 404
    assert r.json()["detail"] == "no case GF-1 among the cases s.command may see"
    r = get(base_url, "/units/s.urban/cases", "command")
    assert r.status_code == 403
    assert "s.command may not see s.urban's cases" in r.json()["detail"]
    assert get(base_url, "/queue", "urban").status_code == 403


def test_no_token_or_an_unknown_one_is_401(base_url: str) -> None:
    assert get(base_url, "/cases/GF-1", None).status_code == 401
    r = get(base_url, "/cases/GF-1", "not-a-token")
    assert r.status_code == 401 and r.json()["detail"] == "the token is not configured"


def test_by_work_order_number(base_url: str) -> None:
    r = get(base_url, "/cases", "urban", external_id="ext-GF-2")
    assert [c["case_id"] for c in r.json()["cases"]] == ["GF-2"]
    r = get(base_url, "/cases", "command", external_id="ext-GF-2")
    assert r.json() == {"cases": [], "count": 0}  # not its case


def test_a_units_open_and_overdue_cases(base_url: str) -> None:
    r = get(base_url, "/units/s.urban/cases", "urban")
    assert sorted(c["case_id"] for c in r.json()["cases"]) == ["GF-1", "GF-2", "GF-3"]
    r = get(base_url, "/units/s.urban/cases", "room", overdue="true")
    # due in March 2026, long past: every open case with a due time is overdue now
    assert sorted(c["case_id"] for c in r.json()["cases"]) == ["GF-1", "GF-2", "GF-3"]
    assert get(base_url, "/units/nobody/cases", "ops").status_code == 404


def test_the_dispatch_queue_is_the_command_rooms(base_url: str) -> None:
    r = get(base_url, "/queue", "room")
    assert [c["case_id"] for c in r.json()["cases"]] == ["GF-4"]


def test_the_openapi_document_is_published(base_url: str) -> None:
    doc = httpx.get(base_url + "/openapi.json", timeout=10).json()
    assert {"/cases/{case_id}", "/cases", "/units/{unit_id}/cases", "/queue"} <= set(doc["paths"])


def test_kpis_cover_the_cases_the_sender_may_see(base_url: str) -> None:
    mine = get(base_url, "/kpi", "urban", by="unit", period="month").json()
    assert {f["group"] for f in mine["figures"]} == {"s.urban"}
    assert sum(f["received"] for f in mine["figures"]) == 3  # GF-1, GF-2, GF-3
    room = get(base_url, "/kpi", "room", by="unit", period="month").json()
    assert {f["group"] for f in room["figures"]} == {"s.urban", "s.command"}  # GF-4 queued
    everything = get(base_url, "/kpi", "ops", by="all", period="day").json()
    received = [(f["period"], f["received"]) for f in everything["figures"] if f["received"]]
    assert received == [("2026-03-05", 4)]
    # all four are due on 11 March (as the tiny site counts), before AS_OF, none closed
    due = [(f["period"], f["completion_due"], f["on_time_rate"]) for f in everything["figures"]]
    assert due[-1] == ("2026-03-11", 4, 0.0)
    assert get(base_url, "/kpi", "urban", by="nonsense").status_code == 422

"""`gridflow case show|open|queue` on an archive in SQLite, made by the real router and
archive: the same queries as the HTTP API, personal fields blank unless --personal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archive.sql import SqlArchiveStore
from services.cli import app
from storage.db import Transaction, make_engine, metadata
from tests.support.archived import archive_story
from tests.support.sites import tiny_site
from tests.unit.router.support import LATER, T0, accept, case, received, return_case


@pytest.fixture
def archive_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'archive.sqlite'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    tx = Transaction(engine)
    steps = [
        (received(case("GF-1")), T0),
        (accept("GF-1", "s.urban"), LATER),
        (received(case("GF-2")), T0),
        (return_case("GF-2", "s.urban"), LATER),
        (return_case("GF-2", "s.command", seq=2, n=1), LATER),
    ]
    with tx.begin():
        archive_story(tiny_site(), SqlArchiveStore(tx), steps)
    engine.dispose()
    monkeypatch.setenv("GRIDFLOW_DATABASE_URL", url)
    return url


def run(*args: str) -> object:
    out = CliRunner().invoke(app, list(args))
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_show_by_id_and_by_work_order(archive_url: str) -> None:
    shown = run("case", "show", "GF-1")
    assert shown["case"]["stage"] == "accepted"  # type: ignore[index]
    opened = next(e for e in shown["history"] if e["type"] == "case.received")  # type: ignore[index]
    assert opened["payload"]["title"] is None and opened["payload"]["category"] == "street.parking"
    whole = run("case", "show", "--external-id", "ext-GF-1", "--personal")
    opened = next(e for e in whole["history"] if e["type"] == "case.received")  # type: ignore[index]
    assert opened["payload"]["title"] == "t"
    missing = CliRunner().invoke(app, ["case", "show", "GF-404"])
    assert missing.exit_code == 1 and "no case GF-404" in missing.output


def test_open_and_queue(archive_url: str) -> None:
    assert [c["case_id"] for c in run("case", "open", "s.urban")] == ["GF-1"]  # type: ignore[union-attr]
    assert [c["case_id"] for c in run("case", "open", "s.urban", "--overdue")] == ["GF-1"]  # type: ignore[union-attr]
    assert [c["case_id"] for c in run("case", "queue")] == ["GF-2"]  # type: ignore[union-attr]


def test_api_token_makes_a_token_the_api_accepts() -> None:
    from schemas.catalogue import load_site
    from services.api.auth import Tokens

    out = CliRunner().invoke(app, ["api", "token", "zs.urban"])
    assert out.exit_code == 0, out.output
    secret = out.output.split("token: ")[1].split()[0]
    entry = json.loads(out.output.split("GRIDFLOW_API_TOKENS entry: ")[1])
    viewer = Tokens(load_site(), entry).viewer(secret)
    assert viewer is not None and (viewer.id, viewer.role) == ("zs.urban", "unit")
    refused = CliRunner().invoke(app, ["api", "token", "nobody"])
    assert refused.exit_code == 1 and "neither a unit nor a sender" in refused.output

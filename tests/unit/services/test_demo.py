"""``gridflow demo`` end to end in one process: a small scenario over a SQLite file."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from services.demo.run import run_demo
from services.settings import Settings


def test_a_small_demo_accounts_for_every_report(tmp_path: Path) -> None:
    out = io.StringIO()
    figures = run_demo(
        Console(file=out, width=120),
        reports=40,
        days=2,
        seed=1,
        database_url=f"sqlite:///{tmp_path / 'demo.db'}",
        settings=Settings(),
    )
    r = figures.report
    assert figures.sent == 40
    assert 0 < figures.sent_valid < figures.sent  # the scenario spoils a few
    assert r.cases == figures.sent_valid  # every valid report became a case
    assert r.dead_letters == figures.sent - figures.sent_valid  # and only the spoiled ones
    assert sum(r.dead_letters_by_reason.values()) == r.dead_letters
    assert r.closed + r.open == r.cases
    assert figures.unread == 0  # no record left on any topic
    assert "gridflow demo: summary" in out.getvalue()

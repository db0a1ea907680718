"""How many statements the escalator sends SQLite: one load and at most one delete and
one insert per batch, one statement per step of a tick, whatever the batch holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.sql import SqlDeadlineStore, deadlines
from schemas.cases import AssignmentReason, CaseAccepted, CaseHandled, CaseVerified, VerifiedPayload
from schemas.envelope import Envelope
from schemas.reports import Tier
from storage.db import Transaction
from tests.support.sites import tiny_site
from tests.unit.escalator.builders import (
    LIMITS,
    ROUTER,
    THU,
    assigned,
    at,
    escalated,
    inbound,
    step,
    story_of,
)

CASES = [f"c{i:03d}" for i in range(60)]


@pytest.fixture
def statements(sqlite_engine: Engine) -> Iterator[list[str]]:
    """The first word of every statement sent, as the cursor executes it."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement.split(None, 1)[0].upper())
        if sent[-1] == "INSERT":  # one statement for the lot, not one per row
            assert statement.count("), (") + 1 == len(args[0]) // len(deadlines.c) > 0

    event.listen(sqlite_engine, "before_cursor_execute", count)
    yield sent
    event.remove(sqlite_engine, "before_cursor_execute", count)


@pytest.fixture
def tx(sqlite_engine: Engine) -> Transaction:
    return Transaction(sqlite_engine)


@pytest.fixture
def escalator(tx: Transaction) -> Escalator:
    return Escalator(tiny_site(tiers=LIMITS), WorkingCalendar(), SqlDeadlineStore(tx))


def verified(case_id: str) -> CaseVerified:
    payload = VerifiedPayload(unit_id="v", seq=1, at=THU, passed=True)
    return CaseVerified.derive(payload, producer=ROUTER, now=THU, case_id=case_id)


def busy_batch() -> list[Envelope]:
    """Each case assigned, accepted, escalated and re-assigned in one batch, and more."""
    fri = at(2026, 3, 6, 9)
    out: list[Envelope] = []
    for case_id in CASES:
        out += [
            step(CaseAccepted, case_id, 1, THU),
            escalated(case_id, "community-unit", "street-unit", fri),
            assigned(case_id, when=fri, tier=Tier.STREET, seq=2, reason=AssignmentReason.ESCALATED),
            verified(case_id),
        ]
    return out


def test_a_batch_is_one_load_then_one_delete_and_one_insert(
    escalator: Escalator, tx: Transaction, statements: list[str]
) -> None:
    with tx.begin():
        escalator.handle(inbound([assigned(c, when=THU) for c in CASES]))
    assert statements == ["SELECT", "INSERT"]  # nothing to remove yet
    statements.clear()
    with tx.begin():
        escalator.handle(inbound(busy_batch()))  # 240 messages, 60 cases
    assert statements == ["SELECT", "DELETE", "INSERT"]
    statements.clear()
    with tx.begin():
        escalator.handle(inbound([step(CaseAccepted, c, 2, THU) for c in CASES]))
    assert statements == ["SELECT", "DELETE"]  # accepts go, nothing comes
    statements.clear()
    with tx.begin():
        escalator.handle(inbound([verified(c) for c in CASES]))  # no deadline of theirs
        escalator.handle(inbound([step(CaseHandled, c, 1, THU) for c in CASES]))  # stale
    assert statements == ["SELECT"]  # loaded, nothing changed: nothing written


def test_a_tick_is_a_read_and_one_write_for_lapses_then_for_warnings(
    escalator: Escalator, tx: Transaction, statements: list[str]
) -> None:
    with tx.begin():
        escalator.handle(inbound([assigned(c, when=THU) for c in CASES]))
        escalator.handle(inbound([assigned(c, when=at(2026, 3, 5, 23), seq=2) for c in CASES[:7]]))
    statements.clear()
    with tx.begin():  # 53 accepts to warn of, none lapsed
        assert len(story_of(escalator.tick(at(2026, 3, 5, 21)))) == 53
    # the process's first tick also reads its provisional deadlines (none here) once;
    # then the lapses (none: no delete), then the warnings and their one write
    assert statements == ["SELECT", "SELECT", "SELECT", "UPDATE"]
    statements.clear()
    with tx.begin():
        assert len(story_of(escalator.tick(at(2026, 3, 20)))) == 120  # every accept and resolve
    # the lapses read and taken, then the warnings read (none left: the lapses went first)
    assert statements == ["SELECT", "DELETE", "SELECT"]


def test_statements_are_chunked_at_max_rows(
    escalator: Escalator, tx: Transaction, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("escalator.sql.MAX_ROWS", 25)  # 60 cases, 120 rows
    with tx.begin():
        escalator.handle(inbound([assigned(c, when=THU) for c in CASES]))
    assert statements == ["SELECT"] * 3 + ["INSERT"] * 5
    statements.clear()
    with tx.begin():
        assert len(story_of(escalator.tick(at(2026, 3, 20)))) == 120
    # the first tick's first read: the provisional deadlines (escalator.reschedule); then
    # the lapses, taken in chunks, and the warnings read after them
    assert statements == ["SELECT", "SELECT"] + ["DELETE"] * 5 + ["SELECT"]

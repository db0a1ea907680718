"""The report's figures on a small scripted history, through the Archive processor."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from archive.report import ArchiveReport
from schemas.envelope import Envelope
from schemas.processing import Inbound
from tests.unit.archive.story import CLOCK, EXPECTED, T0, scripted_history

NOW = T0 + timedelta(days=3)


def archived(events: list[Envelope], batch: int = 4) -> MemoryArchiveStore:
    store = MemoryArchiveStore()
    archive = Archive(store, CLOCK)
    for i in range(0, len(events), batch):
        archive.handle([Inbound(e, NOW) for e in events[i : i + batch]])
    return store


def test_scripted_history_figures() -> None:
    report = archived(scripted_history()).report()
    assert report == EXPECTED


def test_derived_rates() -> None:
    r = EXPECTED
    assert (r.open, r.dead_letters) == (2, 3)
    assert r.on_time_rate == pytest.approx(2 / 3)
    assert r.satisfaction_rate == pytest.approx(1.0)  # 3 is 基本满意: counted
    assert r.mean_rating == pytest.approx(4.0)
    assert (r.notifications_delivered, r.notifications_failed) == (3, 1)


def test_figures_do_not_depend_on_arrival_order_or_batch_size() -> None:
    """Repeats are the inbox's to drop (tests/integration/archive runs them through it)."""
    shuffled = scripted_history()
    random.Random(3).shuffle(shuffled)
    for batch in (1, 7, 1000):
        assert archived(shuffled, batch).report() == EXPECTED


def test_an_empty_archive_has_no_rates() -> None:
    report = MemoryArchiveStore().report()
    assert (report.cases, report.events, report.dead_letters) == (0, 0, 0)
    assert (report.on_time_rate, report.satisfaction_rate, report.mean_rating) == (None, None, None)


def test_report_is_a_value() -> None:
    assert isinstance(EXPECTED, ArchiveReport)
    with pytest.raises(AttributeError):
        EXPECTED.cases = 1  # type: ignore[misc]


def test_open_cases_past_a_deadline_count_against_the_on_time_rate() -> None:
    """The issue's example: one case closed on time, three open past their deadlines: 25%,
    not the 100% that dividing by the closed cases alone gave."""
    from tests.unit.archive.story import Story

    events = [*Story(1).full_loop(rating=5)]
    for n in (2, 3, 4):
        s = Story(n)
        events += [s.received(), s.assigned(), s.lapsed()]
    report = archived(events).report()
    assert (report.closed, report.closed_on_time, report.open_overdue) == (1, 1, 3)
    assert report.on_time_rate == pytest.approx(0.25)

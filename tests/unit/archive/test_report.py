"""The report's figures on a small scripted history, through the Archive processor."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from archive.report import ArchiveReport, render
from tests.unit.archive.story import EXPECTED, T0, scripted_history

NOW = T0 + timedelta(days=3)


def archived(events: list) -> MemoryArchiveStore:
    store = MemoryArchiveStore()
    archive = Archive(store)
    for event in events:
        archive.handle(event, NOW)
    return store


def test_scripted_history_figures() -> None:
    report = archived(scripted_history()).report()
    assert report == EXPECTED


def test_derived_rates() -> None:
    r = EXPECTED
    assert (r.open, r.dead_letters) == (2, 3)
    assert r.on_time_rate == pytest.approx(2 / 3)
    assert r.satisfaction_rate == pytest.approx(2 / 3)
    assert r.mean_rating == pytest.approx(4.0)
    assert (r.notifications_delivered, r.notifications_failed) == (3, 1)


def test_figures_do_not_depend_on_arrival_order_or_duplicates() -> None:
    events = scripted_history()
    rng = random.Random(3)
    shuffled = events + events[: len(events) // 2]
    rng.shuffle(shuffled)
    assert archived(shuffled).report() == EXPECTED


def test_an_empty_archive_has_no_rates() -> None:
    report = MemoryArchiveStore().report()
    assert (report.cases, report.events, report.dead_letters) == (0, 0, 0)
    assert (report.on_time_rate, report.satisfaction_rate, report.mean_rating) == (None, None, None)
    assert "及时办结率" in render(report)


def test_render_shows_the_rates() -> None:
    text = render(EXPECTED)
    assert "66.67% (2/3)" in text  # on-time and satisfaction
    assert "mean rating" in text and "4.00" in text
    assert "invalid 2, not_utf8 1" in text
    assert "delivered 3, failed 1" in text


def test_report_is_a_value() -> None:
    assert isinstance(EXPECTED, ArchiveReport)
    with pytest.raises(AttributeError):
        EXPECTED.cases = 1  # type: ignore[misc]

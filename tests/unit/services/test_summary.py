"""print_report: the archive's figures as ``gridflow demo`` and ``gridflow report`` show them."""

from __future__ import annotations

from rich.console import Console

from archive.memory import MemoryArchiveStore
from services.demo.summary import print_report
from tests.unit.archive.story import EXPECTED


def shown(report: object) -> str:
    console = Console(record=True, width=120, color_system=None)
    print_report(console, report)  # type: ignore[arg-type]
    return console.export_text()


def test_the_rates_and_their_tables() -> None:
    text = shown(EXPECTED)
    assert "及时办结率" in text and "66.67%" in text  # on-time and satisfaction
    assert "4.00 / 5" in text  # mean rating
    assert "3 / 1" in text  # notifications delivered / failed
    for reason in ("invalid", "not_utf8"):
        assert reason in text
    assert "dead letters by reason" in text and "escalations by the tier they left" in text


def test_an_empty_archive_shows_dashes_and_no_empty_tables() -> None:
    text = shown(MemoryArchiveStore().report())
    assert "—" in text
    assert "dead letters by reason" not in text

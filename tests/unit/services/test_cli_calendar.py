"""``gridflow calendar due``: the escalator's own counting, as JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas.catalogue import DEFAULT_SITE
from services.cli_calendar import calendar_app
from tests.unit.escalator.test_official import TEST_NOTICE_2027

runner = CliRunner()


def due(*args: str) -> dict[str, object]:
    result = runner.invoke(calendar_app, ["due", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_working_days_across_national_day() -> None:
    got = due("--received", "2026-09-29T15:00:00+08:00", "--working-days", "5")
    assert got == {"due": "2026-10-13T00:00:00+08:00", "provisional": False}


def test_zero_is_the_same_working_day() -> None:
    got = due("--received", "2026-03-08T10:00:00+08:00", "--working-days", "0")  # a Sunday
    assert got == {"due": "2026-03-10T00:00:00+08:00", "provisional": False}


def test_into_an_uncovered_year_it_is_provisional() -> None:
    got = due("--received", "2026-12-28T10:00:00+08:00", "--working-days", "5")
    assert got == {"due": "2027-01-06T00:00:00+08:00", "provisional": True}


def test_hours_and_calendar_days() -> None:
    got = due("--received", "2026-10-01T09:00:00+08:00", "--hours", "2")
    assert got == {"due": "2026-10-01T11:00:00+08:00", "provisional": False}
    got = due("--received", "2026-09-24T10:00:00+08:00", "--calendar-days", "7")
    assert got == {"due": "2026-10-09T00:00:00+08:00", "provisional": False}


def test_the_answer_is_in_the_sites_zone() -> None:
    got = due("--received", "2026-03-06T17:00:00Z", "--working-days", "0")  # Sat 01:00 there
    assert got == {"due": "2026-03-10T00:00:00+08:00", "provisional": False}


def test_a_site_with_a_new_notice(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, site)
    (site / "calendar.yaml").write_text(TEST_NOTICE_2027, encoding="utf-8")
    args = ("--received", "2027-02-01T10:00:00+08:00", "--working-days", "5")
    assert due(*args) == {"due": "2027-02-13T00:00:00+08:00", "provisional": True}
    assert due(*args, "--site", str(site)) == {
        "due": "2027-02-17T00:00:00+08:00",
        "provisional": False,
    }


@pytest.mark.parametrize(
    "args",
    [
        ["--received", "2026-03-05T10:00:00+08:00"],  # no limit
        ["--received", "2026-03-05T10:00:00+08:00", "--hours", "2", "--working-days", "1"],
        ["--received", "2026-03-05T10:00:00", "--hours", "2"],  # no offset
        ["--received", "yesterday", "--hours", "2"],
        ["--received", "2026-03-05T10:00:00+08:00", "--working-days", "-1"],
    ],
)
def test_bad_input_is_refused(args: list[str]) -> None:
    assert runner.invoke(calendar_app, ["due", *args]).exit_code == 2


def test_a_bad_site_calendar_is_reported(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(DEFAULT_SITE, site)
    (site / "calendar.yaml").write_text("years: {2027: {notice: n}}", encoding="utf-8")
    args = ["due", "--received", "2027-02-01T10:00:00+08:00", "--hours", "1", "--site", str(site)]
    result = runner.invoke(calendar_app, args)
    assert result.exit_code == 2 and "calendar file" in result.output

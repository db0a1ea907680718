"""A record over GRIDFLOW_INTAKE_MAX_BYTES is dead-lettered by its size, unparsed, the
original kept in the letter; one within it goes on as before."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from schemas.access import channel_topic
from schemas.catalogue import Site
from schemas.deadletter import RejectionReason
from schemas.reports import Channel
from services.processors import Parts, spec
from services.settings import Settings
from tests.support.sites import SHANGHAI
from tests.unit.intake.runtime_path import run

NOW = datetime(2026, 9, 21, 12, 0, tzinfo=SHANGHAI)
EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "report.json"


def test_an_oversized_report_is_one_dead_letter_too_large_with_the_original(site: Site) -> None:
    topic = channel_topic(site, Channel.HOTLINE_12345).name
    value = b"\x00not even json" + b"x" * 5000
    out = run(site, [(topic, value)], NOW, max_bytes=4096)
    [letter] = out.letters
    assert out.cases == []
    assert letter.payload.reason is RejectionReason.TOO_LARGE
    assert "5014 bytes" in letter.payload.message and "4096" in letter.payload.message
    assert letter.payload.original.base64 is not None  # NUL: kept as base64, whole
    assert letter.payload.original.topic == topic


def test_a_report_within_the_limit_is_a_case(site: Site) -> None:
    value = EXAMPLE.read_bytes()
    out = run(site, [(channel_topic(site, Channel.HOTLINE_12345).name, value)], NOW, len(value))
    assert len(out.cases) == 1 and out.letters == []


def test_the_limit_applies_to_commands_too(site: Site) -> None:
    topic = "gridflow.commands." + next(s.id for s in site.senders)
    out = run(
        site, [(topic, json.dumps({"type": "case.accept", "x": "y" * 3000}).encode())], NOW, 2048
    )
    [letter] = out.letters
    assert letter.payload.reason is RejectionReason.TOO_LARGE


def test_the_setting_reaches_intake(site: Site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDFLOW_INTAKE_MAX_BYTES", "5000")
    settings = Settings()
    from contextlib import ExitStack

    with ExitStack() as resources:
        intake = spec("intake").build(
            Parts(site, None, resources, max_bytes=settings.intake_max_bytes)
        )
    assert intake.value_limit("gridflow.reports.channel.web") == 5000  # type: ignore[attr-defined]

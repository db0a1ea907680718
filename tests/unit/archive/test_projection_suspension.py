"""The archive keeps every step of a suspension and an extension, the commands as
their senders wrote them and the router's events, and its case row shows a suspended
case as such until it is resumed."""

from __future__ import annotations

from datetime import timedelta

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from router.core import Router
from router.memory import MemoryCaseStore
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.topics import CASE_EVENTS
from tests.support.sites import tiny_site
from tests.unit.archive.story import CLOCK
from tests.unit.router.support import (
    T0,
    accept,
    act,
    case,
    decide,
    received,
    request_extension,
    request_suspension,
    resume,
)

HOLDER = "s.urban"


def test_the_archive_keeps_each_step_and_the_row_shows_the_suspension() -> None:
    router = Router(tiny_site(), MemoryCaseStore())
    store = MemoryArchiveStore()
    archive = Archive(store, CLOCK)
    ask, more = request_suspension("GF-1", HOLDER), request_extension("GF-1", HOLDER)
    steps: list[tuple[Envelope, str]] = [
        (received(case()), "assigned"),
        (accept("GF-1", HOLDER), "accepted"),
        (ask, "accepted"),
        (decide("GF-1", ask), "suspended"),
        (resume("GF-1", HOLDER), "accepted"),
        (more, "accepted"),
        (decide("GF-1", more, approved=False, n=1), "accepted"),
    ]
    story: list[str] = []
    for i, (command, stage) in enumerate(steps):
        now = T0 + timedelta(hours=i)
        written = [e.message for e in act(router, command, now) if e.topic == CASE_EVENTS.name]
        batch = [command, *written]
        assert archive.handle([Inbound(m, now) for m in batch]) == [[] for _ in batch]
        story += [m.type for m in written]
        assert store.load({"GF-1"})["GF-1"].stage == stage
    assert story[2:] == [
        "case.suspension_requested",
        "case.suspended",
        "case.resumed",
        "case.extension_requested",
        "case.request_refused",
    ]
    kept = [e.type for e in store.history("GF-1")]
    assert sorted(t for t in kept if t not in story) == sorted(
        [
            "case.received",
            "case.accept",
            "case.request_suspension",
            "case.decide_request",
            "case.resume",
            "case.request_extension",
            "case.decide_request",
        ]
    )
    assert sorted(t for t in kept if t in story) == sorted(story)  # every event, once
    notes = [e.payload.get("note") for e in store.history("GF-1")]
    assert "王女士 abroad until the 20th" in notes  # in the command, as the holder wrote it

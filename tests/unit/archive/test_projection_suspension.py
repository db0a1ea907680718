"""The archive keeps every step of a suspension and an extension, the commands as
their senders wrote them and the router's events, and its case row shows a suspended
case as such until it is resumed."""

from __future__ import annotations

from datetime import timedelta

from archive.core import Archive
from archive.kpi import HandlingClock
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
    refer_up,
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


def test_an_approved_extension_moves_the_rows_due_time_as_the_escalator_moves_the_clock() -> None:
    """Two extensions of the holder's assignment: after each, the row's due_at is the
    escalator's own due time for the clock (deadline.extended)."""
    from escalator.clocks import site_calendar
    from escalator.core import Escalator
    from escalator.memory import MemoryDeadlineStore
    from schemas.cases import DeadlineKind
    from schemas.suspension import DeadlineExtended

    site = tiny_site()
    router = Router(site, MemoryCaseStore())
    escalator = Escalator(site, site_calendar(site), MemoryDeadlineStore())
    store = MemoryArchiveStore()
    clock = HandlingClock(site_calendar(site), site.tz, site.deadlines.business_hours_end)
    archive = Archive(store, clock)
    first, second = (
        request_extension("GF-1", HOLDER),
        request_extension("GF-1", HOLDER, days=3, n=1),
    )
    steps = [
        received(case()),
        accept("GF-1", HOLDER),
        first,
        decide("GF-1", first),
        second,
        decide("GF-1", second, n=1),
    ]
    dispatched, moved = None, []
    for i, command in enumerate(steps):
        now = T0 + timedelta(hours=i)
        written = [e.message for e in act(router, command, now) if e.topic == CASE_EVENTS.name]
        archive.handle([Inbound(m, now) for m in [command, *written]])
        for out in escalator.handle([Inbound(m, now) for m in written]):
            moved += [
                e.message.payload.due_at
                for e in out  # type: ignore[union-attr]
                if isinstance(e.message, DeadlineExtended)
                and e.message.payload.kind in (DeadlineKind.RESOLVE, DeadlineKind.REFER)
            ]
        row = store.load({"GF-1"})["GF-1"]
        if i == 0:
            dispatched = row.due_at
        if moved:
            assert row.due_at == moved[-1], (command.type, row.due_at, moved)
    assert len(moved) == 2 and dispatched is not None and moved[-1] > moved[0] > dispatched
    assert (row.assignment_due_at, row.extension_days) == (dispatched, 5)
    # referred up (上报): the new holder's clock is its own, not extended
    now = T0 + timedelta(hours=len(steps))
    up = refer_up("GF-1", HOLDER)
    written = [e.message for e in act(router, up, now) if e.topic == CASE_EVENTS.name]
    archive.handle([Inbound(m, now) for m in [up, *written]])
    row = store.load({"GF-1"})["GF-1"]
    assert row.seq == 2 and row.extension_days == 0 and row.due_at == row.assignment_due_at

"""project(): the case row folded from events, in order, out of order, and never with PII."""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict
from functools import reduce

from archive.projection import CaseRow, project, projects
from schemas.cases import AssignmentReason
from schemas.deadletter import RejectionReason
from schemas.envelope import Envelope
from schemas.notifications import DeliveryStatus
from schemas.reports import Tier
from tests.unit.archive.story import ADDRESS, NAME, PHONE, Story, dead_letter


def fold(events: list[Envelope], row: CaseRow | None = None) -> CaseRow | None:
    return reduce(project, events, row)


def test_the_full_loop_fills_every_step() -> None:
    s = Story(1)
    events = s.full_loop(rating=5)
    _, assigned, accepted, handled, verified, _, closed = events
    row = fold(events)
    assert row is not None
    assert row.case_id == s.case_id
    assert (row.channel, row.category, row.grid_id) == ("hotline_12345", "env.litter", "g-1")
    assert row.stage == "closed"
    assert row.stage_at == closed.occurred_at
    assert (row.unit_id, row.tier, row.owner_tier, row.seq) == ("grid-1", "grid", "grid", 1)
    assert row.received_at == s.case.received_at
    assert row.reported_at == s.case.reported_at
    assert row.assigned_at == assigned.payload.assignment.assigned_at
    assert row.accepted_at == accepted.payload.at
    assert row.handled_at == handled.payload.at
    assert row.verified_at == verified.payload.at
    assert row.closed_at == closed.payload.at
    assert (row.on_time, row.rating, row.escalations) == (True, 5, 0)
    assert row.last_event_at == closed.occurred_at


def test_each_step_moves_the_stage_forward() -> None:
    events = Story(1).full_loop()
    stages = []
    row = None
    for event in events:
        row = project(row, event)
        assert row is not None
        stages.append(row.stage)
    assert stages == [
        "received", "assigned", "accepted", "handled", "verified", "verified", "closed"
    ]  # fmt: skip


def test_assigned_before_received_creates_the_row_and_keeps_the_stage() -> None:
    s = Story(1)
    received, assigned = s.received(), s.assigned()
    row = fold([assigned])
    assert row is not None
    assert (row.stage, row.channel, row.received_at) == (
        "assigned",
        "hotline_12345",
        s.case.received_at,
    )
    row = fold([received], row)
    assert row is not None and row.stage == "assigned"
    assert row == fold([received, assigned])


def test_every_arrival_order_of_the_loop_gives_the_same_row() -> None:
    events = Story(1).full_loop(rating=4)
    expected = fold(events)
    for order in itertools.permutations(events):
        assert fold(list(order)) == expected


def test_shuffled_long_story_gives_the_same_row() -> None:
    s = Story(2)
    events = [s.received(), s.assigned(), s.warning(), s.lapsed()]
    events += [s.escalated("community-1", Tier.COMMUNITY), s.assigned(AssignmentReason.ESCALATED)]
    events += [s.accepted(), s.handled(), s.verified(False), s.assigned(AssignmentReason.REWORK)]
    events += [s.handled(), s.verified(), s.rated(2), s.closed(on_time=False, rating=2)]
    expected = fold(events)
    assert expected is not None
    assert (expected.stage, expected.unit_id, expected.tier, expected.seq) == (
        "closed", "community-1", "community", 3
    )  # fmt: skip
    assert (expected.escalations, expected.lapsed_deadlines, expected.deadline_warnings) == (
        1,
        1,
        1,
    )
    rng = random.Random(7)
    for _ in range(300):
        order = events[:]
        rng.shuffle(order)
        assert fold(order) == expected


def test_a_late_old_event_does_not_move_the_stage_back() -> None:
    s = Story(1)
    received, first, accepted = s.received(), s.assigned(), s.accepted()
    escalated = s.escalated("community-1", Tier.COMMUNITY)
    second = s.assigned(AssignmentReason.ESCALATED)
    row = fold([received, second, escalated, first, accepted])
    assert row is not None
    assert row.stage == "assigned"  # the newest event is the second assignment
    assert (row.unit_id, row.seq) == ("community-1", 2)  # the highest seq holds it
    assert row.assigned_at == first.payload.assignment.assigned_at  # the first one
    assert row.accepted_at == accepted.payload.at  # filled in, not lost


def test_escalation_moves_the_stage_back_without_losing_the_acceptance() -> None:
    s = Story(1)
    events = [s.received(), s.assigned(), s.accepted()]
    row = fold(events)
    assert row is not None and row.stage == "accepted"
    escalation = [s.escalated("street-urban", Tier.STREET), s.assigned(AssignmentReason.ESCALATED)]
    row = fold(escalation, row)
    assert row is not None
    assert (row.stage, row.unit_id, row.tier, row.escalations) == (
        "assigned", "street-urban", "street", 1
    )  # fmt: skip
    assert row.accepted_at == events[2].payload.at


def test_escalations_count_each_event() -> None:
    s = Story(1)
    events = [s.received(), s.assigned()]
    for unit, tier in (("community-1", Tier.COMMUNITY), ("street-urban", Tier.STREET)):
        events += [s.lapsed(), s.escalated(unit, tier), s.assigned(AssignmentReason.ESCALATED)]
    row = fold(events)
    assert row is not None
    assert (row.escalations, row.lapsed_deadlines, row.tier) == (2, 2, "street")


def test_a_failed_verification_is_not_a_verification() -> None:
    s = Story(1)
    events = [s.received(), s.assigned(), s.accepted(), s.handled(), s.verified(passed=False)]
    row = fold(events)
    assert row is not None
    assert (row.stage, row.verified_at) == ("handled", None)
    row = fold([s.assigned(AssignmentReason.REWORK)], row)
    # back to the unit, which accepted it already: accepted, as the router has it
    assert row is not None and (row.stage, row.seq) == ("accepted", 2)


def test_closed_is_final() -> None:
    s = Story(1)
    row = fold(s.full_loop())
    late = s.assigned(AssignmentReason.REWORK)  # newer than the close, yet the case is closed
    after = fold([late], row)
    assert after is not None and after.stage == "closed"


def test_a_deadline_event_first_creates_a_row_without_a_stage() -> None:
    s = Story(1)
    s.assigned()
    row = fold([s.warning()])
    assert row is not None
    assert (row.stage, row.deadline_warnings, row.unit_id) == (None, 1, None)
    row = fold([s.lapsed()], row)
    assert row is not None and row.lapsed_deadlines == 1


def test_notifications_and_dead_letters_leave_rows_alone() -> None:
    s = Story(1)
    row = fold([s.received()])
    note = s.notification(DeliveryStatus.FAILED)
    assert not projects(note)
    assert project(row, note) is row
    assert project(None, note) is None
    assert project(None, dead_letter(1, RejectionReason.INVALID)) is None


def test_no_personal_data_in_the_row() -> None:
    row = fold(Story(1).full_loop())
    assert row is not None
    text = repr(asdict(row))
    for secret in (NAME, PHONE, ADDRESS, "幸福路"):
        assert secret not in text

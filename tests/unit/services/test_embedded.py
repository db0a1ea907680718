"""EmbeddedPipeline: the five processors over in-memory topics and SQLite, on the bundled
site. Reports in; cases out on the units' assignment topics and in the archive; bad
reports on the dead-letter topic; days pass and deadlines escalate; state survives
a restart on the same database file.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from archive.sql import archive_cases, archive_dead_letters
from escalator.calendar import WorkingCalendar
from intake.core import case_id_for
from router.sql import cases as router_cases
from schemas.cases import CaseAssigned, CaseEscalated, DeadlineKind, StepPayload
from schemas.catalogue import Site
from schemas.codec import decode, encode
from schemas.commands import AcceptCase
from schemas.deadletter import MessageRejected, RejectionReason
from schemas.envelope import stable_id
from schemas.reports import Tier
from schemas.topics import (
    ASSIGNMENT_PREFIX,
    CASE_EVENTS,
    CASES_RECEIVED,
    DEADLETTER,
    command_topic,
    topic_named,
)
from services.runtime.clock import SimulatedClock
from services.runtime.embedded import EmbeddedPipeline
from tests.support.processing import report_topic_of
from tests.support.sites import SHANGHAI

START = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday, no holiday for weeks
VALID = 20


def reports(site: Site, tag: str = "t") -> tuple[list[bytes], list[bytes], set[str]]:
    """(valid values, bad values, the case ids the valid ones must become)."""
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    # one assignment a case: the co-handled categories (协办 copies) are tested apart
    categories = sorted(c.code for c in site.categories if not c.co_handlers)
    good, ids = [], set()
    for n in range(VALID):
        body = {
            "channel": "grid_app",
            "external_id": f"{tag}-{n:03d}",
            "reported_at": (START - timedelta(minutes=n)).isoformat(),
            "category": categories[(n * 7) % len(categories)],
            "grid_id": grids[(n * 11) % len(grids)],
            "description": f"测试第{n}号",
        }
        good.append(json.dumps(body, ensure_ascii=False).encode())
        ids.add(case_id_for("grid_app", f"{tag}-{n:03d}"))
    template = json.loads(good[0])
    bad = [
        b"<workorder id='1'>",
        # an unknown grid (an unknown category alone goes to the dispatch queue instead)
        json.dumps({**template, "external_id": "bad-1", "grid_id": "zs-nowhere"}).encode(),
        json.dumps({k: v for k, v in template.items() if k != "description"}).encode(),
        json.dumps(
            {**template, "external_id": "bad-3", "reported_at": "2026-03-09T09:00:00+08:00"}
        ).encode(),
    ]
    return good, bad, ids


def publish_all(pipeline: EmbeddedPipeline, values: list[bytes]) -> None:
    for value in values:
        pipeline.publish(report_topic_of(pipeline.site, value), value)


def read(pipeline: EmbeddedPipeline, topic: str, start: int = 0) -> list[Any]:
    return [decode(topic_named(topic), r.value) for r in pipeline.broker.read(topic, start)]


def assignments(pipeline: EmbeddedPipeline) -> dict[str, list[CaseAssigned]]:
    """Per assignment topic, what was published on it."""
    names = [t for t in pipeline.broker.topics() if t.startswith(ASSIGNMENT_PREFIX)]
    return {t: read(pipeline, t) for t in names if pipeline.broker.read(t)}


def count(pipeline: EmbeddedPipeline, table: Any) -> int:
    with pipeline.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def accept(a: CaseAssigned, at: datetime) -> AcceptCase:
    """Built like services/demo/actors.py: a stable id the sender reuses on retry."""
    assignment, case_id = a.payload.assignment, a.payload.case.case_id
    step = StepPayload(unit_id=assignment.unit_id, seq=assignment.seq, at=at, note="已受理")
    return AcceptCase(
        event_id=stable_id("test-units", case_id, "accept", assignment.seq),
        type=AcceptCase.TYPE,
        case_id=case_id,
        occurred_at=at,
        producer="test-units",
        correlation_id=case_id,
        payload=step,
    )


@pytest.fixture
def pipeline(site: Site) -> Any:
    p = EmbeddedPipeline(site, SimulatedClock(START))
    yield p
    p.close()


def test_reports_become_one_assignment_each_and_bad_ones_dead_letters(
    pipeline: EmbeddedPipeline, site: Site
) -> None:
    good, bad, ids = reports(site)
    publish_all(pipeline, good + bad)
    result = pipeline.pump()
    assert result.dead_letters == len(bad)

    on_topics = assignments(pipeline)
    per_case = Counter(a.payload.case.case_id for msgs in on_topics.values() for a in msgs)
    assert per_case == Counter({cid: 1 for cid in ids})
    for topic, msgs in on_topics.items():
        assert all(topic == ASSIGNMENT_PREFIX + a.payload.assignment.unit_id for a in msgs)
        assert all(site.unit(a.payload.assignment.unit_id) is not None for a in msgs)

    letters: list[MessageRejected] = read(pipeline, DEADLETTER.name)
    assert sorted((m.payload.original.text or "").encode() for m in letters) == sorted(bad)
    assert {m.payload.processor for m in letters} == {"intake"}
    assert {m.payload.reason for m in letters} == {
        RejectionReason.NOT_JSON,
        RejectionReason.UNKNOWN_REFERENCE,
        RejectionReason.INVALID,
    }

    with pipeline.engine.connect() as conn:
        archived = conn.execute(select(archive_cases.c.case_id)).scalars().all()
    assert sorted(archived) == sorted(ids)
    assert count(pipeline, archive_dead_letters) == len(bad)
    assert pipeline.unread() == 0


def test_days_later_the_unaccepted_escalate_and_the_accepted_follow_the_rules(
    pipeline: EmbeddedPipeline, site: Site
) -> None:
    good, _, ids = reports(site)
    publish_all(pipeline, good)
    pipeline.pump()
    first = {a.payload.case.case_id: a for msgs in assignments(pipeline).values() for a in msgs}
    accepted = set(sorted(ids)[::2])
    clock = pipeline.clock
    assert isinstance(clock, SimulatedClock)
    clock.advance(timedelta(minutes=30))
    for case_id in sorted(accepted):
        command = accept(first[case_id], clock.now())
        unit = first[case_id].payload.assignment.unit_id  # on the unit's own command topic
        pipeline.publish(command_topic(unit).name, encode(command), case_id.encode())
    assert pipeline.pump().dead_letters == 0

    seen = len(pipeline.broker.read(CASE_EVENTS.name))
    later = clock.advance(timedelta(days=10))
    pipeline.tick()
    escalated: dict[str, list[CaseEscalated]] = {}
    for event in read(pipeline, CASE_EVENTS.name, seen):
        if isinstance(event, CaseEscalated):
            escalated.setdefault(event.case_id or "", []).append(event)

    calendar = WorkingCalendar()
    kinds: set[DeadlineKind] = set()
    for case_id, assigned in first.items():
        held = assigned.payload.assignment
        # beyond the holder's tier there is no accept deadline: refer it up, that is all
        beyond = held.tier.rank < held.owner_tier.rank
        if case_id not in accepted and not beyond:  # accept is due the same working day
            [event] = escalated[case_id]
            assert event.payload.deadline_kind is DeadlineKind.ACCEPT
            assert event.payload.from_unit_id == held.unit_id
            continue
        # accepted (or beyond the tier): what is left is to resolve it, or to refer it up
        kind = DeadlineKind.REFER if beyond else DeadlineKind.RESOLVE
        policy = site.deadlines_for(held.tier)
        days = policy.refer if beyond else policy.resolve
        due = calendar.due(held.assigned_at, days, site.deadlines.business_hours_end, SHANGHAI)
        if due > later:
            assert case_id not in escalated
            continue
        [event] = escalated[case_id]
        assert event.payload.deadline_kind is kind
        assert event.payload.due_at == due
        kinds.add(kind)
    assert kinds == {DeadlineKind.REFER, DeadlineKind.RESOLVE}  # both rules were exercised
    assert pipeline.unread() == 0


def test_state_survives_a_restart_on_the_same_database(site: Site, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gridflow.db'}"
    good, bad, ids = reports(site)
    before = EmbeddedPipeline(site, SimulatedClock(START), url)
    publish_all(before, good + bad)
    before.pump()
    received = [m.event_id for m in read(before, CASES_RECEIVED.name)]
    assert len(assignments(before)) > 0
    before.close()

    after = EmbeddedPipeline(site, SimulatedClock(START + timedelta(hours=1)), url)
    try:
        publish_all(after, good + bad)  # a channel resends everything
        result = after.pump()
        # intake keeps no state and says it again, with the same ids an hour later; the
        # router and the archive knew every case, the archive every dead letter
        assert [m.event_id for m in read(after, CASES_RECEIVED.name)] == received
        # router, notifier and archive each read cases.received
        assert result.duplicates == 3 * len(ids) + len(bad)
        assert assignments(after) == {}
        assert count(after, router_cases) == len(ids)
        assert count(after, archive_cases) == len(ids)
        assert count(after, archive_dead_letters) == len(bad)  # same place, same letter id

        new, _, new_ids = reports(site, tag="new")
        publish_all(after, new[:1])
        after.pump()
        [(_, [assigned])] = assignments(after).items()
        assert assigned.payload.case.case_id in new_ids
    finally:
        after.close()

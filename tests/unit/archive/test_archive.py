"""The Archive processor over the in-memory store: every event kept once, cases folded once."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import pytest

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from schemas.deadletter import Rejected, RejectionReason
from schemas.reports import Tier
from schemas.topics import CASE_EVENTS, CASES_RECEIVED, DEADLETTER, DEADLINES, NOTIFICATIONS
from tests.unit.archive.story import ADDRESS, NAME, PHONE, T0, Story, dead_letter

NOW = T0 + timedelta(days=3)


@pytest.fixture
def store() -> MemoryArchiveStore:
    return MemoryArchiveStore()


def test_reads_the_story_topics_and_emits_nothing(store: MemoryArchiveStore) -> None:
    archive = Archive(store)
    assert archive.name == "archive"
    assert set(archive.topics) == {
        t.name for t in (CASES_RECEIVED, CASE_EVENTS, DEADLINES, NOTIFICATIONS, DEADLETTER)
    }
    s = Story(1)
    for event in [*s.full_loop(), s.notification(), dead_letter(1, RejectionReason.INVALID)]:
        assert archive.handle(event, NOW) == []
    assert archive.tick(NOW) == []
    assert len(store.events) == 9


def test_every_event_is_archived_with_its_json_payload(store: MemoryArchiveStore) -> None:
    archive = Archive(store)
    s = Story(1)
    events = s.full_loop()
    for event in reversed(events):  # arrival order does not matter to the history
        archive.handle(event, NOW)
    history = store.history(s.case_id)
    assert [h.event_id for h in history] == [e.event_id for e in events]
    first = history[0]
    assert first.type == "case.received"
    assert first.payload == events[0].model_dump(mode="json")["payload"]
    assert first.archived_at == NOW
    assert first.causation_id is None and history[1].causation_id == events[0].event_id


def test_duplicates_are_not_counted_twice(store: MemoryArchiveStore) -> None:
    archive = Archive(store)
    s = Story(1)
    events = [s.received(), s.assigned(), s.lapsed(), s.escalated("community-1", Tier.COMMUNITY)]
    events += [s.assigned(), s.warning(), s.accepted()]
    for event in events + events[::-1] + events:
        archive.handle(event, NOW)
    row = store.get_case(s.case_id)
    assert row is not None
    assert (row.escalations, row.lapsed_deadlines, row.deadline_warnings) == (1, 1, 1)
    assert row.stage == "accepted"
    assert len(store.events) == len(events)
    report = store.report()
    assert (report.events, report.escalations, report.lapsed_deadlines) == (7, 1, 1)


def test_a_redelivered_event_changes_nothing_even_with_another_archive_time(
    store: MemoryArchiveStore,
) -> None:
    archive = Archive(store)
    received = Story(1).received()
    archive.handle(received, NOW)
    before = (dict(store.events), dict(store.cases))
    archive.handle(received, NOW + timedelta(hours=5))
    assert (store.events, store.cases) == before


def test_dead_letters_are_kept_verbatim(store: MemoryArchiveStore) -> None:
    archive = Archive(store)
    text = dead_letter(1, RejectionReason.INVALID, b'{"type": "case.accept"}')
    binary = dead_letter(2, RejectionReason.NOT_UTF8, b"\xff\xfe")
    for event in (text, binary, text):
        archive.handle(event, NOW)
    assert len(store.dead_letters) == 2
    kept = store.get_dead_letter(text.event_id)
    assert kept is not None
    assert (kept.processor, kept.reason, kept.original_topic) == (
        "router", "invalid", "gridflow.cases.updates"
    )  # fmt: skip
    assert (kept.original_text, kept.original_base64, kept.original_key) == (
        '{"type": "case.accept"}', None, "case-x"
    )  # fmt: skip
    other = store.get_dead_letter(binary.event_id)
    assert other is not None and (other.original_text, other.original_base64) == (None, "//4=")
    assert store.cases == {}  # a dead letter is not a case
    assert text.event_id in store.events


def test_personal_data_stays_in_the_events_only(store: MemoryArchiveStore) -> None:
    archive = Archive(store)
    s = Story(1)
    for event in s.full_loop():
        archive.handle(event, NOW)
    row = store.get_case(s.case_id)
    assert row is not None
    for secret in (NAME, PHONE, ADDRESS):
        assert secret not in repr(asdict(row))
    payload = store.history(s.case_id)[0].payload
    assert payload["reporter"] == {"name": NAME, "phone": PHONE, "anonymous": False}
    assert payload["location"]["address"] == ADDRESS


def test_notifications_make_no_case_row(store: MemoryArchiveStore) -> None:
    archive = Archive(store)
    s = Story(1)
    s.received()
    archive.handle(s.notification(), NOW)
    assert store.cases == {}
    assert len(store.events) == 1


def test_refuses_what_is_not_an_envelope(store: MemoryArchiveStore) -> None:
    with pytest.raises(Rejected) as refused:
        Archive(store).handle(Story(1).case, NOW)
    assert refused.value.reason is RejectionReason.UNKNOWN_TYPE
    assert store.events == {}

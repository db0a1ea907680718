"""The Archive processor over the in-memory store: every event kept, cases folded by batch."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import pytest

from archive.core import Archive
from archive.memory import MemoryArchiveStore
from schemas.deadletter import Rejected, RejectionReason
from schemas.envelope import Envelope
from schemas.processing import Inbound
from schemas.reports import Tier
from schemas.topics import (
    CASE_EVENTS,
    CASE_UPDATES,
    CASES_RECEIVED,
    DEADLETTER,
    DEADLINES,
    NOTIFICATIONS,
)
from tests.support.processing import handle_one
from tests.unit.archive.story import ADDRESS, CLOCK, NAME, PHONE, T0, Story, dead_letter

NOW = T0 + timedelta(days=3)


@pytest.fixture
def store() -> MemoryArchiveStore:
    return MemoryArchiveStore()


def archive_all(archive: Archive, events: list[Envelope], batch: int = 1000) -> None:
    for i in range(0, len(events), batch):
        outcomes = archive.handle([Inbound(e, NOW) for e in events[i : i + batch]])
        assert outcomes == [[] for _ in events[i : i + batch]]


def test_reads_the_story_topics_and_emits_nothing(store: MemoryArchiveStore) -> None:
    archive = Archive(store, CLOCK)
    assert archive.name == "archive"
    assert set(archive.topics) == {
        t.name
        for t in (CASES_RECEIVED, CASE_UPDATES, CASE_EVENTS, DEADLINES, NOTIFICATIONS, DEADLETTER)
    }
    s = Story(1)
    archive_all(
        archive, [*s.full_loop(), s.notification(), dead_letter(1, RejectionReason.INVALID)]
    )
    assert archive.tick(NOW) == []
    assert len(store.events) == 9


def test_every_event_is_archived_with_its_json_payload(store: MemoryArchiveStore) -> None:
    archive = Archive(store, CLOCK)
    s = Story(1)
    events = s.full_loop()
    archive_all(archive, events[::-1])  # arrival order does not matter to the history
    history = store.history(s.case_id)
    assert [h.event_id for h in history] == [e.event_id for e in events]
    first = history[0]
    assert first.type == "case.received"
    assert first.payload == events[0].model_dump(mode="json")["payload"]
    assert first.archived_at == NOW  # the record's time, not a clock's
    assert first.causation_id is None and history[1].causation_id == events[0].event_id


def test_one_batch_folds_like_one_event_at_a_time() -> None:
    s, t = Story(1), Story(2)
    events = [s.received(), t.received(), s.assigned(), s.lapsed()]
    events += [s.escalated("community-1", Tier.COMMUNITY), t.assigned(), s.assigned()]
    events += [s.warning(), s.accepted(), t.accepted(), s.handled()]
    whole, single = MemoryArchiveStore(), MemoryArchiveStore()
    archive_all(Archive(whole, CLOCK), events)
    archive_all(Archive(single, CLOCK), events, batch=1)
    assert whole.cases == single.cases and whole.events == single.events
    row = whole.cases[s.case_id]
    assert (row.escalations, row.lapsed_deadlines, row.deadline_warnings) == (1, 1, 1)
    assert (row.stage, whole.cases[t.case_id].stage) == ("handled", "accepted")


def test_an_event_id_twice_is_refused_by_the_store(store: MemoryArchiveStore) -> None:
    """The runtime's inbox drops repeats before the archive; the store does not hide a bug."""
    received = Story(1).received()
    handle_one(Archive(store, CLOCK), received, NOW)
    before = (dict(store.events), dict(store.cases))
    with pytest.raises(KeyError):
        Archive(store, CLOCK).handle([Inbound(received, NOW + timedelta(hours=5))])
    assert store.events == before[0]


def test_dead_letters_are_kept_verbatim(store: MemoryArchiveStore) -> None:
    archive = Archive(store, CLOCK)
    text = dead_letter(1, RejectionReason.INVALID, b'{"type": "case.accept"}')
    binary = dead_letter(2, RejectionReason.NOT_UTF8, b"\xff\xfe")
    archive_all(archive, [text, binary])
    assert len(store.dead_letters) == 2
    kept = store.get_dead_letter(text.event_id)
    assert kept is not None
    assert (kept.processor, kept.reason, kept.original_topic) == (
        "router", "invalid", "gridflow.cases.updates"
    )  # fmt: skip
    assert (kept.original_text, kept.original_base64, kept.original_key) == (
        '{"type": "case.accept"}', None, "case-x"
    )  # fmt: skip
    assert kept.archived_at == NOW
    other = store.get_dead_letter(binary.event_id)
    assert other is not None and (other.original_text, other.original_base64) == (None, "//4=")
    assert store.cases == {}  # a dead letter is not a case
    assert text.event_id in store.events


def test_personal_data_stays_in_the_events_only(store: MemoryArchiveStore) -> None:
    s = Story(1)
    archive_all(Archive(store, CLOCK), s.full_loop())
    row = store.cases[s.case_id]
    for secret in (NAME, PHONE, ADDRESS):
        assert secret not in repr(asdict(row))
    payload = store.history(s.case_id)[0].payload
    assert payload["reporter"] == {"name": NAME, "phone": PHONE, "anonymous": False}
    assert payload["location"]["address"] == ADDRESS


def test_notifications_make_no_case_row(store: MemoryArchiveStore) -> None:
    s = Story(1)
    s.received()
    handle_one(Archive(store, CLOCK), s.notification(), NOW)
    assert store.cases == {}
    assert len(store.events) == 1


def test_refuses_what_is_not_an_envelope_and_keeps_the_rest(store: MemoryArchiveStore) -> None:
    s = Story(1)
    received = s.received()
    outcomes = Archive(store, CLOCK).handle([Inbound(s.case, NOW), Inbound(received, NOW)])
    refused, kept = outcomes
    assert isinstance(refused, Rejected) and refused.reason is RejectionReason.UNKNOWN_TYPE
    assert kept == []
    assert list(store.events) == [received.event_id]

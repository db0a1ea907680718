"""BatchRunner, the good path and dead letters: a record is acted on and committed once,
and what cannot be acted on becomes exactly one dead letter that keeps it verbatim.
"""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import Engine

from schemas.cases import CaseAccepted
from schemas.codec import encode
from schemas.deadletter import MessageRejected, RejectionReason
from schemas.topics import CASE_EVENTS, CASE_UPDATES, DEADLETTER
from storage.db import make_engine, metadata
from tests.unit.services.batch_support import NAME, NOW, Harness, command, rec

# --- the good path -----------------------------------------------------------------


def test_a_good_record_is_acted_on_published_and_committed(h: Harness) -> None:
    cmd = command("GF-1")
    result = h.runner.run_batch([rec(cmd, 0)])
    assert (result.records, result.emitted, result.dead_letters, result.duplicates) == (1, 1, 0, 0)
    [(key, event)] = h.published(CASE_EVENTS.name)
    assert key == b"GF-1"
    assert isinstance(event, CaseAccepted)
    assert (event.causation_id, event.occurred_at) == (cmd.event_id, NOW)
    assert h.state() == {"GF-1": "ok"}
    assert h.inbox() == {cmd.event_id}
    assert h.letters() == []


def test_the_same_envelope_twice_is_processed_once(h: Harness) -> None:
    cmd = command("GF-1")
    result = h.runner.run_batch([rec(cmd, 0), rec(cmd, 1)])  # redelivered in one batch
    assert (result.emitted, result.duplicates) == (1, 1)
    later = h.runner.run_batch([rec(cmd, 7, partition=5)])  # and again, much later
    assert (later.emitted, later.duplicates) == (0, 1)
    assert h.processor.seen == [cmd.event_id]
    assert len(h.published(CASE_EVENTS.name)) == 1
    assert h.metric("gridflow_duplicates_skipped_total", processor=NAME) == 2


# --- dead letters ------------------------------------------------------------------


def only_letter(h: Harness) -> MessageRejected:
    [letter] = h.letters()
    return letter


def test_undecodable_bytes_become_one_dead_letter_kept_as_base64(h: Harness) -> None:
    value = b"\xff\xfe{not text"
    result = h.runner.run_batch([rec(value, 11, partition=4)])
    assert (result.dead_letters, result.emitted) == (1, 1)
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.NOT_UTF8
    assert letter.payload.processor == NAME
    original = letter.payload.original
    assert original.text is None
    assert original.base64 is not None and base64.b64decode(original.base64) == value
    assert (original.topic, original.partition, original.offset) == (CASE_UPDATES.name, 4, 11)
    assert h.processor.seen == []


def test_a_type_the_topic_does_not_carry_is_one_dead_letter_kept_as_text(h: Harness) -> None:
    wrong = CaseAccepted.derive(command("GF-1").payload, producer="x", now=NOW, case_id="GF-1")
    value = encode(wrong)
    h.runner.run_batch([rec(value, 3)])
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.UNKNOWN_TYPE
    assert letter.payload.original.text == value.decode()
    assert (letter.payload.original.partition, letter.payload.original.offset) == (2, 3)


def test_a_topic_outside_the_catalogue_is_dead_lettered(h: Harness) -> None:
    h.broker.create_topics(["elsewhere"])
    h.runner.run_batch([rec(command("GF-1"), 0, topic="elsewhere")])
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.UNKNOWN_TYPE
    assert letter.payload.original.topic == "elsewhere"


def test_invalid_json_is_dead_lettered_with_field_errors(h: Harness) -> None:
    data = json.loads(encode(command("GF-1")))
    data["payload"]["seq"] = 0
    h.runner.run_batch([rec(json.dumps(data).encode(), 0)])
    letter = only_letter(h)
    assert letter.payload.reason is RejectionReason.INVALID
    assert [e.loc for e in letter.payload.errors] == ["payload.seq"]


def test_a_refusal_by_the_logic_is_one_dead_letter_with_its_reason(h: Harness) -> None:
    cmd = command("GF-7", "refuse")
    result = h.runner.run_batch([rec(cmd, 5), rec(command("GF-8"), 6)])
    assert (result.dead_letters, result.emitted) == (1, 2)
    [(key, letter)] = h.published(DEADLETTER.name)
    assert key == b"GF-7"
    assert isinstance(letter, MessageRejected)
    assert letter.payload.reason is RejectionReason.CONFLICT
    assert letter.payload.message == "case held elsewhere"
    assert [e.loc for e in letter.payload.errors] == ["payload.note"]
    assert letter.case_id == "GF-7"
    assert letter.payload.original.text == encode(cmd).decode()
    assert letter.payload.original.offset == 5
    assert h.state() == {"GF-8": "ok"}
    # refused once is processed: a redelivery is a duplicate, not a second dead letter
    h.runner.run_batch([rec(cmd, 9)])
    assert len(h.letters()) == 1


def test_dead_letter_ids_are_stable_for_the_same_record(sqlite_engine: Engine) -> None:
    bad = [rec(b"not json", 3), rec(command("GF-2", "refuse"), 4)]
    other = make_engine("sqlite://")  # e.g. a replica replaying the topic from the start
    metadata.create_all(other)
    first, second = Harness(sqlite_engine), Harness(other)
    first.runner.run_batch(bad)
    second.runner.run_batch(bad)
    ids = [m.event_id for m in first.letters()]
    assert len(set(ids)) == 2
    assert [m.event_id for m in second.letters()] == ids
    first.runner.run_batch([rec(b"not json", 30)])  # same bytes elsewhere: a new letter
    assert first.letters()[-1].event_id not in ids


def test_a_decoder_that_breaks_dead_letters_instead_of_jamming_the_partition(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import services.runtime.batch as batch

    def broken(*_args: object) -> None:
        raise RecursionError("deeply nested JSON")

    monkeypatch.setattr(batch, "decode", broken)
    result = h.runner.run_batch([rec(b'{"type": "case.accept"}', 3)])
    assert (result.dead_letters, result.emitted) == (1, 1)
    assert only_letter(h).payload.reason is RejectionReason.INVALID
    assert h.processor.seen == []


def test_a_type_field_that_is_not_a_string_is_dead_lettered(h: Harness) -> None:
    result = h.runner.run_batch([rec(b'{"type": ["case.accept"]}', 5)])
    assert result.dead_letters == 1
    assert only_letter(h).payload.reason is RejectionReason.UNKNOWN_TYPE

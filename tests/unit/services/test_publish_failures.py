"""BatchRunner when outputs cannot be published: each failure belongs to its record.

An output that cannot be serialised, a key that cannot be encoded, an output over
the sink's limit, or one the broker refuses at flush makes its record one dead
letter (reason ``unpublishable``); the rest of the batch is published once and
committed. A dead letter too large to publish is cut down, its full bytes kept in
``dead_letter_bodies``. Dead letters keep keys, headers and null values verbatim.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter

import pytest
from sqlalchemy import Engine, select

from schemas.codec import decode, encode
from schemas.deadletter import BodyStore, MessageRejected, RejectionReason
from schemas.topics import CASE_EVENTS, CASE_UPDATES, DEADLETTER, Emit, Record
from services.runtime.batch import BatchRunner
from services.runtime.loop import Loop
from services.runtime.memory import MemorySink, MemorySource
from storage.db import dead_letter_bodies
from tests.unit.services.batch_support import (
    NAME,
    NOW,
    REFUSED_MARK,
    BrokenSink,
    Harness,
    RefusingSink,
    command,
    rec,
)

LIMIT = 3000
"""The memory broker's limit in these tests: a command's dead letter fits, 'big' does not."""


@pytest.fixture
def small(sqlite_engine: Engine) -> Harness:
    return Harness(sqlite_engine, max_message_bytes=LIMIT)


def feed(h: Harness, notes: list[str]) -> tuple[Loop, list[str]]:
    """Commands with these notes on the updates topic, and a loop that reads them."""
    ids = [f"GF-{i}" for i in range(len(notes))]
    for case_id, note in zip(ids, notes, strict=True):
        h.broker.append(CASE_UPDATES.name, case_id.encode(), encode(command(case_id, note)), NOW)
    return Loop(h.runner, MemorySource(h.broker, "g", [CASE_UPDATES.name])), ids


def by_case(letters: list[MessageRejected]) -> dict[str | None, MessageRejected]:
    return {m.case_id: m for m in letters}


def test_each_unpublishable_record_is_one_dead_letter_and_the_rest_flow(small: Harness) -> None:
    h = small
    notes = ["ok", "surrogate", "ok", "badkey", "ok", "big", "ok"]
    loop, ids = feed(h, notes)
    _, result = loop.step()
    good = [c for c, n in zip(ids, notes, strict=True) if n == "ok"]
    events = Counter(m.case_id for _, m in h.published(CASE_EVENTS.name))
    assert events == Counter(good)  # each valid record's output once
    assert (result.records, result.dead_letters, result.emitted) == (7, 3, 7)
    letters = by_case(h.letters())
    assert set(letters) == {"GF-1", "GF-3", "GF-5"}
    for letter in letters.values():
        assert letter.payload.reason is RejectionReason.UNPUBLISHABLE
        assert "case.accepted output to gridflow.cases.events" in letter.payload.message
        assert letter.payload.original.cut is None  # small enough to keep whole
    assert "cannot be serialised" in letters["GF-1"].payload.message
    assert "key" in letters["GF-3"].payload.message
    assert f"over the limit of {LIMIT}" in letters["GF-5"].payload.message
    assert "x" * 20 not in letters["GF-5"].payload.message  # no content in the message
    # the logic never saw the set-aside records: their state is not committed
    assert set(h.state()) == set(good)
    assert h.broker.lag("g", [CASE_UPDATES.name]) == 0  # offsets committed
    assert h.metric("gridflow_dead_letters_total", processor=NAME, reason="unpublishable") == 3


def test_a_refusal_at_flush_retries_the_batch_once_with_a_dead_letter(h: Harness) -> None:
    sink = RefusingSink(h.broker, h.clock.now, REFUSED_MARK.encode())
    h.runner.sink = sink
    loop, _ = feed(h, ["ok", "flushfail", "ok"])
    _, result = loop.step()
    assert sink.refusals == 1
    assert result.dead_letters == 1
    [letter] = h.letters()
    assert (letter.case_id, letter.payload.reason) == ("GF-1", RejectionReason.UNPUBLISHABLE)
    assert "broker refused" in letter.payload.message
    assert "RecordTooLargeError" in letter.payload.message
    # the first run's outputs reached the broker before the refusal: the re-run sends the
    # same bytes, which the downstream inboxes drop
    values = Counter(r.value for r in h.broker.read(CASE_EVENTS.name))
    assert {m.case_id for _, m in h.published(CASE_EVENTS.name)} == {"GF-0", "GF-2"}
    assert set(values.values()) == {2}
    assert set(h.state()) == {"GF-0", "GF-2"}
    assert h.broker.lag("g", [CASE_UPDATES.name]) == 0


def test_a_refused_dead_letter_is_cut_down_to_the_least_it_can_say(h: Harness) -> None:
    """The mark is in the input too, so the first dead letter, which quotes it, is
    refused as well: the next one leaves the original's value out."""
    sink = RefusingSink(h.broker, h.clock.now, b"GF-1")
    h.runner.sink = sink
    value = encode(command("GF-1"))
    h.runner.run_batch([rec(b"<" + value, 0)])  # not JSON; its letter quotes GF-1
    [letter] = h.letters()
    original = letter.payload.original
    assert original.cut is not None
    assert (original.text, original.base64) == ("", None)
    assert original.cut.size == len(value) + 1
    assert original.cut.stored is BodyStore.DATABASE
    assert sorted(original.cut.omitted) == ["errors", "headers", "key"]


def test_an_oversized_dead_letter_is_cut_to_fit_and_its_bytes_kept(small: Harness) -> None:
    h = small
    value = ("<not json> " + "长" * 4000).encode()  # 12 KB: its dead letter is over 3 KB
    bad = Record(
        topic=CASE_UPDATES.name,
        value=value,
        key=b"\xffk",
        partition=1,
        offset=7,
        timestamp=NOW,
        headers=(("trace", b"\x00\x01"),),
    )
    h.runner.run_batch([rec(command("GF-1"), 6, partition=1), bad])
    [(_, event)] = h.published(CASE_EVENTS.name)
    assert event.case_id == "GF-1"
    [raw] = h.broker.read(DEADLETTER.name)
    assert raw.value is not None and len(raw.value) <= LIMIT
    letter = decode(DEADLETTER, raw.value)
    original = letter.payload.original
    assert letter.payload.reason is RejectionReason.NOT_JSON
    assert original.cut is not None
    assert original.cut.size == len(value)
    assert original.cut.sha256 == hashlib.sha256(value).hexdigest()
    assert original.cut.stored is BodyStore.DATABASE
    assert original.text and value.decode().startswith(original.text)
    assert len(original.text.encode()) > LIMIT // 3  # as much as fits, not a token prefix
    with h.engine.connect() as conn:
        [row] = conn.execute(select(dead_letter_bodies)).mappings().all()
    assert (row["digest"], row["value"], row["key"]) == (original.cut.sha256, value, b"\xffk")
    assert (row["topic"], row["partition"], row["offset"]) == (CASE_UPDATES.name, 1, 7)
    assert row["headers"] == [{"key": "trace", "base64": base64.b64encode(b"\x00\x01").decode()}]
    assert h.metric("gridflow_dead_letters_cut_total", processor=NAME) == 1


def test_without_a_database_a_cut_letter_points_at_the_source_topic(small: Harness) -> None:
    h = small
    sink = MemorySink(h.broker, h.clock.now)
    runner = BatchRunner(h.processor, None, sink, h.metrics)
    runner.run_batch([rec(b"<" + b"y" * 10_000, 3)])
    [letter] = h.letters()
    assert letter.payload.original.cut is not None
    assert letter.payload.original.cut.stored is BodyStore.SOURCE_TOPIC
    assert (letter.payload.original.partition, letter.payload.original.offset) == (2, 3)
    with h.engine.connect() as conn:
        assert conn.execute(select(dead_letter_bodies)).all() == []


def test_null_and_empty_values_binary_keys_and_headers_survive(h: Harness) -> None:
    def raw(value: bytes | None, offset: int) -> Record:
        headers = (("trace", b"\xfe\xff"), ("source", "热线".encode()), ("empty", b""))
        return Record(
            topic=CASE_UPDATES.name,
            value=value,
            key=b"\x00\xffbin",
            offset=offset,
            timestamp=NOW,
            headers=headers,
        )

    h.runner.run_batch([raw(None, 0), raw(b"", 1), raw(b"nul\x00inside", 2)])
    null, empty, nul = sorted(h.letters(), key=lambda m: m.payload.original.offset or 0)
    assert (null.payload.original.value_null, null.payload.original.text) == (True, None)
    assert null.payload.original.base64 is None
    assert (empty.payload.original.value_null, empty.payload.original.text) == (False, "")
    assert nul.payload.original.text is None  # NUL: base64, which every store can hold
    assert base64.b64decode(nul.payload.original.base64 or "") == b"nul\x00inside"
    for letter in (null, empty, nul):
        original = letter.payload.original
        assert original.key is None
        assert base64.b64decode(original.key_base64 or "") == b"\x00\xffbin"
        assert [(x.key, x.text, x.base64) for x in original.headers] == [
            ("trace", None, base64.b64encode(b"\xfe\xff").decode()),
            ("source", "热线", None),
            ("empty", "", None),
        ]
        assert decode(DEADLETTER, encode(letter)) == letter


def test_a_batch_that_keeps_failing_names_its_partition(h: Harness) -> None:
    records = [rec(command("GF-1"), 0, partition=4), rec(command("GF-2"), 1, partition=4)]
    h.runner.sink = BrokenSink()
    labels = {"processor": NAME, "topic": CASE_UPDATES.name, "partition": "4"}
    for attempt in (1, 2):
        with pytest.raises(ConnectionError):
            h.runner.run_batch(records)
        assert h.metric("gridflow_partition_failed_attempts", **labels) == attempt
        assert h.runner.failed == records  # what the worker rewinds
    h.runner.sink = MemorySink(h.broker, h.clock.now)
    h.runner.run_batch(records)
    assert h.metric("gridflow_partition_failed_attempts", **labels) == 0
    assert h.runner.failed == []


def test_an_unpublishable_tick_output_is_left_out_and_counted(h: Harness) -> None:
    good = command("GF-1")
    bad = good.model_copy(update={"case_id": "GF-\ud800"})
    h.processor.due = [Emit(CASE_EVENTS.name, "GF-2", bad), Emit(CASE_EVENTS.name, "GF-1", good)]
    h.runner.run_tick(NOW)
    assert [r.key for r in h.broker.read(CASE_EVENTS.name)] == [b"GF-1"]
    assert h.metric("gridflow_tick_outputs_unpublishable_total", processor=NAME) == 1

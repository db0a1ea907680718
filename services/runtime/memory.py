"""In-memory topics for the embedded runtime: an append-only log per topic, and
consumer groups that remember how far they have read.

Like Kafka, a topic must exist before it is written to; like Kafka, a consumer
group commits its positions explicitly, after the batch is done; and like Kafka,
the broker may refuse a message larger than ``max_message_bytes`` (none by
default). One partition per topic: the embedded runtime runs in one thread, so
order is total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from schemas.topics import Emit, Record
from services.runtime.batch import Outgoing, outgoing


class UnknownTopicError(KeyError):
    pass


class MessageTooLargeError(ValueError):
    """A message over the broker's ``max_message_bytes`` (Kafka: MessageSizeTooLargeError)."""


class MemoryBroker:
    def __init__(self, max_message_bytes: int | None = None) -> None:
        self._logs: dict[str, list[Record]] = {}
        self._committed: dict[tuple[str, str], int] = {}
        self.max_message_bytes = max_message_bytes

    def create_topics(self, names: Iterable[str]) -> None:
        for name in names:
            self._logs.setdefault(name, [])

    def topics(self) -> list[str]:
        return sorted(self._logs)

    def append(self, topic: str, key: bytes | None, value: bytes | None, at: datetime) -> Record:
        log = self._logs.get(topic)
        if log is None:
            raise UnknownTopicError(f"topic {topic!r} does not exist")
        size = message_size(key, value)
        if self.max_message_bytes is not None and size > self.max_message_bytes:
            raise MessageTooLargeError(f"{size} bytes, over {self.max_message_bytes}")
        record = Record(topic=topic, value=value, key=key, offset=len(log), timestamp=at)
        log.append(record)
        return record

    def read(self, topic: str, start: int = 0) -> list[Record]:
        return self._logs.get(topic, [])[start:]

    def committed(self, group: str, topic: str) -> int:
        return self._committed.get((group, topic), 0)

    def commit(self, group: str, topic: str, next_offset: int) -> None:
        self._committed[(group, topic)] = max(next_offset, self.committed(group, topic))

    def lag(self, group: str, topics: Iterable[str]) -> int:
        return sum(len(self._logs.get(t, [])) - self.committed(group, t) for t in topics)


class MemorySource:
    """A consumer group's view of some topics.

    Positions move only on commit, so a batch that is not committed is polled again
    (``rewind`` has nothing to do).
    """

    def __init__(
        self, broker: MemoryBroker, group: str, topics: Sequence[str], max_records: int = 500
    ) -> None:
        self._broker = broker
        self._group = group
        self._topics = tuple(topics)
        self._max = max_records

    def poll(self, timeout_ms: int | None = None) -> list[Record]:
        """What is waiting, at once: the in-memory broker never makes a poll wait."""
        batch: list[Record] = []
        for topic in self._topics:
            start = self._broker.committed(self._group, topic)
            batch.extend(self._broker.read(topic, start)[: self._max - len(batch)])
            if len(batch) >= self._max:
                break
        return batch

    def commit(self, records: Sequence[Record]) -> None:
        for record in records:
            self._broker.commit(self._group, record.topic, record.offset + 1)

    def rewind(self, records: Sequence[Record]) -> None:
        """Uncommitted records are read again on the next poll anyway."""

    def lag(self) -> dict[str, int]:
        return {t: self._broker.lag(self._group, (t,)) for t in self._topics}

    def close(self) -> None:
        """Nothing to release."""


def message_size(key: bytes | None, value: bytes | None) -> int:
    """What a message counts against the memory broker's limit: its key and value."""
    return len(key or b"") + len(value or b"")


class MemorySink:
    """Appends to the memory broker; its limit is the broker's ``max_message_bytes``."""

    def __init__(self, broker: MemoryBroker, clock_now: Callable[[], datetime]) -> None:
        self._broker = broker
        self._now = clock_now

    def limit(self) -> int | None:
        return self._broker.max_message_bytes

    def size(self, message: Outgoing) -> int:
        return message_size(message.key, message.value)

    def send(self, messages: Sequence[Outgoing | Emit]) -> None:
        """Append each message (an Emit, from a tool or test, is serialised first)."""
        for item in messages:
            message = outgoing(item)
            self._broker.append(message.topic, message.key, message.value, self._now())

    def flush(self) -> None:
        """Appends are synchronous: nothing is ever in flight."""

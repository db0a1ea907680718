"""The loop both runtimes run: poll a batch, run it, commit its offsets.

A :class:`Source` is a consumer group's view of its topics: the in-memory
broker's (:mod:`services.runtime.memory`) or Kafka's
(:mod:`services.runtime.kafka`). :class:`Loop` is the one place where a polled
batch goes through the :class:`~services.runtime.batch.BatchRunner` and its
offsets are committed after it (step 6 of the checkpoint); the embedded
pipeline pumps it until every topic is read, the Kafka worker runs it until
stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from schemas.topics import Record
from services.runtime.batch import BatchResult, BatchRunner


class Source(Protocol):
    def poll(self, timeout_ms: int | None = None) -> list[Record]:
        """The next batch, in offset order per partition; [] when nothing is waiting.

        It waits for records at most ``timeout_ms``, or its own poll timeout when that
        is shorter (None: its own): the escalator's runner wakes for its next due time."""
        ...

    def commit(self, records: Sequence[Record]) -> None:
        """Mark ``records`` processed: the group resumes after them."""
        ...

    def rewind(self, records: Sequence[Record]) -> None:
        """Deliver ``records`` again on the next poll (a failed batch is retried)."""
        ...

    def lag(self) -> dict[str, int]:
        """Records not yet processed, per topic."""
        ...

    def close(self) -> None: ...


class Loop:
    """One processor's batches: from ``source`` through ``runner``.

    ``aside`` takes the records a runtime handles itself (the Kafka worker's clock
    ticks) out of the batch before it runs. They are not committed with the batch:
    they wait in :attr:`held` until the runtime has done what they ask (the tick)
    and calls :meth:`commit_held`, so a crash in between reads them again.
    """

    def __init__(
        self,
        runner: BatchRunner,
        source: Source,
        aside: Callable[[Record], bool] | None = None,
    ) -> None:
        self.runner = runner
        self.source = source
        self.aside = aside
        self.held: list[Record] = []
        """Records set aside, in poll order, not committed yet."""

    def step(self, timeout_ms: int | None = None) -> tuple[list[Record], BatchResult]:
        """Poll, run and commit one batch; the records polled and what they gave.

        The poll waits at most ``timeout_ms`` (see :meth:`Source.poll`). Records set
        aside join :attr:`held` before the batch runs, so they are kept even when it
        fails.
        """
        records = self.source.poll() if timeout_ms is None else self.source.poll(timeout_ms)
        work = records
        if self.aside is not None:
            work = [r for r in records if not self.aside(r)]
            self.held += [r for r in records if self.aside(r)]
        result = self.runner.run_batch(work) if work else BatchResult()
        self.source.commit(work)
        return records, result

    def commit_held(self) -> None:
        """Commit the records set aside, once the runtime has handled them."""
        if self.held:
            self.source.commit(self.held)
            self.held = []

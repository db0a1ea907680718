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
    def poll(self) -> list[Record]:
        """The next batch, in offset order per partition; [] when nothing is waiting."""
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
    ticks) out of the batch before it runs; they are committed with it.
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

    def step(self) -> tuple[list[Record], BatchResult]:
        """Poll, run and commit one batch; the records polled and what they gave."""
        records = self.source.poll()
        work = records if self.aside is None else [r for r in records if not self.aside(r)]
        result = self.runner.run_batch(work) if work else BatchResult()
        self.source.commit(records)
        return records, result

"""The escalator's next due time, which the worker's timer sleeps until: at once while
its provisional pass has pages left, then the store's earliest due or warning time, and
a tick before it finds nothing (so waking then is never early, and never needless)."""

from __future__ import annotations

from datetime import timedelta

from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore

from .builders import THU, assigned, inbound


def test_next_due_is_at_once_until_the_first_tick_then_the_earliest_time(
    escalator: Escalator, store: MemoryDeadlineStore
) -> None:
    first = escalator.next_due()
    assert first is not None and first < THU  # the provisional pass: tick at once
    escalator.tick(THU)
    assert escalator.next_due() is None  # nothing armed
    escalator.handle(inbound([assigned("c1", when=THU)]))
    due = escalator.next_due()
    armed = store.rows()
    assert due == min([d.due_at for d in armed] + [d.warn_at for d in armed if d.warn_at])
    assert escalator.tick(due - timedelta(microseconds=1)) == []  # before it: nothing
    assert escalator.tick(due) != []  # at it: the first warning or lapse
    assert escalator.next_due() is not None and escalator.next_due() > due

"""Clocks. The system clock is the only place gridflow reads the machine's time;
everything else takes ``now`` from a clock handed to it, so days-long deadlines
can be tested and simulated in seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz

    def now(self) -> datetime:
        return datetime.now(self._tz)


class SimulatedClock:
    """Time that moves only when told to, and never backwards."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a simulated clock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        return self.set(self._now + delta)

    def set(self, moment: datetime) -> datetime:
        """Move to ``moment`` if it is later; an earlier moment is ignored."""
        if moment > self._now:
            self._now = moment.astimezone(self._now.tzinfo)
        return self._now

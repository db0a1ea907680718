"""What a runtime needs of a processor: its name, its input topics, and two calls.

The logic in ``intake/``, ``router/``, ``escalator/``, ``notifier/`` and
``archive/`` implements this protocol with no transport or database import; the
runtimes call it inside a storage transaction and publish what it returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from schemas.envelope import Model
from schemas.topics import Emit

TICKING = frozenset({"escalator"})
"""Processors whose ``tick`` has work to do; the runtimes tick only these."""


class Processor(Protocol):
    name: str
    """Also the consumer group: gridflow.<name>."""

    topics: tuple[str, ...]
    """Topics read, by name."""

    def handle(self, message: Model, now: datetime) -> list[Emit]:
        """Act on one decoded message. Raise ``schemas.deadletter.Rejected`` to refuse it."""
        ...

    def tick(self, now: datetime) -> list[Emit]:
        """Called as time passes (the escalator's due check); most return []."""
        ...

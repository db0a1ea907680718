"""What a runtime needs of a processor: its name, its input topics, and two calls.

The logic in ``intake/``, ``router/``, ``escalator/``, ``notifier/`` and
``archive/`` implements this protocol with no transport or database import; the
runtimes call it inside a storage transaction and publish what it returns.
Which processors exist, and how each is built, is :mod:`services.processors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from schemas.processing import Inbound, Outcome
from schemas.topics import Emit


class Processor(Protocol):
    name: str
    """Also the consumer group: <namespace>.<name>."""

    topics: tuple[str, ...]
    """Topics read, by catalogue name."""

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        """Act on a batch of decoded messages: one outcome per message, in order."""
        ...

    def tick(self, now: datetime) -> list[Emit]:
        """Called as time passes (the escalator's due check); most return []."""
        ...

"""One message through a processor's batch call, for tests that think one at a time."""

from __future__ import annotations

from datetime import datetime

from schemas.deadletter import Rejected
from schemas.envelope import Model
from schemas.processing import Inbound
from schemas.topics import Emit
from services.runtime.processor import Processor


def handle_one(processor: Processor, message: Model, now: datetime) -> list[Emit]:
    """The outputs of ``message`` alone; a refusal is raised, as the runtime would
    dead-letter it."""
    [outcome] = processor.handle([Inbound(message, now)])
    if isinstance(outcome, Rejected):
        raise outcome
    return outcome

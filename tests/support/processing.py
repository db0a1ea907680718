"""One message through a processor's batch call, for tests that think one at a time."""

from __future__ import annotations

import json
from datetime import datetime

from schemas.access import channel_topic
from schemas.catalogue import Site
from schemas.deadletter import Rejected
from schemas.envelope import Model
from schemas.processing import Inbound
from schemas.reports import Channel, RawReport
from schemas.topics import Emit
from services.runtime.processor import Processor


def handle_one(processor: Processor, message: Model, now: datetime, topic: str = "") -> list[Emit]:
    """The outputs of ``message`` alone; a refusal is raised, as the runtime would
    dead-letter it. A raw report comes on its own channel's topic unless ``topic`` is given."""
    if not topic and isinstance(message, RawReport) and hasattr(processor, "site"):
        topic = channel_topic(processor.site, message.channel).name  # type: ignore[attr-defined]
    [outcome] = processor.handle([Inbound(message, now, topic)])
    if isinstance(outcome, Rejected):
        raise outcome
    return outcome


def report_topic_of(site: Site, value: bytes | None) -> str:
    """The topic a channel writes ``value`` on: that of the channel it names, or, for a
    value that names none of the site's channels, the first channel's (as a channel that
    got its own report wrong would)."""
    try:
        named = Channel(json.loads(value or b"").get("channel"))
    except (ValueError, AttributeError, TypeError):
        named = None
    if named is None or site.channel_sender(named) is None:
        named = next(s.channel for s in site.senders if s.channel is not None)
    return channel_topic(site, named).name

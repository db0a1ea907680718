"""Provisioning: the catalogue's topics, one assignment topic per unit of the site, and
each sender's command topic (and, for senders that are not units, reply topic)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from schemas.access import sender_topics
from schemas.catalogue import Site
from schemas.topics import CATALOGUE, TOPIC_CONFIG, Topic, assignment_topic
from services.runtime.names import Names

log = logging.getLogger(__name__)


def site_topics(site: Site) -> list[Topic]:
    """Every topic a deployment of ``site`` needs."""
    return [*CATALOGUE, *(assignment_topic(u.id) for u in site.units), *sender_topics(site)]


def create_topics(
    bootstrap: str,
    topics: list[Topic],
    replication: int = 1,
    names: Names | None = None,
    security: Mapping[str, Any] | None = None,
) -> tuple[int, int]:
    """Create what is missing on the broker; returns (created, already there).

    Every topic is created with :data:`~schemas.topics.TOPIC_CONFIG`: the broker
    stamps each record with its append time, the time the logic acts at.
    """
    names = names or Names()
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","), client_id="gridflow-admin", **dict(security or {})
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if names.topic(t.name) not in existing]
        if missing:
            admin.create_topics(
                [
                    NewTopic(
                        name=names.topic(t.name),
                        num_partitions=t.partitions,
                        replication_factor=replication,
                        topic_configs=dict(TOPIC_CONFIG),
                    )
                    for t in missing
                ],
                timeout_ms=30_000,
            )
        _wait_for_leaders(admin, [names.topic(t.name) for t in topics])
        log.info(
            "topics provisioned",
            extra={"topics_created": len(missing), "topics_total": len(topics)},
        )
        return len(missing), len(topics) - len(missing)
    finally:
        admin.close()


def _wait_for_leaders(admin: Any, names: list[str], timeout: float = 120) -> None:
    """Return once every partition of ``names`` has a leader: usable, not just created."""
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        described = admin.describe_topics(pending)
        pending = [
            t["name"]
            for t in described
            if t["error_code"] != 0
            or not t["partitions"]
            or any(p["error_code"] != 0 or p["leader_id"] < 0 for p in t["partitions"])
        ]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"no leader after {timeout:.0f}s for topics {pending[:5]}")
        if pending:
            time.sleep(0.5)

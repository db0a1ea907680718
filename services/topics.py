"""Provisioning: the catalogue's topics plus one assignment topic per unit of the site."""

from __future__ import annotations

import logging

from schemas.catalogue import Site
from schemas.topics import CATALOGUE, Topic, assignment_topic

log = logging.getLogger(__name__)


def site_topics(site: Site) -> list[Topic]:
    """Every topic a deployment of ``site`` needs."""
    return [*CATALOGUE, *(assignment_topic(u.id) for u in site.units)]


def create_topics(bootstrap: str, topics: list[Topic], replication: int = 1) -> tuple[int, int]:
    """Create what is missing on the broker; returns (created, already there)."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="gridflow-admin")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            admin.create_topics(
                [
                    NewTopic(
                        name=t.name,
                        num_partitions=t.partitions,
                        replication_factor=replication,
                        topic_configs=dict(t.config),
                    )
                    for t in missing
                ],
                timeout_ms=30_000,
            )
        log.info(
            "topics provisioned",
            extra={"topics_created": len(missing), "topics_total": len(topics)},
        )
        return len(missing), len(topics) - len(missing)
    finally:
        admin.close()

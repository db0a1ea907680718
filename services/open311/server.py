"""``gridflow serve open311``: the gateway built from the settings, served by uvicorn.

The jurisdictions are ``GRIDFLOW_OPEN311_JURISDICTIONS`` (by default the configured
site, namespace and database); the keys ``GRIDFLOW_OPEN311_API_KEYS``. The producer
waits for every replica (``acks=all``, idempotent) and a POST is answered once its
record is acknowledged, or 503 after ``GRIDFLOW_OPEN311_ACK_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from kafka import KafkaProducer
from kafka.errors import KafkaError

from schemas.catalogue import load_site
from services.open311.app import create_app
from services.open311.gateway import Gateway, Jurisdiction, Unavailable
from services.runtime.kafka import RECONNECT_BACKOFF_MAX_MS
from services.runtime.names import Names
from services.runtime.security import client_security
from services.settings import Settings
from storage.db import make_engine


class KafkaPublisher:
    """One idempotent producer for every request; ``publish`` blocks until the ack."""

    def __init__(self, bootstrap: str, timeout: float, security: dict[str, Any]) -> None:
        self.timeout = timeout
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            client_id="gridflow-open311",
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            **security,
        )

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        try:
            self.producer.send(topic, key=key, value=value).get(timeout=self.timeout)
        except KafkaError as exc:
            raise Unavailable(type(exc).__name__) from exc

    def close(self) -> None:
        self.producer.close(timeout=5)


def jurisdictions(settings: Settings) -> dict[str, Jurisdiction]:
    """Each configured site with its namespace and archive; the default one without."""
    configured = settings.open311_jurisdictions or [
        {
            "site": settings.site,
            "namespace": settings.namespace,
            "database_url": settings.database_url,
        }
    ]
    out: dict[str, Jurisdiction] = {}
    for entry in configured:
        site = load_site(entry.get("site"))
        if site.id in out:
            raise ValueError(f"jurisdiction {site.id} is configured twice")
        engine = make_engine(str(entry.get("database_url") or settings.database_url))
        names = Names(str(entry.get("namespace") or settings.namespace))
        out[site.id] = Jurisdiction(site=site, names=names, archive=engine)
    return out


def build(
    settings: Settings, publisher: Any | None = None
) -> tuple[FastAPI, KafkaPublisher | None]:
    """The app, and the producer it owns (None when ``publisher`` was given)."""
    own = None
    if publisher is None:
        own = publisher = KafkaPublisher(
            settings.kafka_bootstrap,
            settings.open311_ack_timeout_seconds,
            client_security(),
        )
    gateway = Gateway(
        jurisdictions=jurisdictions(settings),
        keys=dict(settings.open311_api_keys),
        publisher=publisher,
        clock=lambda: datetime.now(UTC),
        max_bytes=settings.intake_max_bytes,
        started_at=datetime.now(UTC).replace(microsecond=0),
        base_url=f"http://{settings.open311_host}:{settings.open311_port}/",
    )
    return create_app(gateway), own


def serve(settings: Settings) -> None:
    import uvicorn

    app, publisher = build(settings)
    try:
        uvicorn.run(app, host=settings.open311_host, port=settings.open311_port, log_config=None)
    finally:
        if publisher is not None:
            publisher.close()

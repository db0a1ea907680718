"""The Open311 gateway served by uvicorn on an ephemeral port, producing to real Kafka
(a namespace of its own) and reading a real PostgreSQL archive (a schema of its own)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import uvicorn
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from sqlalchemy import Engine

from schemas.catalogue import Site
from schemas.topics import report_topic
from services.open311.app import create_app
from services.open311.gateway import Gateway, Jurisdiction
from services.open311.server import KafkaPublisher
from services.runtime.names import Names
from services.topics import create_topics
from storage.db import metadata
from tests.support.postgres import fresh_schema

KEY = "it-open311-key"
SENDER = "channel.open311"


@dataclass
class Served:
    base: str
    names: Names
    archive: Engine
    bootstrap: str
    site: Site

    def topic(self) -> str:
        return self.names.topic(report_topic(SENDER).name)

    def consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            self.topic(),
            bootstrap_servers=self.bootstrap.split(","),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=10_000,
        )


@contextmanager
def serve_gateway(site: Site, bootstrap: str, postgres_url: str) -> Iterator[Served]:
    names = Names(f"it-o311-{uuid.uuid4().hex[:8]}")
    create_topics(bootstrap, [report_topic(SENDER)], names=names)
    publisher = KafkaPublisher(bootstrap, timeout=20, security={})
    with fresh_schema(postgres_url, prefix="o311") as engine:
        metadata.create_all(engine)
        gateway = Gateway(
            jurisdictions={site.id: Jurisdiction(site, names, engine)},
            keys={KEY: SENDER},
            publisher=publisher,
            clock=lambda: datetime.now(UTC),
            max_bytes=8192,
            started_at=datetime.now(UTC).replace(microsecond=0),
        )
        config = uvicorn.Config(create_app(gateway), host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield Served(f"http://127.0.0.1:{port}", names, engine, bootstrap, site)
        finally:
            server.should_exit = True
            thread.join(10)
            publisher.close()
            admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
            try:
                admin.delete_topics([names.topic(report_topic(SENDER).name)])
            finally:
                admin.close()

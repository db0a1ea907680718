"""Fixtures shared by every test: the bundled site, SQL engines, real servers.

Real servers are found by tests/infra.py: addresses from the environment first,
then testcontainers where a Docker engine answers, then the deploy/ scripts. With
CI=true a test that needs Kafka or PostgreSQL fails when they are missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from schemas.catalogue import Site, load_site
from services.storage.db import make_engine, metadata


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site()


@pytest.fixture
def sqlite_engine() -> Iterator[Engine]:
    engine = make_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    from tests.infra import need_postgres

    return need_postgres()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    from tests.infra import need_kafka

    return need_kafka()


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL schema with every table created; dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

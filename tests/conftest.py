"""Fixtures shared by every test: the bundled site, SQL engines, real servers.

Real servers are found by tests/infra.py: addresses from the environment first,
then testcontainers where a Docker engine answers, then the deploy/ scripts. With
CI=true a test that needs Kafka or PostgreSQL fails when they are missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from schemas.catalogue import Site, load_site
from services.storage.db import make_engine, metadata
from tests.support.postgres import fresh_schema


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
    with fresh_schema(postgres_url) as engine:
        metadata.create_all(engine)
        yield engine

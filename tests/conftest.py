"""Fixtures shared by every test: the bundled site, SQL engines, real servers.

Real servers are found by tests/infra.py: addresses from the environment first,
then testcontainers where a Docker engine answers, then the deploy/ scripts. With
CI=true a test that needs Kafka or PostgreSQL fails when they are missing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from schemas.catalogue import Site, load_site
from storage.db import make_engine, metadata
from tests.infra import SaslKafka
from tests.support.postgres import fresh_schema


def pytest_unconfigure(config: pytest.Config) -> None:
    """Client threads a test left running (a Kafka consumer's metadata refresh) may log
    after pytest has closed its streams. logging would print each failed write with a
    traceback, after pytest's summary, burying which tests failed: drop them instead."""
    logging.raiseExceptions = False


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


@pytest.fixture(scope="session")
def kafka_sasl() -> SaslKafka:
    """The SASL/SCRAM broker with ACLs (``deploy/kafka/start.sh --sasl``) and its admin."""
    from tests.infra import need_kafka_sasl

    return need_kafka_sasl()


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL schema with every table created; dropped after."""
    with fresh_schema(postgres_url) as engine:
        metadata.create_all(engine)
        yield engine


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh database for this run; dropped afterwards."""
    name = f"gridflow_e2e_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()

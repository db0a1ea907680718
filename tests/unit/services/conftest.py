"""Fixtures of the runtime tests."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.unit.services.batch_support import Harness


@pytest.fixture
def h(sqlite_engine: Engine) -> Harness:
    """A BatchRunner with the fake processor, on a fresh in-memory SQLite."""
    return Harness(sqlite_engine)

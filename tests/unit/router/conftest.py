"""Fixtures for the router's unit tests: the tiny site, an in-memory store, a router."""

from __future__ import annotations

import pytest

from router.core import Router
from router.memory import MemoryCaseStore
from schemas.catalogue import Site
from tests.support.sites import tiny_site


@pytest.fixture(scope="session")
def tiny() -> Site:
    return tiny_site()


@pytest.fixture
def store() -> MemoryCaseStore:
    return MemoryCaseStore()


@pytest.fixture
def router(tiny: Site, store: MemoryCaseStore) -> Router:
    return Router(tiny, store)

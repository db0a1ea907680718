"""Fixtures: the tiny site, an in-memory store, an escalator over both."""

from __future__ import annotations

import pytest

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.memory import MemoryDeadlineStore
from schemas.catalogue import Site
from tests.support.sites import tiny_site

from .builders import LIMITS


@pytest.fixture
def site() -> Site:
    return tiny_site(tiers=LIMITS)


@pytest.fixture
def store() -> MemoryDeadlineStore:
    return MemoryDeadlineStore()


@pytest.fixture
def escalator(site: Site, store: MemoryDeadlineStore) -> Escalator:
    return Escalator(site, WorkingCalendar(), store)

"""Fixtures for intake's tests: the tiny site (tests.support.sites) and the time it runs at."""

from __future__ import annotations

from datetime import datetime

import pytest

from schemas.catalogue import Site
from tests.support.sites import SHANGHAI, tiny_site

NOW = datetime(2024, 6, 3, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="session")
def small_site() -> Site:
    return tiny_site()

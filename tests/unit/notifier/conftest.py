"""Fixtures of the notifier's unit tests."""

from __future__ import annotations

import pytest

from schemas.catalogue import Site
from tests.support.sites import tiny_site


@pytest.fixture(scope="session")
def small_site() -> Site:
    return tiny_site(unit_webhooks={"s.urban": "http://units.test/${URBAN_TOKEN}"})

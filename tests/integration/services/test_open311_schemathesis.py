"""schemathesis against the gateway's published OpenAPI document, over real HTTP with
real Kafka and PostgreSQL behind it: no generated request gets a server error."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalogue import Site
from tests.integration.services.open311_server import KEY, Served, serve_gateway

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
EXAMPLES = int(os.environ.get("GRIDFLOW_SCHEMATHESIS_EXAMPLES", "40"))


@pytest.fixture(scope="module")
def served(site: Site, kafka_bootstrap: str, postgres_url: str) -> Iterator[Served]:
    with serve_gateway(site, kafka_bootstrap, postgres_url) as s:
        yield s


def test_no_generated_request_is_a_server_error(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    posted: list[int] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), keyed=st.booleans())
        def no_server_error(case: schemathesis.Case, keyed: bool) -> None:
            if keyed and isinstance(case.body, dict):  # half the POSTs get past the key
                case.body["api_key"] = KEY
            response = case.call(base_url=served.base, timeout=30)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            if case.method.upper() == "POST":
                posted.append(response.status_code)

        no_server_error()
    assert any(code != 403 for code in posted), "no POST got past the api_key"

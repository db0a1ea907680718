"""schemathesis against the query API's published OpenAPI document, over real HTTP on
the seeded PostgreSQL archive of test_api_cases.py: no generated request, with or
without a valid token, gets a server error."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.integration.services.test_api_cases import base_url, seeded  # noqa: F401 (fixtures)

pytestmark = pytest.mark.postgres
EXAMPLES = int(os.environ.get("GRIDFLOW_SCHEMATHESIS_EXAMPLES", "30"))
MINE = ("/cases", "/units", "/queue", "/kpi")  # this module's areas (others test theirs)


@pytest.mark.parametrize("token", ["ops", "urban", "not-a-token"])
def test_no_generated_request_is_a_server_error(base_url: str, token: str) -> None:  # noqa: F811
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [o for o in operations if o.path.startswith(MINE)]
    assert len(operations) == 5
    headers = {"Authorization": f"Bearer {token}"}
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        no_server_error()

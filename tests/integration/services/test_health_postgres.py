"""/readyz follows PostgreSQL: a router on a private cluster answers 200, then 503 with
the reason while the cluster is stopped (its /healthz still 200: it lives), and 200
again once the cluster is back, without a restart of the router.

The cluster is the test's own (deploy/postgres/start.sh on another port and run dir,
as tests/e2e/test_recovery.py does): the shared server is never stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.catalogue import Site
from services.runtime.names import Names
from services.topics import create_topics, site_topics
from tests.e2e.test_recovery import PrivatePostgres, private_postgres
from tests.integration.services.test_metrics_processes import get, scrape, total
from tests.support.processes import free_ports, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
__all__ = ["private_postgres"]  # the fixture, used below


@pytest.fixture
def router(
    tmp_path: Path, kafka_bootstrap: str, private_postgres: PrivatePostgres, site: Site
) -> Iterator[int]:
    namespace = f"ready{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, site_topics(site), names=Names(namespace))
    [port] = free_ports(1)
    env = {
        **os.environ,
        "GRIDFLOW_NAMESPACE": namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": private_postgres.url,
        "GRIDFLOW_METRICS_PORT": str(port),
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
    }
    log = (tmp_path / "router.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services", "run", "router"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield port
        assert proc.poll() is None, (tmp_path / "router.log").read_text()[-3000:]
    finally:
        proc.terminate()
        code = proc.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "router.log").read_text()[-3000:]


def test_readyz_is_503_while_postgres_is_stopped_and_200_once_it_is_back(
    router: int, private_postgres: PrivatePostgres
) -> None:
    wait_for("the router ready", lambda: get(router, "/readyz")[0] == 200, timeout=90)

    private_postgres.stop()
    stopped = time.monotonic()
    wait_for("/readyz 503", lambda: get(router, "/readyz")[0] == 503, timeout=30)
    print(f"/readyz turned 503 {time.monotonic() - stopped:.1f} s after the stop")
    status, body = get(router, "/readyz")
    assert status == 503
    assert body.startswith("database: does not answer (OperationalError)"), body
    assert "gridflow:gridflow" not in body  # never the URL or its password
    assert get(router, "/healthz") == (200, "ok\n")
    wait_for(  # the worker's own probe (every 5 s) sets the gauge Prometheus scrapes
        "gridflow_ready 0",
        lambda: total(scrape(router), "gridflow_ready", processor="router") == 0,
        timeout=30,
    )

    private_postgres.start()
    started = time.monotonic()
    wait_for("/readyz 200 again", lambda: get(router, "/readyz")[0] == 200, timeout=60)
    print(f"/readyz turned 200 {time.monotonic() - started:.1f} s after the start")
    assert get(router, "/readyz") == (200, "ready\n")

"""The processor's HTTP side over real HTTP on 127.0.0.1: /healthz while alive, /readyz
with its reasons, /metrics in the exposition format, loopback by default."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from services.metrics import Metrics
from services.runtime.health import HealthServer, Readiness
from services.settings import Settings


class DatabaseAway(Exception):
    pass


class Db:
    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if not self.up:
            raise DatabaseAway("connection refused (postgresql://gridflow:secret@db)")


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Readiness, Db]]:
    db = Db()
    readiness = Readiness("router", max_lag=100, kafka_stale_s=15, database=db)
    server = HealthServer("127.0.0.1", 0, Metrics().registry, readiness).start()
    yield server, readiness, db
    server.close()


def get(server: HealthServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_healthz_answers_while_alive_and_readyz_says_why_not(
    served: tuple[HealthServer, Readiness, Db],
) -> None:
    server, readiness, db = served
    assert get(server, "/healthz") == (200, "ok\n")
    status, body = get(server, "/readyz")
    assert status == 503
    assert "kafka: the broker has not answered yet" in body

    readiness.kafka_answered({"gridflow.cases.received": 3})
    assert get(server, "/readyz") == (200, "ready\n")

    db.up = False
    readiness._db_checked = -1e9  # the probe's one-second cache, spent
    status, body = get(server, "/readyz")
    assert status == 503
    assert body == "database: does not answer (DatabaseAway)\n"
    assert "secret" not in body  # the reason, never the driver's message (it may hold the URL)
    assert get(server, "/healthz")[0] == 200  # alive all the same

    db.up = True
    readiness._db_checked = -1e9
    readiness.kafka_answered({"gridflow.cases.received": 101})
    status, body = get(server, "/readyz")
    assert (status, body) == (
        503,
        "lag: 101 records behind, over GRIDFLOW_READY_MAX_LAG=100\n",
    )
    readiness.kafka_answered({})
    readiness.failures = 3
    assert get(server, "/readyz") == (503, "batches: the last 3 attempt(s) failed; retrying\n")


def test_a_stale_broker_answer_is_not_ready(served: tuple[HealthServer, Readiness, Db]) -> None:
    server, readiness, _ = served
    readiness.kafka_answered({})
    assert readiness.kafka_ok_at is not None
    readiness.kafka_ok_at -= 60
    readiness.kafka_failed(TimeoutError())
    status, body = get(server, "/readyz")
    assert status == 503
    assert body.startswith("kafka: no answer from the broker for 60 s (TimeoutError)")


def test_the_database_probe_is_cached(served: tuple[HealthServer, Readiness, Db]) -> None:
    server, readiness, db = served
    readiness.kafka_answered({})
    for _ in range(5):
        assert get(server, "/readyz")[0] == 200
    assert db.calls == 1


def test_metrics_and_unknown_paths(served: tuple[HealthServer, Readiness, Db]) -> None:
    server, _, _ = served
    status, body = get(server, "/metrics")
    assert status == 200
    assert "# TYPE gridflow_records_consumed_total counter" in body
    assert "process_cpu_seconds_total" in body
    assert get(server, "/")[0] == 404


def test_listens_on_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDFLOW_METRICS_HOST", raising=False)
    assert Settings().metrics_host == "127.0.0.1"
    monkeypatch.setenv("GRIDFLOW_METRICS_HOST", "0.0.0.0")
    assert Settings().metrics_host == "0.0.0.0"

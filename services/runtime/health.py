"""A processor's HTTP side: ``/metrics``, ``/healthz`` and ``/readyz``.

- ``/healthz`` answers 200 while the process lives: the server thread runs in it.
- ``/readyz`` answers 200 only when the processor can serve: Kafka answered its
  last probe (the worker's lag measurement, a round trip to the broker) not long
  ago, the database answers ``SELECT 1`` (processors with state), the batches are
  not failing, and the lag is under ``GRIDFLOW_READY_MAX_LAG``. Otherwise 503, with
  one line per reason in the body, for whoever reads it (an operator, a probe log).
- ``/metrics`` is the Prometheus exposition of the process's registry.

The server is a small ``http.server`` on a thread of its own (one per request), so
a slow database probe never holds ``/healthz`` or a scrape. It listens on
``GRIDFLOW_METRICS_HOST`` (default 127.0.0.1), never on every interface unless told.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)
DB_PROBE_CACHE_S = 1.0
"""A database answer is reused this long: probes every second cost one query."""


@dataclass
class Readiness:
    """What the worker last saw, and the database probe; read by ``/readyz``.

    The worker thread writes ``kafka_ok_at``, ``kafka_error``, ``lag`` and
    ``failures``; the HTTP threads only read them (single assignments, no lock needed).
    """

    processor: str
    max_lag: int
    kafka_stale_s: float
    database: Callable[[], None] | None = None
    """Raises when the database does not answer; None for a processor without one."""
    kafka_ok_at: float | None = None  # monotonic
    kafka_error: str | None = None
    lag: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    _db_checked: float = -1e9
    _db_error: str | None = None
    _db_lock: threading.Lock = field(default_factory=threading.Lock)

    def kafka_answered(self, lag: dict[str, int]) -> None:
        self.lag = lag
        self.kafka_ok_at = time.monotonic()
        self.kafka_error = None

    def kafka_failed(self, error: BaseException) -> None:
        self.kafka_error = type(error).__name__

    def reasons(self) -> list[str]:
        """Why the processor is not ready; empty when it is."""
        out: list[str] = []
        now = time.monotonic()
        if self.kafka_ok_at is None:
            why = f" ({self.kafka_error})" if self.kafka_error else ""
            out.append(f"kafka: the broker has not answered yet{why}")
        elif now - self.kafka_ok_at > self.kafka_stale_s:
            why = f" ({self.kafka_error})" if self.kafka_error else ""
            out.append(f"kafka: no answer from the broker for {now - self.kafka_ok_at:.0f} s{why}")
        db = self._database()
        if db is not None:
            out.append(f"database: {db}")
        if self.failures:
            out.append(f"batches: the last {self.failures} attempt(s) failed; retrying")
        behind = sum(self.lag.values())
        if behind > self.max_lag:
            out.append(f"lag: {behind} records behind, over GRIDFLOW_READY_MAX_LAG={self.max_lag}")
        return out

    def _database(self) -> str | None:
        if self.database is None:
            return None
        with self._db_lock:
            if time.monotonic() - self._db_checked >= DB_PROBE_CACHE_S:
                try:
                    self.database()
                    self._db_error = None
                except Exception as exc:  # the reason, not the message: it may hold the URL
                    self._db_error = f"does not answer ({type(exc).__name__})"
                self._db_checked = time.monotonic()
            return self._db_error


class HealthServer:
    """Serves the three paths on ``host:port`` from a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Readiness | None = None,
        on_ready: Callable[[bool], None] | None = None,
    ) -> None:
        self.registry = registry
        self.readiness = readiness
        self.on_ready = on_ready
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a probe a second would flood the log

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(request.headers.get("Accept"))
            self._send(request, 200, encoder(self.registry), content_type)
        elif path == "/healthz":
            self._send(request, 200, b"ok\n")
        elif path == "/readyz":
            reasons = self.readiness.reasons() if self.readiness is not None else []
            if self.on_ready is not None:
                self.on_ready(not reasons)
            if reasons:
                self._send(request, 503, ("\n".join(reasons) + "\n").encode())
            else:
                self._send(request, 200, b"ready\n")
        else:
            self._send(request, 404, b"not found: try /metrics, /healthz or /readyz\n")

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

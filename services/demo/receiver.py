"""A webhook receiver on 127.0.0.1 standing in for the departments' and the
operations room's systems in the demo: a real HTTP server, so the notifier's
real delivery path runs. It counts what arrives and de-duplicates by
Idempotency-Key, as a receiver of at-least-once deliveries should.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.by_path: Counter[str] = Counter()
        self.by_case: Counter[str] = Counter()
        self.keys: set[str] = set()
        self.duplicates = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                key = self.headers.get("Idempotency-Key") or ""
                try:
                    case_id = str(json.loads(body).get("case_id"))
                except (ValueError, AttributeError):
                    case_id = "?"
                with receiver._lock:
                    if key in receiver.keys:
                        receiver.duplicates += 1
                    else:
                        receiver.keys.add(key)
                        receiver.by_path[self.path] += 1
                        receiver.by_case[case_id] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                """Quiet: the demo prints a summary instead."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

"""Real receivers on 127.0.0.1 ephemeral ports for the notifier's tests and bench: a
webhook receiver that checks signatures and can fail or hang on purpose, a fake SMS
gateway over real HTTP, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notifier.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass
class Hit:
    path: str
    key: str
    attempt: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float


@dataclass
class Receiver:
    """What a receiver was sent, and how it answers.

    ``fail_until``: answer 503 until this monotonic time; ``fail_first``: answer 503 to
    the first n requests; ``hang_paths``: hold requests to these paths ``hang_s``
    seconds; ``status``: the answer otherwise; ``delay_s``: before every answer.
    With ``secret``, a request whose signature does not verify gets 401.
    """

    url: str = ""
    secret: str | None = None
    fail_until: float = 0.0
    fail_first: int = 0
    hang_paths: frozenset[str] = frozenset()
    hang_s: float = 0.0
    status: int = 204
    delay_s: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> Counter[str]:
        """Accepted deliveries per Idempotency-Key."""
        with self.lock:
            return Counter(h.key for h in self.hits if 200 <= h.status < 300)

    def seen(self) -> Counter[str]:
        """Every request per key, answered or not."""
        with self.lock:
            return Counter(h.key for h in self.hits)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        if path in self.hang_paths:
            time.sleep(self.hang_s)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.secret is not None:
            ok = verify(
                self.secret,
                body,
                headers.get(TIMESTAMP_HEADER),
                headers.get(SIGNATURE_HEADER),
                now=time.time(),
            )
            if not ok:
                return 401
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503
        if time.monotonic() < self.fail_until:
            return 503
        return self.status


@contextmanager
def serve(receiver: Receiver) -> Iterator[Receiver]:
    """Run ``receiver`` on 127.0.0.1, an ephemeral port, until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = dict(self.headers.items())
            hit = Hit(
                self.path,
                headers.get("Idempotency-Key", ""),
                headers.get("X-Gridflow-Attempt", ""),
                headers,
                body,
                0,
                time.monotonic(),
            )
            with receiver.lock:
                receiver.hits.append(hit)
            hit.status = receiver.answer(self.path, headers, body)
            try:
                self.send_response(hit.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the sender gave up on us (a timeout, or it was killed)
                hit.status = 0

        def log_message(self, *_args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sms_bodies(receiver: Receiver) -> list[dict[str, Any]]:
    with receiver.lock:
        return [json.loads(h.body) for h in receiver.hits if 200 <= h.status < 300]


@dataclass
class Mailbox:
    """Messages an SMTP server (aiosmtpd) received, parsed."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd Controller) on a free port."""
    from aiosmtpd.controller import Controller

    from tests.support.processes import free_ports

    box = Mailbox()

    class Handler:
        async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: object, session: object, envelope: Any
        ) -> str:
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            box.messages.append(parsed)  # type: ignore[arg-type]
            box.recipients.append(list(envelope.rcpt_tos))
            return "250 OK"

    [box.port] = free_ports(1)
    controller = Controller(Handler(), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()

"""Real HTTP: the notifier delivers through WebhookSender to a server on 127.0.0.1.

The receiver is http.server in a thread on an ephemeral port; it records what it
gets and answers from a script, so retries, refusals and timeouts are real.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from notifier.core import Notifier
from notifier.subscriptions import Subscriber, Subscriptions
from notifier.webhook import WebhookSender, verify
from schemas.catalogue import Site
from schemas.notifications import DeliveryStatus, NotificationPayload, NotificationRecorded
from tests.support.processing import handle_one
from tests.support.sites import tiny_site
from tests.unit.notifier.factories import ADDRESS, NAME, NOW, PHONE, assigned


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Answers in order; 200 once the list is used up."""
    delay: float = 0.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            time.sleep(state.delay)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def small_site() -> Site:
    return tiny_site()


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(
    site: Site, url: str, secret: str | None = None, sender: WebhookSender | None = None
) -> tuple[NotificationPayload, list[float]]:
    """Deliver one assignment to ``url``; the record and the waits between attempts."""
    sub = Subscriber("ops", url, frozenset({"case.assigned"}), secret=secret)
    sleeps: list[float] = []
    with sender or WebhookSender() as s:
        notifier = Notifier(Subscriptions((sub,)), site, s, sleep=sleeps.append)
        [emit] = handle_one(notifier, assigned(), NOW)
    assert isinstance(emit.message, NotificationRecorded)
    return emit.message.payload, sleeps


def test_delivery_headers_body_and_signature(receiver: Receiver, small_site: Site) -> None:
    record, _ = run(small_site, receiver.url + "/hooks/gridflow", secret="s3cret")
    assert (record.status, record.attempts, record.http_status) == ("delivered", 1, 200)
    [got] = receiver.received
    assert got.path == "/hooks/gridflow"
    assert got.headers["Content-Type"].startswith("application/json")
    assert got.headers["Idempotency-Key"] == record.notification_id
    assert got.headers["X-Gridflow-Event"] == "case.assigned"
    assert verify("s3cret", got.body, got.headers["X-Gridflow-Signature"])
    assert not verify("wrong", got.body, got.headers["X-Gridflow-Signature"])
    body = json.loads(got.body)
    assert body["notification_id"] == record.notification_id
    assert body["unit"]["id"] == "s.urban" and body["grid"]["id"] == "s-a-g1"
    text = got.body.decode("utf-8")
    assert NAME not in text and PHONE not in text and ADDRESS not in text


def test_unsigned_without_a_secret(receiver: Receiver, small_site: Site) -> None:
    run(small_site, receiver.url)
    [got] = receiver.received
    assert "X-Gridflow-Signature" not in got.headers


def test_500_then_200_is_retried_with_the_same_idempotency_key(
    receiver: Receiver, small_site: Site
) -> None:
    receiver.statuses = [500]
    record, sleeps = run(small_site, receiver.url)
    assert (record.status, record.attempts, record.http_status) == ("delivered", 2, 200)
    assert sleeps == [0.2]
    first, second = receiver.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body == second.body


def test_404_is_recorded_as_failed_without_retry(receiver: Receiver, small_site: Site) -> None:
    receiver.statuses = [404]
    record, sleeps = run(small_site, receiver.url)
    assert (record.status, record.attempts, record.http_status) == ("failed", 1, 404)
    assert record.error == "HTTP 404 Not Found"
    assert len(receiver.received) == 1 and sleeps == []


def test_refused_connection_is_recorded_as_failed(small_site: Site) -> None:
    record, sleeps = run(small_site, f"http://127.0.0.1:{closed_port()}/hook")
    assert record.status is DeliveryStatus.FAILED
    assert (record.attempts, record.http_status) == (3, None)
    assert record.error is not None and record.error.startswith("ConnectError")
    assert sleeps == [0.2, 1.0]


def test_slow_receiver_times_out_and_is_recorded(receiver: Receiver, small_site: Site) -> None:
    receiver.delay = 0.3
    fast = WebhookSender(httpx.Client(timeout=httpx.Timeout(0.05)))
    record, _ = run(small_site, receiver.url, sender=fast)
    assert (record.status, record.attempts, record.http_status) == ("failed", 3, None)
    assert record.error is not None and record.error.startswith("ReadTimeout")

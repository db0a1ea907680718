"""The webhook adapter against httpx's mock transport: headers, body, signature, errors."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from notifier.ports import Notification
from notifier.webhook import WebhookSender, encode_body, sign, verify


def notification(secret: str | None = None, url: str = "http://hook.test/in") -> Notification:
    return Notification(
        notification_id="n-1",
        subscriber="ops",
        url=url,
        template="escalation",
        event_id="e-1",
        event_type="case.escalated",
        case_id="GF-1",
        body={"case_id": "GF-1", "grid": {"name": "兴庄路社区第1网格"}},
        secret=secret,
    )


def capture(status: int = 200) -> tuple[WebhookSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return WebhookSender(httpx.Client(transport=httpx.MockTransport(answer))), seen


def test_sign_is_hmac_sha256_hex_of_the_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign("k", body) == f"sha256={expected}"
    assert verify("k", body, f"sha256={expected}")
    assert not verify("other", body, f"sha256={expected}")
    assert not verify("k", body + b" ", f"sha256={expected}")
    assert not verify("k", body, None)


def test_post_carries_json_and_the_headers() -> None:
    sender, seen = capture(202)
    assert sender.send(notification()) == (202, None)
    [request] = seen
    assert request.method == "POST" and str(request.url) == "http://hook.test/in"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["idempotency-key"] == "n-1"
    assert request.headers["x-gridflow-event"] == "case.escalated"
    assert "x-gridflow-signature" not in request.headers
    assert json.loads(request.content) == notification().body
    assert request.content == encode_body(notification().body)
    assert "兴庄路".encode() in request.content  # UTF-8, not \\u escapes


def test_signed_when_a_secret_is_configured() -> None:
    sender, seen = capture()
    sender.send(notification(secret="s3cret"))
    [request] = seen
    header = request.headers["x-gridflow-signature"]
    assert verify("s3cret", request.content, header)
    assert "s3cret" not in header


def test_non_2xx_is_returned_with_an_error() -> None:
    sender, _ = capture(503)
    assert sender.send(notification()) == (503, "HTTP 503 Service Unavailable")


def test_transport_errors_become_an_error_without_status() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    sender = WebhookSender(httpx.Client(transport=httpx.MockTransport(refuse)))
    assert sender.send(notification()) == (None, "ConnectError: [Errno 111] Connection refused")


def test_a_bad_url_is_an_error_not_an_exception() -> None:
    with WebhookSender() as sender:
        status, error = sender.send(notification(url="mailto:ops@example.org"))
    assert status is None and error is not None and error.startswith("UnsupportedProtocol")

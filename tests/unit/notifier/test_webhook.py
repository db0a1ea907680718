"""The webhook transport against httpx's mock transport: headers, body, signature, errors."""

from __future__ import annotations

import httpx

from notifier.ports import OutboxEntry
from notifier.signing import verify
from notifier.webhook import WebhookTransport, retryable
from schemas.notifications import NotificationChannel

BODY = '{"case_id":"GF-1","grid":{"name":"兴庄路社区第1网格"}}'


def entry(url: str = "http://hook.test/in", recipient: str = "ops") -> OutboxEntry:
    return OutboxEntry(
        key="n-1",
        channel=NotificationChannel.WEBHOOK,
        recipient=recipient,
        address=url,
        template="escalation",
        event_id="e-1",
        event_type="case.escalated",
        case_id="GF-1",
        body=BODY,
    )


def capture(
    status: int = 200, secrets: dict[str, str] | None = None
) -> tuple[WebhookTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    client = httpx.Client(transport=httpx.MockTransport(answer))
    keys = secrets or {}
    return WebhookTransport(keys.get, client=client, clock=lambda: 1_700_000_000.0), seen


def test_post_carries_the_body_and_the_headers() -> None:
    transport, seen = capture(202)
    result = transport.send(entry(), attempt=3)
    assert (result.ok, result.http_status, result.error) == (True, 202, None)
    [request] = seen
    assert request.method == "POST" and str(request.url) == "http://hook.test/in"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["idempotency-key"] == "n-1"
    assert request.headers["x-gridflow-event"] == "case.escalated"
    assert request.headers["x-gridflow-attempt"] == "3"
    assert "x-gridflow-signature" not in request.headers
    assert request.content == BODY.encode("utf-8")  # UTF-8, not \\u escapes


def test_signed_when_the_recipient_has_a_secret() -> None:
    transport, seen = capture(secrets={"ops": "s3cret"})
    transport.send(entry(), 1)
    [request] = seen
    assert request.headers["x-gridflow-timestamp"] == "1700000000"
    header = request.headers["x-gridflow-signature"]
    assert verify("s3cret", request.content, "1700000000", header, now=1_700_000_010)
    assert "s3cret" not in header


def test_answers_decide_retry_or_dead_letter() -> None:
    for status, permanent in ((503, False), (429, False), (408, False), (404, True), (401, True)):
        transport, _ = capture(status)
        result = transport.send(entry(), 1)
        assert (result.ok, result.http_status, result.permanent) == (False, status, permanent)
        assert result.error is not None and result.error.startswith(f"HTTP {status}")
    assert [retryable(s) for s in (None, 500, 502, 408, 425, 429)] == [True] * 6
    assert [retryable(s) for s in (301, 400, 404, 409)] == [False] * 4


def test_transport_errors_are_retried_and_name_the_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    transport = WebhookTransport(
        lambda _r: None, client=httpx.Client(transport=httpx.MockTransport(refuse))
    )
    result = transport.send(entry(), 1)
    assert (result.ok, result.http_status, result.permanent) == (False, None, False)
    assert result.error == "ConnectError: [Errno 111] Connection refused"


def test_a_bad_url_is_refused_for_good_without_quoting_it() -> None:
    transport = WebhookTransport(lambda _r: None)
    try:
        result = transport.send(entry(url="http://exa mple.test/?token=x"), 1)
    finally:
        transport.close()
    assert not result.ok and result.error is not None and "token" not in result.error

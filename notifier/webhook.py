"""The webhook adapter: POSTs a notification's JSON body with httpx.

Headers a receiver can rely on:

- ``Idempotency-Key: <notification_id>``: delivery is at least once (a retry, a
  redelivered event), so receivers de-duplicate on it.
- ``X-Gridflow-Event: <message type>``, e.g. ``case.assigned``.
- ``X-Gridflow-Signature: sha256=<hex>`` when the subscriber has a secret: the
  HMAC-SHA256 of the exact body bytes, keyed with the secret (:func:`verify`).

Timeouts: 2 s to connect, 5 s for each of writing the request, waiting for the
answer and taking a pooled connection (httpx has per-phase timeouts, no single
total). Redirects are not followed: a subscriber's URL must be the final one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from notifier.ports import Notification, Sender

TIMEOUT = httpx.Timeout(5.0, connect=2.0)
SIGNATURE_HEADER = "X-Gridflow-Signature"
USER_AGENT = "gridflow-notifier/1"


def encode_body(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


class WebhookSender(Sender):
    """Sends over HTTP with one pooled httpx client; close it when done."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)

    def send(self, notification: Notification) -> tuple[int | None, str | None]:
        body = encode_body(notification.body)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": notification.notification_id,
            "X-Gridflow-Event": notification.event_type,
            "User-Agent": USER_AGENT,
        }
        if notification.secret:
            headers[SIGNATURE_HEADER] = sign(notification.secret, body)
        try:
            response = self.client.post(notification.url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # The message names the failure (refused, timed out), not the URL's secrets.
            return None, f"{type(exc).__name__}: {exc}"[:300]
        if response.is_success:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code} {response.reason_phrase}"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The webhook transport: POSTs an outbox entry's JSON body with httpx.

Headers a receiver can rely on:

- ``Idempotency-Key: <key>``: delivery is at least once (a retry, a sender killed
  before it recorded the outcome), so receivers de-duplicate on it. It is the same
  on every attempt and on a replay.
- ``X-Gridflow-Event: <message type>``, e.g. ``case.assigned``;
  ``X-Gridflow-Attempt: <n>``, the attempt, from 1.
- ``X-Gridflow-Timestamp`` and ``X-Gridflow-Signature`` when the recipient has a
  secret (:mod:`notifier.signing`).

One attempt is bounded by the delivery policy's ``timeout_seconds`` (connect,
write, read and pool each). Redirects are not followed: a URL must be the final one.
A 2xx is delivered; no answer, a 5xx, 408 or 429 is tried again later; any other
answer (a 404, a 401 for a wrong key) is refused for good and goes to the dead letters.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from notifier.ports import Attempt, OutboxEntry, Transport
from notifier.signing import sign
from schemas.notifications import NotificationChannel

USER_AGENT = "gridflow-notifier/2"
RETRY_STATUSES = frozenset({408, 425, 429})
"""4xx answers worth retrying: a timeout, too early, too many requests."""


def retryable(http_status: int | None) -> bool:
    """No answer, a 5xx, 408, 425 or 429 may go better later; any other answer will not."""
    return http_status is None or http_status >= 500 or http_status in RETRY_STATUSES


class WebhookTransport(Transport):
    """Sends over HTTP with one pooled httpx client (thread-safe); close it when done."""

    channel = NotificationChannel.WEBHOOK

    def __init__(
        self,
        secret_for: Callable[[str], str | None],
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret_for = secret_for
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, limits=limits
        )
        self.clock = clock

    def send(self, entry: OutboxEntry, attempt: int) -> Attempt:
        body = entry.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": entry.key,
            "X-Gridflow-Event": entry.event_type,
            "X-Gridflow-Attempt": str(attempt),
            "User-Agent": USER_AGENT,
        }
        secret = self.secret_for(entry.recipient)
        if secret:
            headers |= sign(secret, int(self.clock()), body)
        try:
            response = self.client.post(entry.address, content=body, headers=headers)
        except httpx.InvalidURL:
            return Attempt(False, None, "InvalidURL", permanent=True)
        except httpx.HTTPError as exc:
            # the message names the failure (refused, timed out), not the URL
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:300])
        status = response.status_code
        if response.is_success:
            return Attempt(True, status)
        error = f"HTTP {status} {response.reason_phrase}"
        return Attempt(False, status, error, permanent=not retryable(status))

    def close(self) -> None:
        self.client.close()

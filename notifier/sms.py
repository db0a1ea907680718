"""The SMS transport: a resident's message through an SMS gateway's HTTP API.

Gateways differ, so the request is configured (README, Configuration):
``GRIDFLOW_SMS_GATEWAY_URL`` (POSTed to), ``GRIDFLOW_SMS_GATEWAY_AUTH`` (one header,
``Name: value``, e.g. ``Authorization: Bearer ...``) and
``GRIDFLOW_SMS_BODY_TEMPLATE``, the JSON body with ``{{phone}}``, ``{{text}}`` and
``{{key}}`` replaced by the values, escaped for a JSON string. The request also
carries ``Idempotency-Key``; a gateway that takes a client id should be given
``{{key}}`` in the body. Answers are read as for webhooks: 2xx delivered; no
answer, 5xx, 408 or 429 tried again; any other refused for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from notifier.ports import Attempt, OutboxEntry, Transport
from notifier.webhook import USER_AGENT, retryable
from schemas.notifications import NotificationChannel

DEFAULT_BODY = '{"to": "{{phone}}", "text": "{{text}}", "client_id": "{{key}}"}'


@dataclass(frozen=True)
class SmsConfig:
    url: str
    auth: str | None = field(default=None, repr=False)
    body_template: str = DEFAULT_BODY
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.auth is not None and ":" not in self.auth:
            raise ValueError("the SMS gateway's auth is one header, 'Name: value'")
        probe = self.body_template
        for name in ("phone", "text", "key"):
            probe = probe.replace("{{" + name + "}}", "x")
        json.loads(probe)  # a template that is not JSON is refused at start, not per message


def _escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def request_body(template: str, entry: OutboxEntry) -> bytes:
    body = template
    for name, value in (("phone", entry.address), ("text", entry.body), ("key", entry.key)):
        body = body.replace("{{" + name + "}}", _escaped(value))
    return body.encode("utf-8")


class SmsTransport(Transport):
    channel = NotificationChannel.SMS

    def __init__(self, config: SmsConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(config.timeout), follow_redirects=False
        )
        self.headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
        }
        if config.auth:
            name, value = config.auth.split(":", 1)
            self.headers[name.strip()] = value.strip()

    def send(self, entry: OutboxEntry, attempt: int) -> Attempt:
        body = request_body(self.config.body_template, entry)
        headers = self.headers | {"Idempotency-Key": entry.key}
        try:
            response = self.client.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:300])
        status = response.status_code
        if response.is_success:
            return Attempt(True, status)
        error = f"HTTP {status} {response.reason_phrase}"
        return Attempt(False, status, error, permanent=not retryable(status))

    def close(self) -> None:
        self.client.close()

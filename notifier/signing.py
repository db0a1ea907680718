"""Signed webhooks: HMAC-SHA256 over the timestamp, a dot and the body.

Every signed delivery carries two headers:

- ``X-Gridflow-Timestamp: <unix seconds>``, when this attempt was sent;
- ``X-Gridflow-Signature: sha256=<hex>``, the HMAC-SHA256, keyed with the
  recipient's secret, of ``<timestamp>.<body bytes>``.

A receiver recomputes the signature over the exact bytes it received, compares in
constant time, and refuses a timestamp more than :data:`TOLERANCE_SECONDS` from
its own clock: a captured request replayed later fails, and one replayed within
the window is a repeat its ``Idempotency-Key`` already names. :func:`verify` is
what a receiver runs (README, "Notifications", has it standalone).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Gridflow-Signature"
TIMESTAMP_HEADER = "X-Gridflow-Timestamp"
TOLERANCE_SECONDS = 300
"""How far a receiver accepts the timestamp from its own clock, either way."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers of a signed delivery."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    header: str | None,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: a well-formed, fresh timestamp and a matching signature."""
    if not timestamp or not header or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False  # too old (a replay) or from a clock far off
    return hmac.compare_digest(signature(secret, int(timestamp), body), header)

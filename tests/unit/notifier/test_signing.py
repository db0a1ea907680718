"""Signatures: HMAC-SHA256 over timestamp "." body; replays outside the window refused."""

from __future__ import annotations

import hashlib
import hmac

from notifier.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signature, verify

BODY = '{"case_id":"GF-1","message":"收到"}'.encode()
T = 1_700_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"k", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature("k", T, BODY) == f"sha256={expected}"
    assert sign("k", T, BODY) == {TIMESTAMP_HEADER: str(T), SIGNATURE_HEADER: f"sha256={expected}"}


def test_verify_accepts_the_fresh_and_refuses_the_rest() -> None:
    header = signature("k", T, BODY)
    assert verify("k", BODY, str(T), header, now=T + 299)
    assert verify("k", BODY, str(T), header, now=T - 299)  # a receiver's clock a bit behind
    assert not verify("k", BODY, str(T), header, now=T + 301)  # a replay, too late
    assert not verify("other", BODY, str(T), header, now=T)
    assert not verify("k", BODY + b" ", str(T), header, now=T)
    assert not verify("k", BODY, str(T + 1), header, now=T)  # the timestamp is signed too
    assert not verify("k", BODY, None, header, now=T)
    assert not verify("k", BODY, "12a", header, now=T)
    assert not verify("k", BODY, str(T), None, now=T)


def test_the_readme_snippet_verifies_what_the_sender_signs() -> None:
    """The receivers' snippet in README, "Notifications", run as written."""
    from pathlib import Path

    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n# verify a gridflow webhook")
    code = readme[start + len("```python\n") : readme.index("```", start + 10)]
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)  # our own docs, run as written
    check = scope["verify_gridflow"]
    headers = {**sign("k", T, BODY)}
    assert check("k", BODY, headers, now=T + 10) is True  # type: ignore[operator]
    assert check("k", BODY, headers, now=T + 3600) is False  # type: ignore[operator]
    assert check("x", BODY, headers, now=T) is False  # type: ignore[operator]

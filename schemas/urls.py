"""URL checks shared by intake and the notifier."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_web_url(text: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace inside."""
    if not text or any(ch.isspace() for ch in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)

"""Pure text normalisation for intake: whitespace, Unicode form, phone numbers, URLs.

Each function takes a value and returns the normalised value, or ``None`` where the
value carries nothing (blank). Validation that can fail returns ``None`` for "not
valid" through a separate predicate, so :mod:`intake.core` can collect every
problem of a report before it refuses it.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

TITLE_LENGTH = 30
"""A missing title becomes the description's first this-many characters."""

_PHONE_NOISE = re.compile(r"[\s\-()（）]")
_PHONE_DIGITS = re.compile(r"^[0-9]{3,20}$")
_BLANK_LINES = re.compile(r"\n{2,}")


def one_line(text: str | None) -> str | None:
    """NFC, whitespace runs (newlines and U+3000 included) to one space, stripped.

    ``None`` when nothing is left.
    """
    if text is None:
        return None
    collapsed = " ".join(unicodedata.normalize("NFC", text).split())
    return collapsed or None


def paragraphs(text: str | None) -> str | None:
    """Like :func:`one_line`, but keeps line breaks: a work order's description often
    has several paragraphs. Each line is collapsed; runs of blank lines become one.
    """
    if text is None:
        return None
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    joined = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return joined or None


def default_title(description: str) -> str:
    """The first :data:`TITLE_LENGTH` characters of the description, on one line."""
    flat = one_line(description) or ""
    if len(flat) <= TITLE_LENGTH:
        return flat
    return flat[:TITLE_LENGTH].rstrip() + "…"


def code(text: str) -> str:
    """A catalogue code (category, grid id): stripped and lower-cased."""
    return unicodedata.normalize("NFC", text).strip().lower()


def phone(text: str) -> str | None:
    """Digits only: spaces, dashes and parentheses dropped, a +86 / 0086 prefix removed.

    ``None`` when the result is not 3-20 digits (a short service number like 110
    passes; a foreign +1 number does not, by design: residents report locally).
    """
    digits = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", text))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    return digits if _PHONE_DIGITS.match(digits) else None


def is_web_url(text: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace inside."""
    if not text or any(ch.isspace() for ch in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)

"""Pure text normalisation for intake: control characters, whitespace, Unicode form, phones.

Each function takes a value and returns the normalised value, or ``None`` where the
value carries nothing (blank). Validation that can fail returns ``None`` for "not
valid" through a separate predicate, so :mod:`intake.core` can collect every
problem of a report before it refuses it.

Normalising can lengthen text (NFC decomposes some characters, e.g. U+0958 becomes
two code points), so :mod:`intake.core` validates the case again after it.
"""

from __future__ import annotations

import re
import unicodedata

TITLE_LENGTH = 30
"""A missing title becomes the description's first this-many characters."""

_PHONE_NOISE = re.compile(r"[\s\-()（）]")
_PHONE_DIGITS = re.compile(r"^[0-9]{3,20}$")
_BLANK_LINES = re.compile(r"\n{2,}")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0, DEL and C1: PostgreSQL's JSONB refuses U+0000, and none of them is text."""


def _drop_controls(match: re.Match[str]) -> str:
    # whitespace controls (tab, newline, vertical tab, form feed, NEL, U+001C-U+001F)
    # still separate words: they become a space, which the callers then collapse
    return " " if match.group().isspace() else ""


def without_controls(text: str) -> str:
    """``text`` with control characters removed; those that are whitespace become a space."""
    return _CONTROLS.sub(_drop_controls, text)


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a C0, DEL or C1 control character."""
    return _CONTROLS.search(text) is not None


def one_line(text: str | None) -> str | None:
    """Controls removed, NFC, whitespace runs (newlines, tabs and U+3000 included) to
    one space, stripped.

    ``None`` when nothing is left.
    """
    if text is None:
        return None
    collapsed = " ".join(unicodedata.normalize("NFC", without_controls(text)).split())
    return collapsed or None


def paragraphs(text: str | None) -> str | None:
    """Like :func:`one_line`, but keeps line breaks: a work order's description often
    has several paragraphs. Each line is collapsed; runs of blank lines become one.
    CR LF and a lone CR are line breaks too; other controls are handled as
    :func:`one_line` handles them.
    """
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(without_controls(line) for line in text.split("\n"))
    text = unicodedata.normalize("NFC", text)
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
    """A catalogue code (category, grid id): stripped and lower-cased.

    Control characters are kept: a code holding one matches nothing and is refused.
    """
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

"""Intake's text normalisation, and the URL check it shares with the notifier."""

from __future__ import annotations

import pytest

from intake import normalise
from schemas.urls import is_web_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a\x00b", "ab"),  # NUL: PostgreSQL's JSONB refuses \u0000
        ("a\x07\x1b\x7f\x9fb", "ab"),  # other C0, DEL, C1
        ("a\tb", "a b"),  # a tab separates words
        ("a\x0b\x0c\x1c\x85b", "a b"),  # so do the other whitespace controls
        ("e\x00\u0301", "\u00e9"),  # removed before NFC, so the accent composes
        ("\x00\x01 \x02", None),  # nothing left
    ],
)
def test_one_line_removes_control_characters(given: str, expected: str | None) -> None:
    assert normalise.one_line(given) == expected


def test_paragraphs_keep_line_breaks_only() -> None:
    text = "one\x00 line\r\ntwo\x85words\rthree\x0bend\x9f"
    assert normalise.paragraphs(text) == "one line\ntwo words\nthree end"


def test_has_controls() -> None:
    assert normalise.has_controls("NB-\x000001")
    assert normalise.has_controls("x\x9f")
    assert not normalise.has_controls("兴庄路 88号\u3000")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://files.example.org/a.jpg", True),
        ("HTTP://files.example.org", True),
        ("http://[::1]:8080/x", True),
        ("", False),
        ("https://", False),
        ("ftp://x.org/a.jpg", False),
        ("photo.jpg", False),
        ("http://a b/", False),
        ("http://a\tb/", False),
        ("http://[::1/", False),  # urlsplit raises: refused, not an exception
    ],
)
def test_is_web_url(url: str, expected: bool) -> None:
    assert is_web_url(url) is expected

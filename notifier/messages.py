"""The words of a notification: Jinja2 templates in Chinese (``notifier/templates``).

Each template is ``<template>.j2`` (for units, supervisors, command rooms and
observers) or ``<template>.resident.j2`` (for the resident). A template sets
``subject`` (an email's subject line) and renders the message text. Rendering is
pure: the same event gives the same words. Its context is ids, codes, unit names,
a deadline and a link; a resident's name, phone or address is never in it, so no
message can carry them, and a resident's message names their own work order alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
RESIDENT_SUFFIX = ".resident"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # plain text: SMS, email, a JSON string field
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


def template_name(template: str, resident: bool) -> str:
    return f"{template}{RESIDENT_SUFFIX if resident else ''}.j2"


def has_template(template: str, resident: bool) -> bool:
    return (TEMPLATES / template_name(template, resident)).is_file()


def render(template: str, resident: bool, context: Mapping[str, Any]) -> Message:
    """The subject and text of ``template`` for a party, or for the resident."""
    tpl = _ENV.get_template(template_name(template, resident))
    module = tpl.make_module(vars=dict(context))
    text = " ".join(str(module).split())  # one line: an SMS, a JSON field
    subject = str(getattr(module, "subject", "") or template)
    return Message(subject, text)


def local_time(value: datetime | None, tz: tzinfo) -> str | None:
    """A time as a Chinese reader writes it, in the site's zone: 2024年6月5日 17:00."""
    if value is None:
        return None
    t = value.astimezone(tz)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"

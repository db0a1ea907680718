"""Every report format a channel may send, mapped to the native report: pure code.

A report topic carries the native :class:`~schemas.reports.RawReport` or one of
:data:`schemas.formats.FORMATS`; the runtime decodes each by its ``format`` field
(absent: native). :func:`to_raw` maps any of them to the native report, so every
format then goes through the one validation of :func:`intake.core.to_case`.

The channel is not the format's to say: it comes from the topic the report came on
(only the channel's principal may write it). A native report names its channel
itself, and intake refuses one that names another than its topic's.

Refusals speak the sender's language: a field error's ``loc`` names the field as
the format spells it (``order_no``, ``point.lat``, ``attribute[request_type]``), not
the native field it became (:func:`source_loc`). Which native field each format
field becomes is the format's ``FIELDS`` table, documented in docs/FORMATS.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from intake.formats import grid_app, hotline, open311
from schemas.codec import field_errors
from schemas.deadletter import FieldError, Rejected, RejectionReason
from schemas.envelope import Model
from schemas.formats import GridAppReport, Open311Request, WorkOrder12345
from schemas.reports import Channel, RawReport


@dataclass(frozen=True)
class FormatMapping:
    """One format: how it becomes a native report, and its fields' native names."""

    to_native: Callable[[Any, Channel], dict[str, Any]]
    fields: Mapping[str, str]
    """native loc (prefix) -> the format's own name for it."""


MAPPINGS: dict[type[Model], FormatMapping] = {
    WorkOrder12345: FormatMapping(hotline.to_native, hotline.FIELDS),
    GridAppReport: FormatMapping(grid_app.to_native, grid_app.FIELDS),
    Open311Request: FormatMapping(open311.to_native, open311.FIELDS),
}
"""The dispatch table: format model -> its mapping."""


def source_loc(loc: str, fields: Mapping[str, str]) -> str:
    """``loc`` of the native report as the format names it: the longest native prefix
    in ``fields`` is replaced (``attachments.2`` -> ``photos.2``); other locs stay."""
    parts = loc.split(".")
    for n in range(len(parts), 0, -1):
        head = ".".join(parts[:n])
        if head in fields:
            return ".".join([fields[head], *parts[n:]])
    return loc


def renamed(refused: Rejected, message: Model) -> Rejected:
    """``refused`` with each field error's loc in the format's own names."""
    mapping = MAPPINGS.get(type(message))
    if mapping is None:  # the native report: its fields are its own
        return refused
    errors = [
        FieldError(loc=source_loc(e.loc, mapping.fields), msg=e.msg, type=e.type)
        for e in refused.errors
    ]
    summary = "; ".join(f"{e.loc}: {e.msg}" for e in errors)
    message_text = f"{len(errors)} field(s) refused: {summary}" if errors else refused.message
    return Rejected(refused.reason, message_text, errors, refused.replies)


def to_raw(message: Model, channel: Channel) -> RawReport:
    """``message`` (any report format) as the native report of ``channel``, or Rejected.

    A native report is returned as it came. Another format's mapping cannot fail on
    types (its own model checked them); what the native report refuses besides
    (text made too long by joining, a grid and a point both missing) is named in the
    format's own fields.
    """
    if isinstance(message, RawReport):
        return message
    mapping = MAPPINGS.get(type(message))
    if mapping is None:
        raise Rejected(
            RejectionReason.UNKNOWN_TYPE,
            f"a report topic carries reports, not {type(message).__name__}",
        )
    fields = mapping.to_native(message, channel)
    try:
        return RawReport.model_validate(fields)
    except ValidationError as exc:
        errors = [
            FieldError(loc=source_loc(e.loc, mapping.fields), msg=e.msg, type=e.type)
            for e in field_errors(exc)
        ]
        summary = "; ".join(f"{e.loc}: {e.msg}" for e in errors)
        raise Rejected(
            RejectionReason.INVALID, f"{len(errors)} field(s) refused: {summary}", errors
        ) from None


__all__ = ["MAPPINGS", "renamed", "source_loc", "to_raw"]

"""Intake: a channel's raw report in, one validated, normalised case out; and a
sender's command in, passed on stamped with its sender.

Commands: each sender writes on its own ``gridflow.commands.<sender>``, which only
its principal may write; intake sets the command's ``sender`` from that topic and
passes it on to the router on ``gridflow.cases.updates``, keyed by case id with
gridflow's own partitioner, so that neither the sender's identity nor the case's
partition depends on what the sender's client did (see :mod:`schemas.access`).

pydantic has already checked the report's shape (types, lengths, enums) when the
runtime decoded it; this module checks what needs the site catalogue and the
clock, normalises the text, derives the case id, and validates the case it built
(normalising can lengthen text past a limit). Every problem of a report is
collected before it is refused, so the dead letter names them all at once.

Two problems alone do not refuse a report: a category the site's catalogue does not
know, and a point that lies in no grid. Such a report is a case like any other (its
case id, its ``case.received``), marked (the category kept as given; ``placement``
``off_map``, its grid the site's whole area), and the router puts it in the command
room's dispatch queue (人工分拨) with the reason, for a dispatcher to assign. With any
other problem the report is refused, and those two are named among its problems.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from intake import normalise
from intake.formats import renamed, to_raw
from schemas.access import view_topic
from schemas.cases import CaseReceived
from schemas.catalogue import Site, SiteSource
from schemas.codec import field_errors
from schemas.commands import Command
from schemas.deadletter import FieldError, Rejected, RejectionReason
from schemas.envelope import Model, stable_id
from schemas.formats import REPORT_FORMATS
from schemas.processing import MAX_VALUE_BYTES, Inbound, Outcome
from schemas.replies import CommandRefused, RefusedPayload
from schemas.reports import Case, Location, RawReport, RawSource, Reporter
from schemas.topics import (
    CASE_UPDATES,
    CASES_RECEIVED,
    COMMAND_PREFIX,
    REPORT_PREFIX,
    Emit,
    command_topic,
    reply_topic,
    report_topic,
)
from schemas.urls import is_web_url

log = logging.getLogger(__name__)

PRODUCER = "intake"
FUTURE_TOLERANCE = timedelta(minutes=15)
"""A report may claim a time this far after ``now`` (a channel's clock running fast)."""
CONTROLS_MSG = "must not contain control characters"
RECEIPT_FIELDS = frozenset({"received_at"})
"""The case's fields that say when intake got the report, not what it says.

The same report sent twice differs in these alone; every other field of the case
is its content. The router compares content to tell a resend from a conflict.
"""


def case_id_for(channel: str, external_id: str) -> str:
    """``GF-`` and 16 upper-case hex digits, derived from the channel's own id.

    The same report always gets the same case id, so a resent report is recognised.
    """
    return "GF-" + stable_id("case", channel, external_id).replace("-", "")[:16].upper()


def content_of(case: Case) -> str:
    """The case's content (all but :data:`RECEIPT_FIELDS`) as canonical JSON.

    It is part of the ``case.received`` event id: the same report resent gets the
    same id, which the router's inbox drops; a resend with other content gets
    another, so it reaches the router, which refuses it as a conflict instead of
    the inbox dropping it unseen. ASCII escapes keep any text encodable.
    """
    return json.dumps(case.model_dump(mode="json", exclude=set(RECEIPT_FIELDS)), sort_keys=True)


class _Problems:
    """The field problems of one report, collected before refusing it."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.invalid = False
        self.refused = False  # a problem that manual dispatch cannot answer

    def add(
        self, loc: str, msg: str, kind: str, *, reference: bool = False, dispatch: bool = False
    ) -> None:
        """One problem; ``dispatch``: one a dispatcher answers (an unknown category, a
        point on no grid), which alone does not refuse the report."""
        self.errors.append(FieldError(loc=loc, msg=msg, type=kind))
        self.invalid = self.invalid or not reference
        self.refused = self.refused or not dispatch

    def raise_if_any(self) -> None:
        if not self.refused:
            return
        reason = RejectionReason.INVALID if self.invalid else RejectionReason.UNKNOWN_REFERENCE
        summary = "; ".join(f"{e.loc}: {e.msg}" for e in self.errors)
        raise Rejected(reason, f"{len(self.errors)} field(s) refused: {summary}", self.errors)


def to_case(raw: RawReport, site: Site, now: datetime, sent: Model | None = None) -> Case:
    """Validate ``raw`` against the site and the clock and normalise it, or raise Rejected.

    Times are converted to the site's timezone. The case is validated after
    normalising, since normalising can lengthen text past a field's limit. ``sent``
    is what the channel sent when it was another format than the native report
    (:mod:`intake.formats`): the case's ``source`` records that format.
    """
    tz = site.tz
    problems = _Problems()
    external_id = raw.external_id.strip()
    if not external_id:
        problems.add("external_id", "must not be blank", "blank")
    elif normalise.has_controls(external_id):
        problems.add("external_id", CONTROLS_MSG, "control_character")
    category = normalise.code(raw.category)
    if site.category(category) is None:  # alone: to the dispatch queue (人工分拨)
        msg = f"no category {category!r} in site {site.id}"
        problems.add("category", msg, "unknown_category", reference=True, dispatch=True)
    grid_id, placement = _grid(raw, site, problems)
    description = normalise.paragraphs(raw.description)
    if description is None:
        problems.add("description", "must not be blank", "blank")
    reported_at = raw.reported_at.astimezone(tz)
    if reported_at > now + FUTURE_TOLERANCE:
        problems.add(
            "reported_at",
            f"is more than {FUTURE_TOLERANCE.total_seconds() / 60:.0f} minutes in the future",
            "future_time",
        )
    reporter = _reporter(raw.reporter, problems)
    attachments = [a.strip() for a in raw.attachments]
    for i, url in enumerate(attachments):
        if not is_web_url(url):
            problems.add(f"attachments.{i}", "must be an http(s) URL", "url_scheme")
        elif normalise.has_controls(url):
            problems.add(f"attachments.{i}", CONTROLS_MSG, "control_character")
    source = _source(raw.source, getattr(sent or raw, "FORMAT", "native"), problems)
    named_site = getattr(sent, "jurisdiction_id", None)  # a format that names its site
    if named_site is not None and normalise.code(named_site) != site.id:
        msg = f"names site {named_site!r}; this is site {site.id}"
        problems.add("jurisdiction_id", msg, "unknown_jurisdiction", reference=True)
    description = description or ""  # a blank one is already a problem
    fields = {
        "case_id": case_id_for(raw.channel, external_id),
        "channel": raw.channel,
        "external_id": external_id,
        "reported_at": reported_at,
        "received_at": now.astimezone(tz),
        "category": category,
        "grid_id": grid_id,
        "title": normalise.one_line(raw.title) or normalise.default_title(description),
        "description": description,
        "urgency": raw.urgency,
        "request_type": raw.request_type,
        "location": _location(raw.location),
        "reporter": reporter,
        "attachments": attachments,
        "placement": placement,
        "source": source,
    }
    case = None
    try:
        case = Case.model_validate(fields)
    except ValidationError as exc:
        # field_errors leaves the input values out: a name or address stays out of the text.
        # A field refused above already has its reason: the case's own check of it adds none.
        named = {e.loc for e in problems.errors}
        for error in field_errors(exc):
            if error.loc not in named:
                problems.add(error.loc, f"{error.msg} once normalised", error.type)
    problems.raise_if_any()
    assert case is not None  # for the type checker: a failed validation raised above
    return case


OFF_MAP_MSG = "lies in no grid of site {site}: a dispatcher places it (人工分拨)"
"""The problem of a point on no grid; it never quotes the coordinates (personal data)."""


def _grid(raw: RawReport, site: Site, problems: _Problems) -> tuple[str, dict[str, Any] | None]:
    """The case's grid and, for a report that gave only a point, how it was placed.

    A named grid is taken as named (and must be one of the site's). A point is placed
    through the site's spatial index (:meth:`schemas.catalogue.Site.locate`): on a
    boundary between grids the smallest id wins and the placement says so. A point
    on no grid gives the site's whole area (:attr:`Site.area`) and a placement
    ``off_map``: the router queues it for the area's command room (人工分拨).
    """
    if raw.grid_id is not None:
        grid_id = normalise.code(raw.grid_id)
        if not site.is_grid(grid_id):
            msg = f"no grid {grid_id!r} in site {site.id}"
            problems.add("grid_id", msg, "unknown_grid", reference=True)
        return grid_id, None
    point = raw.location
    assert point is not None and point.lat is not None and point.lon is not None  # RawReport
    found = site.locate(point.lat, point.lon)
    if found is None:
        msg = OFF_MAP_MSG.format(site=site.id)
        problems.add("location", msg, "no_grid", reference=True, dispatch=True)
        return site.area.id, {"grids": [], "on_boundary": False, "off_map": True}
    return found.grid_id, {"grids": list(found.grids), "on_boundary": found.on_boundary}


def _reporter(reporter: Reporter | None, problems: _Problems) -> dict[str, Any] | None:
    """Anonymous reporters keep nothing that identifies them; others get a clean phone."""
    if reporter is None:
        return None
    if reporter.anonymous:
        return {"anonymous": True}
    phone = None
    if reporter.phone is not None and reporter.phone.strip():
        phone = normalise.phone(reporter.phone)
        if phone is None:
            problems.add(
                "reporter.phone",
                "must be 3-20 digits after removing spaces, dashes, parentheses and +86",
                "phone_format",
            )
    return {"name": normalise.one_line(reporter.name), "phone": phone, "anonymous": False}


def _source(source: RawSource | None, fmt: str, problems: _Problems) -> dict[str, Any] | None:
    """The channel's own facts, checked as ids and URLs are; the native format without
    any is no source at all (a native report's case stays as it was)."""
    fields = source.model_dump(exclude_none=True) if source is not None else {}
    fields = {k: v.strip() for k, v in fields.items()}
    for name, value in fields.items():
        if normalise.has_controls(value):
            problems.add(f"source.{name}", CONTROLS_MSG, "control_character")
    url = fields.get("callback_url")
    if url is not None and not is_web_url(url):
        problems.add("source.callback_url", "must be an http(s) URL", "url_scheme")
    if fmt == "native" and not fields:
        return None
    return {"format": fmt, **fields}


def _location(location: Location | None) -> dict[str, Any] | None:
    """The location with a clean address; None when nothing of it is left."""
    if location is None:
        return None
    address = normalise.one_line(location.address)
    if address is None and location.lat is None and location.lon is None:
        return None
    return {"address": address, "lat": location.lat, "lon": location.lon}


class Intake:
    """The intake processor: each channel's ``gridflow.reports.<channel sender>`` and each
    sender's ``gridflow.commands.<sender>`` in; ``gridflow.cases.received`` and
    ``gridflow.cases.updates`` out."""

    name = PRODUCER

    def __init__(
        self, site: Site, max_bytes: int = MAX_VALUE_BYTES, sites: SiteSource | None = None
    ) -> None:
        self.site = site
        self._sites = sites  # a changed catalogue taken up while running, if any
        self.max_bytes = max_bytes
        self.topics: tuple[str, ...] = (
            *(report_topic(s.id).name for s in site.all_senders() if s.channel is not None),
            *(command_topic(s.id).name for s in site.all_senders()),
        )

    def value_limit(self, topic: str) -> int:
        """The largest value read on ``topic``: a larger one is dead-lettered by its size
        before it is parsed (``too_large``), the original kept in the letter."""
        return self.max_bytes

    def handle(self, batch: Sequence[Inbound]) -> list[Outcome]:
        if self._sites is not None and (site := self._sites.changed()) is not None:
            self.site = site  # between batches: the whole batch is checked on one catalogue
        out: list[Outcome] = []
        for item in batch:
            try:
                if item.topic.startswith(COMMAND_PREFIX):
                    out.append(self._command(item.message, item.now, item.topic))
                else:
                    out.append(self._report(item.message, item.now, item.topic))
            except Rejected as refused:
                out.append(refused)
        return out

    def _command(self, message: Model, now: datetime, topic: str) -> list[Emit]:
        """A sender's command, passed on to the router stamped with who sent it.

        A command that names another sender than its topic's is refused
        (``permission``): no one speaks for someone else. The refusal reaches the
        sender's own view topic as well as the dead-letter topic.
        """
        sender = self.site.sender(topic.removeprefix(COMMAND_PREFIX))
        if not isinstance(message, Command) or sender is None:
            raise Rejected(
                RejectionReason.UNKNOWN_TYPE,
                f"{topic} carries the commands of a sender of the site, "
                f"not {type(message).__name__}",
            )
        if message.sender is not None and message.sender != sender.id:
            why = (
                f"{message.type} refused: it came on {topic} but names sender "
                f"{message.sender}; a command's sender is the topic it is written on"
            )
            payload = RefusedPayload(
                command_id=message.event_id,
                command_type=message.type,
                sender=sender.id,
                reason=RejectionReason.PERMISSION,
                message=why,
            )
            answer = CommandRefused.derive(
                payload,
                producer=PRODUCER,
                now=now,
                case_id=message.case_id,
                cause=message,
                key=(CommandRefused.TYPE,),
                correlation_id=message.case_id,
            )
            raise Rejected(
                RejectionReason.PERMISSION,
                why,
                replies=[Emit(view_topic(sender).name, message.case_id, answer)],
            )
        stamped = message.model_copy(update={"sender": sender.id})
        log.debug("command passed on", extra={"case_id": message.case_id, "sender": sender.id})
        return [Emit(topic=CASE_UPDATES.name, key=message.case_id, message=stamped)]

    def _report(self, message: Model, now: datetime, topic: str) -> list[Emit]:
        """A channel's report, made a case; or refused.

        The topic proves the channel (only its sender's principal may write it), so a
        report whose ``channel`` names another is refused (``permission``): no channel
        can open cases, or resend over them, in another's name. The refusal reaches the
        channel's reply topic as well as the dead-letter topic.
        """
        sender = self.site.sender(topic.removeprefix(REPORT_PREFIX))
        if not isinstance(message, REPORT_FORMATS) or sender is None or sender.channel is None:
            raise Rejected(
                RejectionReason.UNKNOWN_TYPE,
                f"{topic} carries the reports of a channel of the site, "
                f"not {type(message).__name__}",
            )
        if not isinstance(message, RawReport):  # another format: the topic names its channel
            try:
                case = to_case(to_raw(message, sender.channel), self.site, now, message)
            except Rejected as refused:
                raise renamed(refused, message) from None
            return self._received(case, now)
        if message.channel is not sender.channel:
            why = (
                f"report {message.external_id} refused: it came on {topic}, the "
                f"{sender.channel} channel's topic, but names channel {message.channel}"
            )
            payload = RefusedPayload(
                command_id=stable_id("report", topic, message.channel, message.external_id),
                command_type="report.raw",
                sender=sender.id,
                reason=RejectionReason.PERMISSION,
                message=why,
            )
            answer = CommandRefused.derive(
                payload,
                producer=PRODUCER,
                now=now,
                # the case it would have opened, had it named its own channel
                case_id=case_id_for(sender.channel, message.external_id),
                cause=None,
                key=(CommandRefused.TYPE, topic, message.channel, message.external_id),
            )
            raise Rejected(
                RejectionReason.PERMISSION,
                why,
                replies=[
                    Emit(
                        reply_topic(sender.id).name,
                        f"{message.channel}:{message.external_id}",
                        answer,
                    )
                ],
            )
        return self._received(to_case(message, self.site, now), now)

    def _received(self, case: Case, now: datetime) -> list[Emit]:
        event = CaseReceived.derive(
            case,
            producer=PRODUCER,
            now=now,
            case_id=case.case_id,
            key=(case.channel, case.external_id, content_of(case)),
        )
        log.info(
            "case received",
            extra={"case_id": case.case_id, "event_id": event.event_id, "channel": case.channel},
        )
        return [Emit(topic=CASES_RECEIVED.name, key=case.case_id, message=event)]

    def tick(self, now: datetime) -> list[Emit]:
        return []

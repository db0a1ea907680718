"""What the gateway serves: its jurisdictions (sites), API keys, publisher and archive.

A jurisdiction is one site (``jurisdiction_id`` is the site's id) with its Kafka
namespace and its archive's database, so one endpoint serves several sites. An API
key speaks for one channel sender of a site (``GRIDFLOW_OPEN311_API_KEYS``): the
report goes to that sender's report topic, as if the channel had written it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, select

from archive.projection import DUPLICATE
from archive.sql import archive_cases
from intake.core import case_id_for
from schemas.cases import Stage
from schemas.catalogue import Category, Sender, SenderRole, Site
from schemas.reports import Channel
from schemas.topics import report_topic
from services.runtime.names import Names

LIST_DAYS = 90
"""``GET requests`` without dates: the last 90 days (GeoReport v2)."""
LIST_MAX = 1000
"""``GET requests`` answers at most 1000 requests (GeoReport v2)."""


class Publisher(Protocol):
    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Return once the broker acknowledged the record; raise on any failure."""
        ...


class Unavailable(Exception):
    """The broker did not acknowledge in time: the client should try again."""


@dataclass(frozen=True)
class Jurisdiction:
    site: Site
    names: Names
    archive: Engine

    @property
    def id(self) -> str:
        return self.site.id

    def service(self, code: str) -> Category | None:
        return self.site.category(code)

    def topic_of(self, sender: Sender) -> str:
        """The broker's name of ``sender``'s report topic."""
        return self.names.topic(report_topic(sender.id).name)


@dataclass(frozen=True)
class Gateway:
    jurisdictions: Mapping[str, Jurisdiction]
    keys: Mapping[str, str]
    """API key -> channel sender id."""
    publisher: Publisher
    clock: Callable[[], datetime]
    max_bytes: int
    started_at: datetime
    contact: str = "gridflow Open311 gateway"
    base_url: str = ""

    def __post_init__(self) -> None:
        for sender_id in self.keys.values():
            for j in self.jurisdictions.values():
                sender = j.site.sender(sender_id)
                if sender is None or sender.role is not SenderRole.CHANNEL:
                    raise ValueError(
                        f"an API key speaks for {sender_id!r}, which is no channel sender "
                        f"of site {j.id}"
                    )

    def sender_for(self, key: str | None, jurisdiction: Jurisdiction) -> Sender | None:
        sender_id = self.keys.get(key or "")
        return jurisdiction.site.sender(sender_id) if sender_id else None


def token_for(
    sender_id: str, body: bytes, received_at: datetime, idempotency_key: str | None = None
) -> str:
    """The gateway's id of one POST (``O311-`` and 16 hex): from who sent what when, or,
    when the client names the attempt with an ``Idempotency-Key``, from who sent what
    under that key, so a retry after a lost answer is the same request (one case) while
    the same key on another body is another request."""
    moment = received_at.isoformat() if idempotency_key is None else "key:" + idempotency_key
    digest = hashlib.sha256(b"\0".join([sender_id.encode(), moment.encode(), body])).hexdigest()
    return "O311-" + digest[:16].upper()


def status_of(stage: str | None) -> str:
    """GeoReport v2 knows open and closed; the stage is the status notes. A duplicate
    (重复件) is closed as a request of its own: the case it repeats carries on."""
    return "closed" if stage in (Stage.CLOSED, DUPLICATE) else "open"


_COLUMNS = (
    archive_cases.c.case_id,
    archive_cases.c.channel,
    archive_cases.c.category,
    archive_cases.c.stage,
    archive_cases.c.stage_at,
    archive_cases.c.unit_id,
    archive_cases.c.reported_at,
    archive_cases.c.received_at,
    archive_cases.c.last_event_at,
)


def request_row(j: Jurisdiction, row: Any) -> dict[str, Any]:
    """One archived case as a GeoReport v2 request: its public facts alone.

    The description, address, point and media are the resident's (personal data):
    the gateway does not publish them (docs/FORMATS.md, README "Open311 gateway").
    """
    category = j.service(row.category or "")
    return {
        "service_request_id": row.case_id,
        "status": status_of(row.stage),
        "status_notes": row.stage,
        "service_code": row.category,
        "service_name": category.name_zh if category else None,
        "agency_responsible": row.unit_id,
        "requested_datetime": row.reported_at,
        "updated_datetime": row.last_event_at or row.stage_at or row.received_at,
    }


def find_requests(
    j: Jurisdiction,
    *,
    ids: Sequence[str] = (),
    codes: Sequence[str] = (),
    statuses: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """The archived cases asked for, newest first, at most :data:`LIST_MAX`.

    With ids, exactly those (other filters ignored, as the specification says);
    otherwise by service code, status and reported time, the last 90 days by default.
    """
    query = select(*_COLUMNS)
    if ids:
        query = query.where(archive_cases.c.case_id.in_(list(ids)))
    else:
        if codes:
            query = query.where(archive_cases.c.category.in_(list(codes)))
        if statuses and set(statuses) != {"open", "closed"}:
            closed = archive_cases.c.stage.in_([Stage.CLOSED.value, DUPLICATE])
            if "closed" in statuses:
                query = query.where(closed)
            else:
                query = query.where(~closed | archive_cases.c.stage.is_(None))
        if start is None and end is not None:
            start = end - timedelta(days=LIST_DAYS)
        if start is not None:
            query = query.where(archive_cases.c.reported_at >= start)
        if end is not None:
            query = query.where(archive_cases.c.reported_at <= end)
    query = query.order_by(archive_cases.c.reported_at.desc(), archive_cases.c.case_id)
    with j.archive.connect() as conn:
        rows = conn.execute(query.limit(LIST_MAX)).all()
    return [request_row(j, r) for r in rows]


def case_of_token(j: Jurisdiction, token: str) -> str | None:
    """The case a token became, once the archive has it: the case id of the token as
    each channel's external id (the token says nothing of the key that sent it)."""
    candidates = {case_id_for(c, token): c for c in Channel if j.site.channel_sender(c)}
    with j.archive.connect() as conn:
        found = conn.execute(
            select(archive_cases.c.case_id).where(archive_cases.c.case_id.in_(list(candidates)))
        ).first()
    return found.case_id if found else None

"""A 12345 hotline work order (工单) as a native report.

The caller is the reporter (both left out when the order is confidential, 保密);
the street (所属街道) is put before the address unless the address starts with it;
the hotline's callback for the answer (回复) is kept in the case's ``source``.
"""

from __future__ import annotations

from typing import Any

from schemas.formats import WorkOrder12345
from schemas.reports import Channel

FIELDS: dict[str, str] = {
    "external_id": "order_no",
    "reported_at": "call_time",
    "reporter.name": "caller",
    "reporter.phone": "phone",
    "reporter": "caller",
    "description": "content",
    "title": "summary",
    "request_type": "request_type",
    "category": "category",
    "location.address": "address",
    "location.lat": "lat",
    "location.lon": "lon",
    "location": "address",
    "grid_id": "grid_id",
    "urgency": "urgency",
    "attachments": "attachments",
    "source.callback_url": "callback.url",
    "source.callback_reference": "callback.reference",
}


def with_street(street: str | None, address: str | None) -> str | None:
    """``street`` and ``address`` joined by a space; the address alone when it already
    starts with the street's name (hotlines often write it both ways)."""
    street = (street or "").strip()
    address = (address or "").strip()
    if not street:
        return address or None
    if address.startswith(street):
        return address
    return f"{street} {address}".strip()


def to_native(order: WorkOrder12345, channel: Channel) -> dict[str, Any]:
    location: dict[str, Any] = {
        "address": with_street(order.street, order.address),
        "lat": order.lat,
        "lon": order.lon,
    }
    reporter: dict[str, Any] = (
        {"anonymous": True}
        if order.confidential
        else {"name": order.caller, "phone": order.phone, "anonymous": False}
    )
    source: dict[str, Any] = {}
    if order.callback is not None:
        source["callback_url"] = order.callback.url
        source["callback_reference"] = order.callback.reference or order.order_no
    out: dict[str, Any] = {
        "channel": channel,
        "external_id": order.order_no,
        "reported_at": order.call_time,
        "category": order.category,
        "grid_id": order.grid_id,
        "description": order.content,
        "title": order.summary,
        "urgency": order.urgency,
        "request_type": order.request_type,
        "location": {k: v for k, v in location.items() if v is not None} or None,
        "reporter": reporter,
        "attachments": list(order.attachments),
        "source": source or None,
    }
    return {k: v for k, v in out.items() if v is not None}

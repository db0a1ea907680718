"""A grid worker's app report (网格员上报) as a native report.

The worker is not a resident: the report has no reporter, and the worker's id is
kept in the case's ``source``. The point is where the problem is; the grid is the
app's when it names one, else intake places the point.
"""

from __future__ import annotations

from typing import Any

from schemas.formats import GridAppReport
from schemas.reports import Channel

FIELDS: dict[str, str] = {
    "external_id": "report_id",
    "reported_at": "found_at",
    "category": "category",
    "grid_id": "grid_id",
    "description": "description",
    "title": "title",
    "urgency": "urgency",
    "location.lat": "point.lat",
    "location.lon": "point.lon",
    "location.address": "address",
    "location": "point",
    "attachments": "photos",
    "source.worker_id": "worker_id",
}


def to_native(report: GridAppReport, channel: Channel) -> dict[str, Any]:
    location: dict[str, Any] = {"lat": report.point.lat, "lon": report.point.lon}
    if report.address is not None:
        location["address"] = report.address
    out: dict[str, Any] = {
        "channel": channel,
        "external_id": report.report_id,
        "reported_at": report.found_at,
        "category": report.category,
        "grid_id": report.grid_id,
        "description": report.description,
        "title": report.title,
        "urgency": report.urgency,
        "location": location,
        "attachments": list(report.photos),
        "source": {"worker_id": report.worker_id},
    }
    return {k: v for k, v in out.items() if v is not None}

"""An Open311 GeoReport v2 service request as a native report.

``service_code`` is a category code; ``lat``/``long`` the point intake places (an
``address_string`` alone cannot be placed: the native report's rule refuses it,
named ``lat``); the first and last name are the reporter's name, last name first
when both are Chinese (姓 before 名), else first name first. ``attribute[request_type]``
and ``attribute[urgency]`` feed the deadline policies. ``email``, ``device_id``,
``account_id`` and ``address_id`` have no native field and are not kept.
"""

from __future__ import annotations

import re
from typing import Any

from schemas.formats import REQUEST_TYPES_ZH, URGENCIES_ZH, Open311Request
from schemas.reports import Channel

FIELDS: dict[str, str] = {
    "external_id": "token",
    "reported_at": "requested_datetime",
    "category": "service_code",
    "grid_id": "lat",
    "description": "description",
    "location.lat": "lat",
    "location.lon": "long",
    "location.address": "address_string",
    "location": "lat",
    "reporter.name": "first_name",
    "reporter.phone": "phone",
    "attachments": "media_url",
    "request_type": "attribute[request_type]",
    "urgency": "attribute[urgency]",
}
_CJK = re.compile(r"^[\u3400-\u9fff]+$")


def reporter_name(first: str | None, last: str | None) -> str | None:
    first, last = (first or "").strip(), (last or "").strip()
    if first and last and _CJK.match(first) and _CJK.match(last):
        return last + first
    return " ".join(p for p in (first, last) if p) or None


def _word(value: str | None, words: dict[str, Any]) -> Any:
    """A Chinese word of the vocabulary as its English value; others as they came
    (the native report refuses an unknown one, named ``attribute[...]``)."""
    if value is None:
        return None
    word = value.strip()
    return str(words[word]) if word in words else word.lower()


def to_native(request: Open311Request, channel: Channel) -> dict[str, Any]:
    location = {"address": request.address_string, "lat": request.lat, "lon": request.long}
    name = reporter_name(request.first_name, request.last_name)
    reporter = {"name": name, "phone": request.phone} if name or request.phone else None
    out: dict[str, Any] = {
        "channel": channel,
        "external_id": request.token,
        "reported_at": request.requested_datetime,
        "category": request.service_code,
        "description": request.description if request.description is not None else "",
        "request_type": _word(request.attributes.request_type, REQUEST_TYPES_ZH),
        "urgency": _word(request.attributes.urgency, URGENCIES_ZH),
        "location": {k: v for k, v in location.items() if v is not None} or None,
        "reporter": reporter,
        "attachments": [request.media_url] if request.media_url is not None else [],
    }
    return {k: v for k, v in out.items() if v is not None}

"""GeoReport v2 bodies in JSON and XML, and its error list.

Every answer is a list (or, for discovery and a service definition, an object) of
flat fields; XML wraps a list in its root element and each item in the item
element the specification names (``<services><service>``, ``<service_requests>
<request>``, ``<errors><error>``). Nested lists are named by :data:`ITEM_NAMES`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from starlette.responses import Response

ITEM_NAMES = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
"""A nested list's item element, by the list's element (the specification's names)."""


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


MEDIA_TYPES = {Format.JSON: "application/json", Format.XML: "text/xml"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


def _fill(parent: Element, data: Mapping[str, Any]) -> None:
    for name, value in data.items():
        child = SubElement(parent, name)
        if isinstance(value, Mapping):
            _fill(child, value)
        elif isinstance(value, list | tuple):
            item = ITEM_NAMES.get(name, "item")
            for entry in value:
                grand = SubElement(child, item)
                if isinstance(entry, Mapping):
                    _fill(grand, entry)
                else:
                    grand.text = _text(entry)
        else:
            child.text = _text(value)


def xml_document(root: str, item: str | None, body: Sequence[Mapping[str, Any]] | Mapping) -> bytes:
    """``body`` under ``root``: a list as ``item`` elements, an object as its fields."""
    top = Element(root)
    if isinstance(body, Mapping):
        _fill(top, body)
    else:
        for entry in body:
            _fill(SubElement(top, item or "item"), entry)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(top, encoding="unicode").encode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def answer(
    fmt: Format,
    root: str,
    item: str | None,
    body: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    status: int = 200,
) -> Response:
    """``body`` as ``fmt``, UTF-8, with the specification's media type."""
    if fmt is Format.XML:
        content = xml_document(root, item, body)
    else:
        content = json.dumps(body, ensure_ascii=False, default=_jsonable).encode()
    return Response(content, status, media_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8")


def errors(fmt: Format, status: int, descriptions: Sequence[str]) -> Response:
    """The specification's error list: one ``{code, description}`` per problem."""
    body = [{"code": status, "description": d} for d in descriptions] or [
        {"code": status, "description": "error"}
    ]
    return answer(fmt, "errors", "error", body, status)


def format_of(path: str) -> Format:
    """The format a path asks for (its extension); JSON when it names none or another."""
    return Format.XML if path.rstrip("/").endswith(".xml") else Format.JSON

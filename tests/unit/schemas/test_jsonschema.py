"""schemas/json/: the generated JSON Schemas are up to date, cover every message of
the catalogue, and describe what the models really write.

Sample messages are checked by a small structural walker (types, required and
unknown keys, enums, ``$ref`` and ``anyOf``): enough to catch a schema that no
longer matches its model, with messages that say where. test_strict_contract.py
validates generated messages with the ``jsonschema`` package.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from schemas.cases import (
    Assignment,
    AssignmentReason,
    CaseAssigned,
    CaseAssignedPayload,
    CaseDispatched,
    CaseDispatchedPayload,
    CaseReceived,
)
from schemas.codec import reject
from schemas.commands import AcceptCase
from schemas.deadletter import RejectionReason
from schemas.envelope import Model
from schemas.jsonschema import OUT, TOPICS, render
from schemas.reports import Case, CaseFacts, Location, RawReport, RawReporter, Reporter, Tier
from schemas.topics import CATALOGUE, TEMPLATES, Record, report_topic
from tests.support.sites import SHANGHAI

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=SHANGHAI)
JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def problems(schema: dict[str, Any], value: Any, root: dict[str, Any], at: str = "") -> list[str]:
    """Why ``value`` does not fit ``schema`` (a subset of JSON Schema), [] when it does."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return problems(root["$defs"][name], value, root, at)
    if "anyOf" in schema:
        options = [problems(s, value, root, at) for s in schema["anyOf"]]
        return [] if any(not p for p in options) else [f"{at}: fits no anyOf option"]
    kind = schema.get("type")
    if kind is not None:
        expected = JSON_TYPES[kind]
        if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
            return [f"{at}: {type(value).__name__} is not {kind}"]
    if "const" in schema and value != schema["const"]:
        return [f"{at}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} not in enum"]
    out: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{at}.{k}: required" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            out += [f"{at}.{k}: not allowed" for k in value if k not in props]
        for key, sub in props.items():
            if key in value:
                out += problems(sub, value[key], root, f"{at}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += problems(schema["items"], item, root, f"{at}.{i}")
    return out


def schema_of(file_name: str) -> dict[str, Any]:
    return json.loads((OUT / file_name).read_text(encoding="utf-8"))


def sample_case() -> Case:
    return Case(
        case_id="GF-0123456789ABCDEF",
        channel="grid_app",
        external_id="APP-1",
        reported_at=NOW,
        received_at=NOW,
        category="public_safety.manhole_cover",
        grid_id="zs-g001",
        title="窨井盖缺损",
        description="路口窨井盖缺损",
        urgency="urgent",
        location=Location(address="模拟路1号", lat=29.9, lon=121.6),
        reporter=Reporter(name="居民", phone="13812345678"),
        attachments=["https://files.example.org/1.jpg"],
    )


def samples() -> list[tuple[str, Model]]:
    case = sample_case()
    received = CaseReceived.derive(case, producer="intake", now=NOW, case_id=case.case_id)
    assignment = Assignment(
        unit_id="zs.urban",
        unit_name="城管中队",
        tier=Tier.STREET,
        owner_tier=Tier.STREET,
        jurisdiction_id="zs",
        seq=1,
        reason=AssignmentReason.INITIAL,
        assigned_at=NOW,
    )
    assigned = CaseAssigned.derive(
        CaseAssignedPayload(assignment=assignment, case=CaseFacts.of(case)),
        producer="router",
        now=NOW,
        case_id=case.case_id,
        cause=received,
    )
    dispatched = CaseDispatched.derive(
        CaseDispatchedPayload(assignment=assignment, case=case),
        producer="router",
        now=NOW,
        case_id=case.case_id,
        cause=received,
    )
    accept = AcceptCase.derive(
        {"unit_id": "zs.urban", "seq": 1, "at": NOW}, producer="u", now=NOW, case_id="GF-1"
    )
    raw = RawReport(
        channel="web",
        external_id="W-1",
        reported_at=NOW,
        category="x",
        grid_id="g",
        description="d",
        reporter=RawReporter(anonymous=True),
    )
    dead = reject(
        Record(topic=report_topic("channel.web").name, value=b"\xff", offset=3, timestamp=NOW),
        processor="intake",
        reason=RejectionReason.NOT_UTF8,
        message="not UTF-8",
        now=NOW,
    )
    return [
        ("case.received.schema.json", received),
        ("case.assigned.schema.json", assigned),
        ("case.dispatched.schema.json", dispatched),
        ("case.accept.schema.json", accept),
        ("report.raw.schema.json", raw),
        ("message.rejected.schema.json", dead),
    ]


def test_generated_files_are_up_to_date() -> None:
    rendered = render()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in OUT.glob("*.json")}
    stale = sorted(n for n in rendered.keys() | on_disk.keys() if rendered.get(n) != on_disk.get(n))
    assert not stale, (
        f"schemas/json/ is out of date ({', '.join(stale)}): run `gridflow schemas` "
        "(or `python -m schemas.jsonschema`) and commit the result"
    )


def test_every_message_of_the_catalogue_has_a_schema_file() -> None:
    names = {p.name for p in OUT.glob("*.schema.json")}
    for topic in TOPICS:
        for model in topic.carries:
            fmt = getattr(model, "FORMAT", "native")  # a report format (schemas.formats)
            report = "report.raw" if fmt == "native" else f"report.{fmt}"
            file_name = f"{getattr(model, 'TYPE', '') or report}.schema.json"
            assert file_name in names, f"{topic.name} carries {model.__name__}: no {file_name}"
            assert schema_of(file_name)["title"] == model.__name__


def test_topics_json_lists_the_catalogue_and_the_templated_topics() -> None:
    doc = json.loads((OUT / "topics.json").read_text(encoding="utf-8"))
    by_name = {t["name"]: t for t in doc["topics"]}
    assert set(by_name) == {t.name for t in (*CATALOGUE, *TEMPLATES)}
    for topic in TOPICS:
        for file_name in by_name[topic.name]["carries"]:
            assert (OUT / file_name).is_file()


@pytest.mark.parametrize(("file_name", "message"), samples(), ids=[n for n, _ in samples()])
def test_a_sample_message_fits_its_schema(file_name: str, message: Model) -> None:
    schema = schema_of(file_name)
    value = json.loads(message.model_dump_json())
    assert problems(schema, value, schema) == []


def test_the_structural_check_can_fail() -> None:
    schema = schema_of("case.assigned.schema.json")
    value = json.loads(samples()[1][1].model_dump_json())
    del value["payload"]["assignment"]["unit_id"]
    value["payload"]["case"]["colour"] = "red"
    value["payload"]["assignment"]["tier"] = "galaxy"
    value["occurred_at"] = 12
    found = problems(schema, value, schema)
    assert sorted(found) == sorted(
        [
            ".payload.assignment.unit_id: required",
            ".payload.assignment.tier: 'galaxy' not in enum",
            ".payload.case.colour: not allowed",
            ".occurred_at: int is not string",
        ]
    )

"""schemas/json/asyncapi.json: a valid AsyncAPI 3.0.0 document of every channel.

It is validated against the official AsyncAPI 3.0.0 JSON Schema (the npm package
``@asyncapi/specs``, which ``make install`` puts into the venv, pinned by version
and SHA-256; ``GRIDFLOW_ASYNCAPI_SCHEMA`` names another copy). Without it the
validity test skips, or fails with ``CI=true``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from schemas import asyncapi
from schemas.jsonschema import OUT, TOPICS, _file_name, render
from schemas.topics import CATALOGUE, TEMPLATES
from tests.infra import _missing

SPEC = Path(
    os.environ.get(
        "GRIDFLOW_ASYNCAPI_SCHEMA", Path(sys.prefix) / "share" / "asyncapi" / "3.0.0.schema.json"
    )
)


def checked_in() -> dict[str, Any]:
    return json.loads((OUT / asyncapi.FILE_NAME).read_text(encoding="utf-8"))


def test_the_checked_in_document_is_a_fresh_generation() -> None:
    assert (OUT / asyncapi.FILE_NAME).read_text(encoding="utf-8") == render()[asyncapi.FILE_NAME], (
        "schemas/json/asyncapi.json is out of date: run `gridflow schemas` and commit it"
    )


def test_it_validates_against_the_asyncapi_3_0_0_json_schema() -> None:
    if not SPEC.is_file():
        _missing(f"no AsyncAPI 3.0.0 JSON Schema at {SPEC}: run `make install`")
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(spec)
    errors = sorted(Draft7Validator(spec).iter_errors(checked_in()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_the_validation_can_fail() -> None:
    if not SPEC.is_file():
        _missing(f"no AsyncAPI 3.0.0 JSON Schema at {SPEC}: run `make install`")
    validator = Draft7Validator(json.loads(SPEC.read_text(encoding="utf-8")))
    doc = checked_in()
    first = next(iter(doc["operations"].values()))
    first["action"] = "publish"  # AsyncAPI 2's word: 3.0 says send or receive
    assert not validator.is_valid(doc)


def test_every_topic_and_template_of_the_catalogue_is_a_channel() -> None:
    doc = checked_in()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {t.name for t in CATALOGUE} <= addresses
    for template in TEMPLATES:
        assert asyncapi.address(template) in addresses
        assert "{" in asyncapi.address(template)
    assert len(doc["channels"]) == len(TOPICS)


def test_each_message_payload_is_its_json_schema_file() -> None:
    doc = checked_in()
    messages = doc["components"]["messages"]
    for topic in TOPICS:
        channel = doc["channels"][asyncapi.channel_id(topic)]
        assert set(channel["messages"]) == {asyncapi.message_id(m) for m in topic.carries}
        for model in topic.carries:
            payload = messages[asyncapi.message_id(model)]["payload"]
            ref = payload["schema"]["$ref"]
            assert (OUT / ref).is_file() and ref == f"./{_file_name(model)}"
            assert json.loads((OUT / ref).read_text(encoding="utf-8"))["title"] == model.__name__


def test_operations_name_every_writer_and_reader() -> None:
    ops = checked_in()["operations"]
    for topic in TOPICS:
        ref = f"#/channels/{asyncapi.channel_id(topic)}"
        sends = {
            o["title"]
            for o in ops.values()
            if o["channel"]["$ref"] == ref and o["action"] == "send"
        }
        reads = {
            o["title"]
            for o in ops.values()
            if o["channel"]["$ref"] == ref and o["action"] == "receive"
        }
        assert sends == {f"{w} writes {topic.name}" for w in topic.writers}
        assert reads == {f"{r} reads {topic.name}" for r in topic.readers}

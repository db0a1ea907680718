"""The AsyncAPI 3.0 document of every gridflow channel, generated from the topic catalogue.

:func:`document` walks what :mod:`schemas.topics` offers (the fixed topics of
``CATALOGUE`` and the templated ones, one entry per kind, such as
``gridflow.assignments.<unit_id>``), so a topic or a message added there appears
on the next regeneration. Each message's payload is a reference to its generated
JSON Schema beside the document in ``schemas/json/``; nothing is written twice.
Each writer of a topic gets a ``send`` operation and each reader a ``receive``
one, named after the party the catalogue gives.

:mod:`schemas.jsonschema` writes the document with the JSON Schemas
(``gridflow schemas``), and a test checks it is up to date and valid against the
official AsyncAPI 3.0.0 JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from schemas.envelope import SCHEMA_VERSION, Envelope, Model
from schemas.topics import TOPIC_CONFIG, Topic

ASYNCAPI_VERSION = "3.0.0"
FILE_NAME = "asyncapi.json"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
"""The payloads are JSON Schema 2020-12 (their ``$schema`` says so), not AsyncAPI's
own Schema Object, so each payload is a Multi Format Schema Object naming it."""
KAFKA_BINDING = "0.5.0"
NAMESPACE = "gridflow."
"""The catalogue's topic names start with it; on a broker it is ``GRIDFLOW_NAMESPACE``."""

_PARAMETER = re.compile(r"<([A-Za-z0-9_]+)>")
_NOT_ID = re.compile(r"[^a-z0-9]+")


def message_id(model: type[Model]) -> str:
    """The message's key under ``components.messages``: its ``type``, or for a report
    format ``report.<format>`` (the native one ``report.raw``)."""
    if issubclass(model, Envelope):
        return model.TYPE
    fmt = getattr(model, "FORMAT", "native")
    return "report.raw" if fmt == "native" else f"report.{fmt}"


def channel_id(topic: Topic) -> str:
    """The channel's key: the topic name without the namespace, ``<x>`` as ``x``
    (``gridflow.assignments.<unit_id>`` is ``assignments.unit_id``)."""
    return _PARAMETER.sub(r"\1", topic.name.removeprefix(NAMESPACE))


def address(topic: Topic) -> str:
    """The topic name as an AsyncAPI address: ``<unit_id>`` becomes ``{unit_id}``."""
    return _PARAMETER.sub(r"{\1}", topic.name)


def party_id(party: str) -> str:
    """A short id for a writer or reader the catalogue names in prose: the words
    before any comma or colon (``"escalator, when GRIDFLOW_CLOCK=ticks"`` is
    ``escalator``)."""
    head = re.split(r"[,:]", party, maxsplit=1)[0]
    return _NOT_ID.sub("-", head.lower()).strip("-") or "anyone"


def _summary(model: type[Model]) -> str:
    doc = (model.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else model.__name__


def _message(model: type[Model], schema_file: str) -> dict[str, Any]:
    return {
        "name": message_id(model),
        "title": model.__name__,
        "summary": _summary(model),
        "contentType": "application/json",
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": f"./{schema_file}"}},
    }


def _channel(topic: Topic) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": address(topic),
        "title": topic.name,
        "description": f"{topic.description} Key: {topic.key}.",
        "messages": {
            message_id(m): {"$ref": f"#/components/messages/{message_id(m)}"} for m in topic.carries
        },
    }
    names = _PARAMETER.findall(topic.name)
    if names:
        channel["parameters"] = {
            n: {"description": f"The {n.replace('_', ' ')} whose own topic this is."} for n in names
        }
    kafka: dict[str, Any] = {
        "partitions": topic.partitions,
        "topicConfiguration": dict(TOPIC_CONFIG),
        "bindingVersion": KAFKA_BINDING,
    }
    if not names:
        kafka["topic"] = topic.name
    channel["bindings"] = {"kafka": kafka}
    return channel


def _operations(topic: Topic) -> dict[str, dict[str, Any]]:
    cid = channel_id(topic)
    messages = [{"$ref": f"#/channels/{cid}/messages/{message_id(m)}"} for m in topic.carries]
    out: dict[str, dict[str, Any]] = {}
    for action, parties in (("send", topic.writers), ("receive", topic.readers)):
        verb = "writes" if action == "send" else "reads"
        for party in parties:
            out[f"{party_id(party)}.{action}.{cid}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{cid}"},
                "title": f"{party} {verb} {topic.name}",
                "messages": messages,
            }
    return out


def document(topics: Iterable[Topic], schema_file: Callable[[type[Model]], str]) -> dict[str, Any]:
    """The AsyncAPI document of ``topics``; ``schema_file`` names each model's JSON
    Schema file, relative to the document."""
    topics = list(topics)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in topics:
        cid = channel_id(topic)
        if cid in channels:
            raise ValueError(f"two topics make channel {cid}: rename one")
        channels[cid] = _channel(topic)
        operations.update(_operations(topic))
        for model in topic.carries:
            messages.setdefault(message_id(model), _message(model, schema_file(model)))
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "gridflow",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Every channel of gridflow, the event-driven workflow engine for urban grid "
                "governance and 12345 hotline cases, generated from the topic catalogue "
                "(schemas/topics.py). Each payload is the message's JSON Schema in this "
                "folder. Topic names carry the namespace `gridflow.`; a pipeline run with "
                "GRIDFLOW_NAMESPACE=<ns> uses `<ns>.` instead. Every topic is created with "
                "message.timestamp.type=LogAppendTime: a message acts at the broker's time."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The broker `make servers` starts (GRIDFLOW_KAFKA_BOOTSTRAP).",
            }
        },
        "channels": channels,
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items()))},
    }

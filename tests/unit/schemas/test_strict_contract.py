"""The strict contract: what a published JSON Schema accepts, its processor accepts.

Instances are generated from the checked-in schemas (schemas/json/) by
:mod:`tests.support.from_schema`, and validated with the ``jsonschema`` package,
so the schemas are read as any other client reads them, not through the models.

- Each instance of a schema fits that schema and no other one: a message's
  ``type`` is a required constant, and a raw report has none.
- Each decodes through :func:`schemas.codec.decode` (the runtime's own decode
  path) on a topic that carries it: no schema-valid message is refused for its
  shape.
- Each command, stamped with a sender as intake stamps it, is accepted by the
  router, or refused for a reason of state or permission, never of shape.

Times are drawn inside the range the schemas state in ``formatMinimum`` and
``formatExclusiveMaximum`` (keywords that generic validators skip).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from router.core import Router
from router.memory import MemoryCaseStore
from router.ports import CaseFile
from schemas.cases import Assignment, AssignmentReason, Stage
from schemas.codec import DecodeError, decode, encode
from schemas.commands import Command
from schemas.deadletter import Rejected, RejectionReason
from schemas.envelope import Model
from schemas.jsonschema import OUT, TOPICS, _file_name
from schemas.processing import Inbound
from schemas.reports import Case, Channel, Tier, Urgency
from schemas.topics import CASE_UPDATES, Topic
from tests.support.from_schema import strategy
from tests.support.sites import SHANGHAI, tiny_site

SITE = tiny_site()
NOW = datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)
_EXAMPLES = os.environ.get("GRIDFLOW_PROPERTY_EXAMPLES")  # e.g. 5000 for a long hunt


def _examples(default: int) -> settings:
    return settings(
        max_examples=int(_EXAMPLES or default),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


SHAPE = {
    RejectionReason.NOT_UTF8,
    RejectionReason.NOT_JSON,
    RejectionReason.INVALID,
    RejectionReason.UNKNOWN_TYPE,
    RejectionReason.PROCESSING_ERROR,
}
"""Refusals for what a message is, not for the state it meets or who sent it."""

_OFFSETS = [timezone(timedelta(hours=h, minutes=m)) for h, m in ((0, 0), (8, 0), (-12, 0))]
_OFFSETS += [timezone(timedelta(hours=14)), timezone(timedelta(hours=5, minutes=45))]
TIMES = st.builds(
    lambda d, tz: d.replace(tzinfo=tz).isoformat(),
    st.datetimes(datetime(2000, 1, 2), datetime(2099, 12, 30)),
    st.sampled_from(_OFFSETS),
)
"""RFC 3339 times well inside the schemas' stated range, at any offset."""


@cache
def schemas() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(OUT.glob("*.schema.json"))
    }


@cache
def validators() -> dict[str, Draft202012Validator]:
    return {name: Draft202012Validator(s) for name, s in schemas().items()}


@cache
def instances(file_name: str) -> st.SearchStrategy[Any]:
    schema = schemas()[file_name]
    return strategy(schema, schema, TIMES)


def topic_carrying(file_name: str) -> tuple[Topic, type[Model]]:
    for topic in TOPICS:
        for model in topic.carries:
            if _file_name(model) == file_name:
                return topic, model
    raise AssertionError(f"no topic carries the model of {file_name}")


def test_the_published_schemas_are_valid_json_schemas() -> None:
    for name, schema in schemas().items():
        Draft202012Validator.check_schema(schema)
        assert name == _file_name(topic_carrying(name)[1])


def test_every_envelope_schema_requires_a_constant_type_and_its_case() -> None:
    """The shape the processors need: a const ``type``; ``case_id`` required and never
    null, but where a message truly concerns no case (a tick, an undecodable record)."""
    caseless = {"clock.ticked.schema.json", "message.rejected.schema.json"}
    for name, schema in schemas().items():
        if name.startswith("report."):  # a report format: no envelope, a format field
            assert "type" not in schema["properties"]
            assert "format" in schema["properties"], name
            continue
        kind = schema["properties"]["type"]
        assert kind["const"] == name.removesuffix(".schema.json"), name
        assert "type" in schema["required"], name
        validate = validators()[name]
        example = next(iter(schema.get("examples", [])), None)
        assert example is None or validate.is_valid(example)
        if name in caseless:
            assert "case_id" not in schema["required"], name
        else:
            assert "case_id" in schema["required"], name
            assert schema["properties"]["case_id"].get("type") == "string", name


@pytest.mark.parametrize("file_name", sorted(schemas()))
@_examples(10)
@given(data=st.data())
def test_an_instance_fits_its_own_schema_alone_and_decodes(
    file_name: str, data: st.DataObject
) -> None:
    value = data.draw(instances(file_name))
    fits = sorted(n for n, v in validators().items() if v.is_valid(value))
    assert fits == [file_name]
    topic, model = topic_carrying(file_name)
    try:
        decoded = decode(topic, json.dumps(value).encode())
    except DecodeError as refused:
        raise AssertionError(
            f"{file_name} accepts what {topic.name} refuses: {refused.reason} {refused.message}"
        ) from None
    assert isinstance(decoded, model)
    # what the model writes back fits the schema too
    assert validators()[file_name].is_valid(json.loads(encode(decoded)))


# --- commands at the router -------------------------------------------------------------

COMMAND_FILES = sorted(_file_name(m) for m in CASE_UPDATES.carries)
SENDER_IDS = [s.id for s in SITE.all_senders()] + ["nobody.of.this.site"]


def _case(case_id: str) -> Case:
    return Case(
        case_id=case_id,
        channel=Channel.WEB,
        external_id="W-1",
        reported_at=NOW - timedelta(minutes=5),
        received_at=NOW - timedelta(minutes=4),
        category="street.parking",
        grid_id="s-a-g1",
        title="t",
        description="d",
        urgency=Urgency.NORMAL,
    )


def _router(command: Command, data: st.DataObject) -> Router:
    """A router that knows the command's case (or, now and then, does not), at some
    stage, held by the sender, the unit the command names, or another unit."""
    store = MemoryCaseStore()
    if data.draw(st.integers(0, 9), label="unknown case") > 0:
        named = getattr(command.payload, "unit_id", None)
        holder = data.draw(
            st.sampled_from(
                [u for u in (command.sender, named, "s.command") if SITE.unit(u or "")]
            ),
            label="holder",
        )
        seq = data.draw(st.sampled_from([getattr(command.payload, "seq", 1), 2]), label="seq")
        assignment = Assignment(
            unit_id=holder,
            unit_name="Street",
            tier=Tier.STREET,
            owner_tier=Tier.STREET,
            jurisdiction_id="s",
            seq=seq,
            reason=AssignmentReason.INITIAL,
            assigned_at=NOW - timedelta(minutes=3),
        )
        file = CaseFile.opened(_case(command.case_id), assignment)
        stage = data.draw(st.sampled_from(list(Stage)), label="stage")
        store.save([CaseFile(file.case, file.document, stage, assignment)])
    return Router(SITE, store)


@_examples(60)
@given(data=st.data())
def test_a_schema_valid_command_is_applied_or_refused_for_state_or_permission(
    data: st.DataObject,
) -> None:
    file_name = data.draw(st.sampled_from(COMMAND_FILES), label="command")
    value = data.draw(instances(file_name), label="instance")
    # intake stamps the sender its command topic proves; a stray one is a permission matter
    value["sender"] = data.draw(st.sampled_from(SENDER_IDS), label="sender")
    if data.draw(st.booleans(), label="aligned"):  # now and then, the step its case awaits
        step = value["payload"]
        if "unit_id" in step:
            step["unit_id"] = value["sender"] if SITE.unit(value["sender"]) else "s.command"
        if "seq" in step:
            step["seq"] = 1
    assert validators()[file_name].is_valid(value)
    command = decode(CASE_UPDATES, json.dumps(value).encode())  # no DecodeError
    assert isinstance(command, Command)
    [result] = _router(command, data).handle([Inbound(command, NOW)])
    if isinstance(result, Rejected):
        assert result.reason not in SHAPE, f"refused for its shape: {result.message}"
    else:
        assert isinstance(result, list) and result, "an applied command tells its story"

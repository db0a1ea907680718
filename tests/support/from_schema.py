"""Hypothesis strategies for the values a JSON Schema accepts, read from the schema alone.

It covers the part of JSON Schema that pydantic writes (``$ref`` into ``$defs``,
``anyOf``, ``const``, ``enum``, objects with ``required`` and ``additionalProperties``,
arrays, strings with lengths and a ``pattern``, bounded numbers) and fails loudly on
anything else, so a schema the walker cannot read is never silently half-tested.
hypothesis-jsonschema would do this, but its 0.23 release reaches into Hypothesis
internals that the pinned Hypothesis no longer has.

Times (``format: date-time``) come from ``times``: the schemas state their range in
``formatMinimum`` / ``formatExclusiveMaximum``, which generic tools do not read.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_TEXT = st.characters(codec="utf-8")  # JSON text: any character but a lone surrogate


def strategy(
    schema: dict[str, Any], root: dict[str, Any], times: st.SearchStrategy[str]
) -> st.SearchStrategy[Any]:
    """Values that fit ``schema``, a part of ``root`` (whose ``$defs`` it refers to)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return strategy(root["$defs"][name], root, times)
    if "anyOf" in schema and schema.get("type") == "object":
        # an object that must also fit one of some branches (a raw report: a grid id, or
        # a point): each branch's required fields and properties replace the object's
        branches = [narrow(schema, branch) for branch in schema["anyOf"]]
        return st.one_of([_object(b, root, times) for b in branches])
    if "anyOf" in schema:
        return st.one_of([strategy(s, root, times) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, root, times)
    if kind == "array":
        items = strategy(schema.get("items", {}), root, times)
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=min(schema.get("maxItems", low + 3), low + 3))
    if kind == "string":
        return _string(schema, times)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(
            schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise AssertionError(f"no strategy for the schema {schema}")


def _object(
    schema: dict[str, Any], root: dict[str, Any], times: st.SearchStrategy[str]
) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fixed = st.fixed_dictionaries(
        {k: strategy(v, root, times) for k, v in props.items() if k in required},
        optional={k: strategy(v, root, times) for k, v in props.items() if k not in required},
    )
    extra = schema.get("additionalProperties", True)
    if not isinstance(extra, dict):
        return fixed
    more = st.dictionaries(
        st.text(_TEXT, max_size=8).filter(lambda k: k not in props),
        strategy(extra, root, times),
        max_size=3,
    )
    return st.builds(lambda a, b: {**b, **a}, fixed, more)


def narrow(schema: dict[str, Any], branch: dict[str, Any]) -> dict[str, Any]:
    """``schema`` narrowed to one of its ``anyOf`` branches (which only require fields
    and constrain properties); every value of the result fits both."""
    if set(branch) - {"required", "properties"}:
        raise AssertionError(f"no strategy for the branch {branch}")
    merged = {k: v for k, v in schema.items() if k != "anyOf"}
    merged["required"] = sorted({*schema.get("required", ()), *branch.get("required", ())})
    props = dict(schema.get("properties", {}))
    for name, narrower in branch.get("properties", {}).items():
        wider = props.get(name, {})
        if set(narrower) == {"type"} and "anyOf" in wider:  # e.g. a string, not null
            props[name] = {
                "anyOf": [s for s in wider["anyOf"] if s.get("type") == narrower["type"]]
            }
        else:
            props[name] = narrower
    merged["properties"] = props
    return merged


def _string(schema: dict[str, Any], times: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if schema.get("format") == "date-time":
        return times
    if "format" in schema:
        raise AssertionError(f"no strategy for the format {schema['format']}")
    if "pattern" in schema:
        found = st.from_regex(schema["pattern"], fullmatch=True, alphabet=_TEXT)
        return found.filter(lambda s: low <= len(s) <= (high if high is not None else len(s)))
    return st.text(_TEXT, min_size=low, max_size=min(high if high is not None else 40, 40))

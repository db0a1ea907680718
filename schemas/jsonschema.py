"""Generate the JSON Schema of every message, the topic catalogue and the AsyncAPI
document of every channel (:mod:`schemas.asyncapi`) into schemas/json/.

Channels and departments that do not use Python integrate from these files.
Run ``python -m schemas.jsonschema`` (or ``gridflow schemas``) after changing a
model; a test fails while the files are out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas import asyncapi
from schemas.envelope import Envelope, Model
from schemas.topics import CATALOGUE, TEMPLATES

TOPICS = (*CATALOGUE, *TEMPLATES)
"""Every topic: the fixed ones, and each templated kind (one per unit, per sender) once."""

OUT = Path(__file__).parent / "json"


def _file_name(model: type[Model]) -> str:
    if issubclass(model, Envelope):
        return f"{model.TYPE}.schema.json"
    fmt = getattr(model, "FORMAT", "native")  # a report format (schemas.formats)
    return "report.raw.schema.json" if fmt == "native" else f"report.{fmt}.schema.json"


def _models() -> list[type[Model]]:
    seen: dict[str, type[Model]] = {}
    for topic in TOPICS:
        for model in topic.carries:
            seen.setdefault(_file_name(model), model)
    return [seen[k] for k in sorted(seen)]


def _dump(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def render() -> dict[str, str]:
    """File name -> content, for every generated file."""
    files: dict[str, str] = {}
    for model in _models():
        # an envelope's schema requires its type, a const (Envelope.__get_pydantic_json_schema__)
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://gridflow.example/schemas/{_file_name(model)}"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        files[_file_name(model)] = _dump(schema)
    topics = [
        {
            "name": t.name,
            "key": t.key,
            "carries": [_file_name(m) for m in t.carries],
            "writers": list(t.writers),
            "readers": list(t.readers),
            "partitions": t.partitions,
            "description": t.description,
        }
        for t in TOPICS
    ]
    files["topics.json"] = _dump({"topics": topics})
    files[asyncapi.FILE_NAME] = _dump(asyncapi.document(TOPICS, _file_name))
    return files


def write(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = render()
    for stale in out.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, content in files.items():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}", file=sys.stdout)

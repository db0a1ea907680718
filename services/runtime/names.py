"""Catalogue names to broker names: the namespace every topic and group carries.

The logic and the catalogue speak of ``gridflow.cases.events``; on the broker
that topic is ``<namespace>.cases.events``, and the router's consumer group is
``<namespace>.router``. With the default namespace, ``gridflow``, the two are
the same. Only the Kafka source and sink, and the commands that provision or
produce, translate.
"""

from __future__ import annotations

from dataclasses import dataclass

_CATALOGUE_PREFIX = "gridflow."


@dataclass(frozen=True)
class Names:
    namespace: str = "gridflow"

    def topic(self, name: str) -> str:
        """The broker's name for the catalogue topic ``name``."""
        if not name.startswith(_CATALOGUE_PREFIX):
            raise ValueError(f"{name!r} is not a catalogue topic name")
        return f"{self.namespace}.{name.removeprefix(_CATALOGUE_PREFIX)}"

    def catalogue(self, topic: str) -> str:
        """The catalogue's name for the broker topic ``topic``."""
        prefix = f"{self.namespace}."
        if not topic.startswith(prefix):
            raise ValueError(f"topic {topic!r} is outside namespace {self.namespace!r}")
        return _CATALOGUE_PREFIX + topic.removeprefix(prefix)

    def group(self, processor: str) -> str:
        return f"{self.namespace}.{processor}"

"""Both Kafka clients of the runtime, for the tests that run processes on each.

``GRIDFLOW_KAFKA_CLIENT`` chooses the client a ``gridflow run`` process uses
(:mod:`services.runtime.clients`); a test parametrised with :func:`client_env`
runs once per client, so the poison, scale-out and SASL tests hold for both.
"""

from __future__ import annotations

import pytest

from services.settings import KafkaClient

CLIENTS = [pytest.param(c.value, id=c.value) for c in KafkaClient]
"""The parameters of a fixture that yields each client's setting value."""


def client_env(client: str) -> dict[str, str]:
    """The environment a process needs to run on ``client``."""
    return {"GRIDFLOW_KAFKA_CLIENT": KafkaClient(client).value}


__all__ = ["CLIENTS", "client_env"]

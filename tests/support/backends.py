"""One port suite, every backend: in memory, SQLite, and PostgreSQL (marked ``postgres``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from sqlalchemy import Engine

from storage.db import Transaction

S = TypeVar("S")

BACKENDS = ["memory", "sqlite", pytest.param("pg", marks=pytest.mark.postgres)]
"""``params`` for a store fixture; the SQL engines come from tests/conftest.py."""


def open_store(
    request: pytest.FixtureRequest, memory: Callable[[], S], sql: Callable[[Transaction], S]
) -> Iterator[S]:
    """The store for ``request.param``: in memory, or SQL inside one open transaction."""
    if request.param == "memory":
        yield memory()
        return
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    tx = Transaction(engine)
    with tx.begin():
        yield sql(tx)

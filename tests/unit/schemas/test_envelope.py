"""Stable ids: the same parts, the same id, exactly RFC 4122's name-based UUID (v5)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from schemas.envelope import _NAMESPACE, stable_id

PART = st.one_of(st.text(), st.integers(), st.none())


@given(st.lists(PART, max_size=5))
def test_stable_id_is_uuid5_of_the_joined_parts(parts: list[object]) -> None:
    name = "\x1f".join(str(p) for p in parts)
    assert stable_id(*parts) == str(uuid.uuid5(_NAMESPACE, name))


def test_a_known_id_never_changes() -> None:
    """Ids already written to topics and tables must stay what they were."""
    assert stable_id("case.assigned", "", "GF-0000000000000001", 1) == str(
        uuid.uuid5(_NAMESPACE, "case.assigned\x1f\x1fGF-0000000000000001\x1f1")
    )
    parsed = uuid.UUID(stable_id("x"))
    assert parsed.version == 5 and parsed.variant == uuid.RFC_4122

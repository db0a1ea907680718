"""The router as a processor: its topics, its one handler map, what it refuses outright."""

from __future__ import annotations

import pytest

from router.core import Router
from schemas.deadletter import Rejected, RejectionReason
from schemas.reports import RawReport
from schemas.topics import CASE_UPDATES, CASES_RECEIVED, DEADLINES
from services.runtime.processor import Processor
from tests.unit.router.support import T0, act


def test_it_is_a_processor_named_router(router: Router) -> None:
    processor: Processor = router
    assert processor.name == "router"
    assert processor.topics == (
        "gridflow.cases.received",
        "gridflow.cases.updates",
        "gridflow.deadlines",
    )
    assert router.tick(T0) == []


def test_every_message_its_topics_carry_has_a_handler(router: Router) -> None:
    carried = {m for t in (CASES_RECEIVED, CASE_UPDATES, DEADLINES) for m in t.carries}
    assert set(router.handlers) == carried


def test_a_message_it_does_not_handle_is_refused(router: Router) -> None:
    report = RawReport.model_validate(
        {
            "channel": "web",
            "external_id": "x",
            "reported_at": T0,
            "category": "c",
            "grid_id": "g",
            "description": "d",
        }
    )
    with pytest.raises(Rejected) as caught:
        act(router, report, T0)
    assert caught.value.reason is RejectionReason.UNKNOWN_TYPE

"""A report resent: ignored when its content is the case's, a conflict when it is not.

Intake keeps no state: the same channel and external id always give the same case
id, and the content gives the ``case.received`` event id. An exact resend is a
redelivery the inbox drops; a resend with other content reaches the router, which
refuses it (a dead letter, reason ``conflict``) naming the fields that differ, and
leaves the case as it was.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from archive.sql import archive_dead_letters, archive_events
from intake.core import RECEIPT_FIELDS, Intake
from router.core import Router
from router.memory import MemoryCaseStore
from router.sql import cases as router_cases
from schemas.cases import CaseReceived
from schemas.catalogue import Site
from schemas.codec import decode
from schemas.deadletter import MessageRejected, Rejected, RejectionReason
from schemas.processing import Inbound
from schemas.reports import RawReport, Tier
from schemas.topics import ASSIGNMENT_PREFIX, CASES_RECEIVED, DEADLETTER, report_topic, topic_named
from services.runtime.clock import SimulatedClock
from services.runtime.embedded import EmbeddedPipeline
from tests.support.processing import handle_one
from tests.support.sites import SHANGHAI
from tests.unit.router.support import LATER, T0, act, file_of

HOTLINE = report_topic("channel.hotline-12345").name

PHONE = "13812345678"
DESCRIPTION = "东门垃圾桶已满三天，无人清运。"


def raw(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": "hotline_12345",
        "external_id": "NB-0001",
        "reported_at": "2026-03-05T09:12:45+08:00",
        "category": "urban.garbage",
        "grid_id": "s-a-g1",
        "title": "垃圾桶满了",
        "description": DESCRIPTION,
        "location": {"address": "兴庄路1号", "lat": 31.2, "lon": 121.4},
        "reporter": {"name": "王女士", "phone": PHONE},
        "attachments": ["https://example.org/a.jpg"],
    }
    data.update(changes)
    return data


def sent(tiny: Site, now: datetime = T0, **changes: Any) -> CaseReceived:
    """The case.received intake makes of the report at ``now``."""
    [emit] = handle_one(Intake(tiny), RawReport.model_validate(raw(**changes)), now)
    assert isinstance(emit.message, CaseReceived)
    return emit.message


def refused(router: Router, message: CaseReceived) -> Rejected:
    with pytest.raises(Rejected) as caught:
        act(router, message, LATER + timedelta(hours=1))
    return caught.value


# --- what intake makes of a resend ---------------------------------------------------


def test_the_same_report_sent_twice_differs_in_its_receipt_alone(tiny: Site) -> None:
    first, again = sent(tiny), sent(tiny, T0 + timedelta(days=2))
    assert again.event_id == first.event_id  # the inbox drops it
    assert again.occurred_at != first.occurred_at
    one, two = first.payload.model_dump(), again.payload.model_dump()
    assert {k for k in one if one[k] != two[k]} == set(RECEIPT_FIELDS) == {"received_at"}
    assert first.model_dump(exclude={"occurred_at", "payload"}) == again.model_dump(
        exclude={"occurred_at", "payload"}
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"description": "西门垃圾桶已满。"},
        {"category": "street.parking"},
        {"grid_id": "s-a-g2"},
        {"reported_at": "2026-03-05T09:13:45+08:00"},
        {"urgency": "urgent"},
        {"reporter": {"name": "王女士", "phone": "13900000000"}},
        {"location": None},
        {"attachments": []},
    ],
)
def test_other_content_gets_another_event_id_and_the_same_case(
    tiny: Site, changes: dict[str, Any]
) -> None:
    first, other = sent(tiny), sent(tiny, **changes)
    assert other.case_id == first.case_id
    assert other.event_id != first.event_id  # so the inbox lets it through to the router


# --- what the router does with it ----------------------------------------------------


def test_an_exact_resend_changes_nothing(
    router: Router, store: MemoryCaseStore, tiny: Site
) -> None:
    """The inbox drops it; were it handed over again, the router would still do nothing."""
    first = sent(tiny)
    assert len(act(router, first)) == 2
    before = file_of(store, first.payload.case_id)
    assert act(router, first, LATER + timedelta(hours=1)) == []
    assert file_of(store, first.payload.case_id) == before


def test_a_resend_differing_only_in_its_receipt_is_a_duplicate(
    router: Router, store: MemoryCaseStore, tiny: Site
) -> None:
    """Same content under another event id (one from an older intake, another producer):
    nothing is published and nothing refused."""
    first = sent(tiny)
    act(router, first)
    before = file_of(store, first.payload.case_id)
    again = sent(tiny, T0 + timedelta(days=1)).model_copy(
        update={"event_id": "id-of-an-older-intake", "producer": "gateway"}
    )
    assert again.payload.received_at != first.payload.received_at
    assert act(router, again, LATER + timedelta(days=1)) == []
    assert file_of(store, first.payload.case_id) == before


def test_a_resend_with_other_content_is_a_conflict_naming_the_fields(
    router: Router, store: MemoryCaseStore, tiny: Site
) -> None:
    first = sent(tiny)
    [assigned, _] = act(router, first)
    before = file_of(store, first.payload.case_id)
    other = sent(
        tiny,
        T0 + timedelta(hours=3),
        description="另一段描述",
        grid_id="s-a-g2",
        reporter={"name": "王女士", "phone": "13900000000"},
        attachments=["https://example.org/a.jpg", "https://example.org/b.jpg"],
    )
    [outcome] = router.handle([Inbound(other, LATER + timedelta(hours=3))])
    assert isinstance(outcome, Rejected)  # one refusal: the runtime's one dead letter
    assert outcome.reason is RejectionReason.CONFLICT
    locs = [e.loc for e in outcome.errors]
    assert locs == ["attachments", "description", "grid_id", "reporter.phone"]
    assert {e.msg for e in outcome.errors} == {"differs from the case as opened"}
    case_id = first.payload.case_id
    assert f"case {case_id} is assigned" in outcome.message
    assert "opened already from this channel and external id with different content" in (
        outcome.message
    )
    assert "not applied" in outcome.message and "archive" in outcome.message
    text = outcome.message + json.dumps([e.model_dump() for e in outcome.errors])
    for value in ("13900000000", PHONE, "另一段描述", DESCRIPTION, "s-a-g2", "b.jpg"):
        assert value not in text  # field names, never values
    after = file_of(store, case_id)
    assert after == before  # same unit, same stage, same first assignment
    assert after is not None and after.assignment == assigned.message.payload.assignment


def test_a_nested_field_is_named_by_its_path_and_an_added_object_as_a_whole(
    router: Router, tiny: Site
) -> None:
    act(router, sent(tiny, location=None))
    caught = refused(router, sent(tiny, location={"lat": 31.2, "lon": 121.5}))
    assert [e.loc for e in caught.errors] == ["location"]

    act(router, sent(tiny, external_id="NB-0002"))
    moved = {"address": "兴庄路1号", "lat": 31.2, "lon": 121.5}
    caught = refused(router, sent(tiny, external_id="NB-0002", location=moved))
    assert [e.loc for e in caught.errors] == ["location.lon"]


def test_a_time_is_compared_as_an_instant(router: Router, tiny: Site) -> None:
    """The same reported_at in another offset (a site whose timezone changed) is no change."""
    first = sent(tiny)
    act(router, first)
    utc = first.payload.model_copy(
        update={"reported_at": first.payload.reported_at.astimezone(UTC)}
    )
    assert utc.model_dump(mode="json") != first.payload.model_dump(mode="json")
    again = first.model_copy(update={"event_id": "another", "payload": utc})
    assert act(router, again, LATER) == []


def test_a_field_added_to_the_case_since_with_its_default_is_no_change(
    router: Router, store: MemoryCaseStore, tiny: Site
) -> None:
    """A case opened before ``attachments`` existed is stored without it."""
    first = sent(tiny, attachments=[])
    act(router, first)
    file = file_of(store, first.payload.case_id)
    assert file is not None
    older = {k: v for k, v in file.document.items() if k != "attachments"}
    store.save([replace(file, document=older)])
    again = first.model_copy(update={"event_id": "another"})
    assert act(router, again, LATER) == []
    caught = refused(router, sent(tiny, attachments=["https://example.org/a.jpg"]))
    assert [e.loc for e in caught.errors] == ["attachments"]


def test_a_document_the_case_no_longer_accepts_is_compared_as_stored(
    router: Router, store: MemoryCaseStore, tiny: Site
) -> None:
    first = sent(tiny)
    act(router, first)
    file = file_of(store, first.payload.case_id)
    assert file is not None
    store.save([replace(file, document={**file.document, "legacy": 1})])
    caught = refused(router, first.model_copy(update={"event_id": "another"}))
    assert [e.loc for e in caught.errors] == ["legacy"]


# --- through the embedded pipeline (intake, the inbox, SQLite) -------------------------


def test_through_the_pipeline_a_conflict_is_one_dead_letter_and_a_resend_nothing(
    site: Site,
) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    body = raw(
        reported_at=(start - timedelta(minutes=5)).isoformat(),
        category=sorted(c.code for c in site.categories)[0],
        grid_id=grids[0],
    )
    clock = SimulatedClock(start)
    pipeline = EmbeddedPipeline(site, clock)
    try:
        pipeline.publish(HOTLINE, json.dumps(body).encode())
        assert pipeline.pump().dead_letters == 0
        with pipeline.engine.connect() as conn:
            before = conn.execute(select(router_cases)).all()
        assert len(before) == 1

        clock.advance(timedelta(hours=1))
        pipeline.publish(HOTLINE, json.dumps(body).encode())  # the same, again
        again = pipeline.pump()
        assert again.dead_letters == 0 and again.duplicates >= 1

        other = {**body, "grid_id": grids[1], "description": "换了一段描述"}
        clock.advance(timedelta(hours=1))
        pipeline.publish(HOTLINE, json.dumps(other).encode())
        assert pipeline.pump().dead_letters == 1

        received = [r.value for r in pipeline.broker.read(CASES_RECEIVED.name)]
        letters = [
            decode(topic_named(DEADLETTER.name), r.value)
            for r in pipeline.broker.read(DEADLETTER.name)
        ]
        [letter] = letters
        assert isinstance(letter, MessageRejected)
        assert letter.payload.processor == "router"
        assert letter.payload.reason is RejectionReason.CONFLICT
        assert [e.loc for e in letter.payload.errors] == ["description", "grid_id"]
        assert letter.payload.original.topic == CASES_RECEIVED.name
        assert (letter.payload.original.text or "").encode() == received[-1]  # verbatim
        assignments = [t for t in pipeline.broker.topics() if t.startswith(ASSIGNMENT_PREFIX)]
        assert sum(len(pipeline.broker.read(t)) for t in assignments) == 1  # one dispatch
        with pipeline.engine.connect() as conn:
            assert conn.execute(select(router_cases)).all() == before
            e = archive_events.c
            history = conn.execute(
                select(e.type, e.payload)
                .where(e.case_id == letter.case_id)
                .order_by(e.occurred_at, e.event_id)
            ).all()
            kept = conn.execute(select(archive_dead_letters.c.reason)).scalars().all()
        # the version applied is the case's first case.received; the refused one follows
        [opened, resent] = [p for t, p in history if t == CaseReceived.TYPE]
        assert opened["description"] == body["description"]
        assert resent["description"] == other["description"]
        assert kept == [RejectionReason.CONFLICT.value]
        assert pipeline.unread() == 0
    finally:
        pipeline.close()

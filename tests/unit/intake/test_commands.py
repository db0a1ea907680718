"""Intake passes each sender's commands on to the router, stamped with who sent them.

The sender is the command topic the command came on, never a field of it: a
command naming someone else is refused (``permission``), and the refusal reaches
the sender's own view topic beside the dead letter.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from intake import Intake
from schemas.cases import StepPayload
from schemas.catalogue import Site
from schemas.commands import AcceptCase
from schemas.deadletter import Rejected, RejectionReason
from schemas.processing import Inbound
from schemas.replies import CommandRefused
from schemas.topics import CASE_UPDATES, command_topic
from tests.unit.intake.conftest import NOW


def accept(sender: str | None = None) -> AcceptCase:
    step = StepPayload(unit_id="s.urban", seq=1, at=NOW - timedelta(minutes=1))
    command = AcceptCase.derive(step, producer="unit", now=NOW, case_id="GF-1", key=("a",))
    return command.model_copy(update={"sender": sender})


def through(site: Site, message: object, topic: str) -> list:  # type: ignore[type-arg]
    [outcome] = Intake(site).handle([Inbound(message, NOW, topic)])  # type: ignore[arg-type]
    return outcome  # type: ignore[return-value]


@pytest.mark.parametrize("named", [None, "s.urban"])
def test_a_command_is_stamped_with_its_topics_sender_and_keyed_by_case(
    small_site: Site, named: str | None
) -> None:
    command = accept(named)
    [emit] = through(small_site, command, command_topic("s.urban").name)
    assert (emit.topic, emit.key) == (CASE_UPDATES.name, "GF-1")
    assert emit.message.sender == "s.urban"
    assert emit.message.event_id == command.event_id  # the sender's id: its retries dedupe
    assert emit.message.model_dump(exclude={"sender"}) == command.model_dump(exclude={"sender"})


def test_a_command_naming_another_sender_is_refused_on_the_senders_own_topic(
    small_site: Site,
) -> None:
    refused = through(small_site, accept("s.urban"), command_topic("s.command").name)
    assert isinstance(refused, Rejected) and refused.reason is RejectionReason.PERMISSION
    assert "names sender s.urban" in refused.message
    (answer,) = refused.replies
    assert answer.topic == "gridflow.assignments.s.command"
    assert isinstance(answer.message, CommandRefused)
    assert answer.message.payload.sender == "s.command"


def test_a_non_unit_senders_refusal_goes_to_its_reply_topic(small_site: Site) -> None:
    refused = through(small_site, accept("s.urban"), command_topic("s.verify").name)
    assert isinstance(refused, Rejected)
    assert [r.topic for r in refused.replies] == ["gridflow.replies.s.verify"]


def test_a_topic_of_no_known_sender_is_refused(small_site: Site) -> None:
    refused = through(small_site, accept(), command_topic("nobody").name)
    assert isinstance(refused, Rejected) and refused.reason is RejectionReason.UNKNOWN_TYPE
    assert refused.replies == []


def test_intake_reads_every_senders_command_topic(small_site: Site) -> None:
    topics = set(Intake(small_site).topics)
    assert {command_topic(s.id).name for s in small_site.all_senders()} <= topics

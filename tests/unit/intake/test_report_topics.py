"""Each channel writes its reports on its own topic, and the topic proves the channel.

A report whose ``channel`` field names another channel than its topic's is refused
(``permission``): no channel opens cases, or resends over them, in another's name. The
refusal reaches the channel's reply topic beside the dead letter. The ACLs let a
channel write its own report topic alone.
"""

from __future__ import annotations

import pytest

from intake import Intake, case_id_for
from schemas.access import channel_topic, grants, sender_topics
from schemas.cases import CaseReceived
from schemas.catalogue import Site
from schemas.deadletter import Rejected, RejectionReason
from schemas.envelope import stable_id
from schemas.processing import Inbound
from schemas.replies import CommandRefused
from schemas.reports import Channel
from schemas.topics import CASES_RECEIVED, REPORT_PREFIX, reply_topic, report_topic
from tests.unit.intake.conftest import NOW
from tests.unit.intake.test_core import report


def through(site: Site, topic: str, **changes: object) -> object:
    [outcome] = Intake(site).handle([Inbound(report(**changes), NOW, topic)])
    return outcome


def test_intake_reads_every_channels_report_topic_and_no_other(small_site: Site) -> None:
    reports = {t for t in Intake(small_site).topics if t.startswith(REPORT_PREFIX)}
    channels = [s for s in small_site.senders if s.channel is not None]
    assert reports == {report_topic(s.id).name for s in channels}
    assert {t.name for t in sender_topics(small_site)} >= reports


def test_a_report_on_its_own_channels_topic_becomes_a_case(small_site: Site) -> None:
    topic = channel_topic(small_site, Channel.HOTLINE_12345).name
    [emit] = through(small_site, topic)  # type: ignore[misc]
    assert emit.topic == CASES_RECEIVED.name and isinstance(emit.message, CaseReceived)


def test_a_report_in_another_channels_name_is_refused_and_the_channel_told(
    small_site: Site,
) -> None:
    web = small_site.channel_sender(Channel.WEB)
    assert web is not None
    topic = report_topic(web.id).name
    refused = through(small_site, topic, channel="hotline_12345")
    assert isinstance(refused, Rejected)
    assert refused.reason is RejectionReason.PERMISSION
    assert "names channel hotline_12345" in refused.message
    [told] = refused.replies
    assert told.topic == reply_topic(web.id).name
    assert isinstance(told.message, CommandRefused)
    assert told.message.payload.sender == web.id
    assert told.message.case_id == case_id_for(Channel.WEB, "NB-0001")  # its own, not another's
    assert told.message.payload.command_id == stable_id("report", topic, "hotline_12345", "NB-0001")
    again = through(small_site, topic, channel="hotline_12345")  # a redelivery: the same answer
    assert isinstance(again, Rejected) and again.replies == refused.replies


@pytest.mark.parametrize("topic", ["gridflow.reports.nobody", "gridflow.reports.s.urban"])
def test_a_report_topic_of_no_channel_is_refused(small_site: Site, topic: str) -> None:
    refused = through(small_site, topic)
    assert isinstance(refused, Rejected) and refused.reason is RejectionReason.UNKNOWN_TYPE


def test_a_channel_may_write_its_own_report_topic_alone(small_site: Site) -> None:
    writes = {
        (g.principal, g.name)
        for g in grants(small_site, ["intake"])
        if g.operation == "write" and g.name.startswith(REPORT_PREFIX)
    }
    channels = [s for s in small_site.senders if s.channel is not None]
    assert writes == {(s.id, report_topic(s.id).name) for s in channels}
    reads = [g for g in grants(small_site, ["intake"]) if g.name == REPORT_PREFIX]
    assert [(g.principal, g.operation, g.pattern) for g in reads] == [
        ("gridflow.intake", "read", "prefixed")
    ]


def test_two_senders_for_one_channel_are_refused_at_load(small_site: Site) -> None:
    from schemas.catalogue import Sender, SenderRole

    twice = Sender(id="web-2", name="Web again", role=SenderRole.CHANNEL, channel=Channel.WEB)
    data = small_site.model_dump() | {"senders": [*small_site.senders, twice]}
    with pytest.raises(ValueError, match="channel web: more than one sender speaks for it"):
        Site.model_validate(data)

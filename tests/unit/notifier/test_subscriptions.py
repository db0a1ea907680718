"""The subscriptions file: validation with clear errors, env expansion, unit webhooks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from notifier import subscriptions
from notifier.subscriptions import (
    DEFAULT_SUBSCRIPTIONS,
    ResidentRoute,
    Subscriber,
    SubscriptionError,
    load_subscriptions,
)
from schemas.catalogue import Site
from schemas.reports import Channel, Tier
from schemas.urls import is_web_url

GOOD = """
subscribers:
  - id: ops.desk_1
    url: https://ops.test/hook?token=${OPS_TOKEN}
    events: [case.escalated, case.closed]
    units: [s.urban]
    tiers: [street, district]
    secret_env: OPS_SECRET
  - id: plain
    url: http://plain.test/
    events: [case.assigned]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error(
    tmp_path: Path, text: str, site: Site | None = None, env: dict[str, str] | None = None
) -> str:
    with pytest.raises(SubscriptionError) as info:
        load_subscriptions(write(tmp_path, text), site=site, env=env or {})
    return str(info.value)


def test_good_file_resolves(tmp_path: Path, small_site: Site) -> None:
    env = {"OPS_TOKEN": "t0k", "OPS_SECRET": "s3cret", "URBAN_TOKEN": "u"}
    subs = load_subscriptions(write(tmp_path, GOOD), site=small_site, env=env)
    ops, plain = subs.subscribers
    assert ops == Subscriber(
        id="ops.desk_1",
        url="https://ops.test/hook?token=t0k",
        events=frozenset({"case.escalated", "case.closed"}),
        units=frozenset({"s.urban"}),
        tiers=frozenset({Tier.STREET, Tier.DISTRICT}),
    )
    assert ops.secret == "s3cret"
    assert (plain.units, plain.tiers, plain.secret) == (None, None, None)
    # the site's unit with a webhook is a party, reached there when an audience names it
    unit = subs.parties["s.urban"]
    assert unit.id == "unit.s.urban" and unit.url == "http://units.test/u"
    assert subs.skipped == ()
    assert subs.audiences == {}  # this file says nothing of audiences


def test_unset_variables_skip_the_subscriber_with_a_warning(
    tmp_path: Path, small_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="notifier.subscriptions")
    subs = load_subscriptions(write(tmp_path, GOOD), site=small_site, env={"OPS_TOKEN": "t"})
    assert [s.id for s in subs.subscribers] == ["plain"]
    assert subs.skipped == ("ops.desk_1", "unit.s.urban")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "OPS_SECRET" in messages and "URBAN_TOKEN" in messages
    assert "t0k" not in messages


def test_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    subs = load_subscriptions(write(tmp_path, GOOD), env={"OPS_TOKEN": "", "OPS_SECRET": "x"})
    assert subs.skipped == ("ops.desk_1",)


def test_bundled_example_is_off_until_its_variable_is_set(site: Site) -> None:
    off = load_subscriptions(DEFAULT_SUBSCRIPTIONS, site=site, env={})
    assert off.subscribers == () and "operations" in off.skipped
    assert set(off.skipped) == {"operations", "sender.zs.supervise", "sender.zs.approve"}
    on = load_subscriptions(site=site, env={"GRIDFLOW_OPS_WEBHOOK": "https://ops.test/x"})
    [ops] = on.subscribers
    assert (ops.url, ops.events) == (
        "https://ops.test/x",
        frozenset({"case.escalated", "deadline.reminder"}),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "subscribers: [{id: a, url: 'http://a', events: [case.opened]}]",
            "subscribers.0.events: Value error, unknown event types ['case.opened']",
        ),
        (
            "subscribers: [{id: A!, url: 'http://a', events: [case.closed]}]",
            "subscribers.0.id: String should match pattern",
        ),
        (
            "subscribers: [{id: a, url: 'http://a', events: []}]",
            "subscribers.0.events: List should have at least 1 item",
        ),
        (
            "subscribers: [{id: a, url: 'http://a', event: [case.closed]}]",
            "subscribers.0.event: Extra inputs are not permitted",
        ),
        (
            "subscribers: [{id: a, url: 'http://a', events: [case.closed], tiers: [county]}]",
            "subscribers.0.tiers.0: Input should be 'grid'",
        ),
        (
            "subscribers: [{id: unit.x, url: 'http://a', events: [case.closed]}]",
            "reserved for parties",
        ),
        (
            "subscribers: [{id: a, url: 'http://a', events: [case.closed], secret_env: 'a b'}]",
            "subscribers.0.secret_env: String should match pattern",
        ),
        (
            "subscribers:\n - {id: a, url: 'http://a', events: [case.closed]}\n"
            " - {id: a, url: 'http://b', events: [case.closed]}",
            "duplicate subscriber ids: ['a']",
        ),
        (
            "audiences: {deadline.lapsed: [holder]}",
            "audiences: Value error, unknown event types ['deadline.lapsed']",
        ),
        ("audiences: {case.closed: [mayor]}", "audiences.case.closed.0: Input should be"),
        (
            "resident: {channels: {telegram: [sms]}}",
            "resident.channels.telegram.[key]: Input should be",
        ),
        ("resident: {channels: {web: [fax]}}", "resident.channels.web.0: Input should be"),
        (
            "delivery: {retry: {max_attempts: 0}}",
            "delivery.retry.max_attempts: Input should be greater than or equal to 1",
        ),
        (
            "endpoints:\n - {party: a, url: 'http://a'}\n - {party: a, url: 'http://b'}",
            "duplicate endpoint parties: ['a']",
        ),
        ("subscribers: {id: a}", "subscribers: Input should be a valid list"),
    ],
)
def test_invalid_files_say_where_and_why(tmp_path: Path, text: str, expected: str) -> None:
    message = error(tmp_path, text)
    assert expected in message
    assert "subs.yaml" in message


@pytest.mark.parametrize("url", ["ftp://a.test/", "a.test/hook", "http://", "http://a b/"])
def test_urls_must_be_http_once_expanded(tmp_path: Path, url: str) -> None:
    text = f"subscribers: [{{id: a, url: '{url}', events: [case.closed]}}]"
    assert "a: url must be an http(s) URL" in error(tmp_path, text)
    expanded = "subscribers: [{id: a, url: '${U}', events: [case.closed]}]"
    assert "a: url must be" in error(tmp_path, expanded, env={"U": url})


def test_urls_are_checked_by_the_check_intake_uses() -> None:
    assert subscriptions.is_web_url is is_web_url  # one copy, in schemas.urls


def test_unit_filter_is_checked_against_the_site(tmp_path: Path, small_site: Site) -> None:
    text = "subscribers: [{id: a, url: 'http://a.test', events: [case.closed], units: [zz]}]"
    assert "a: units ['zz'] are not in site tiny" in error(tmp_path, text, site=small_site)
    assert load_subscriptions(write(tmp_path, text), env={}).subscribers  # no site: unchecked


def test_unit_webhooks_can_be_disabled_or_signed(tmp_path: Path, small_site: Site) -> None:
    off = load_subscriptions(
        write(tmp_path, "unit_webhooks: {enabled: false}"),
        site=small_site,
        env={"URBAN_TOKEN": "u"},
    )
    assert off.parties == {}
    signed_text = "unit_webhooks: {secret_env: UNIT_SECRET}"
    env = {"URBAN_TOKEN": "u", "UNIT_SECRET": "k"}
    subs = load_subscriptions(write(tmp_path, signed_text), site=small_site, env=env)
    assert subs.parties["s.urban"].secret == "k"
    assert subs.secret_for("unit.s.urban") == "k"


def test_endpoints_name_parties_of_the_site(tmp_path: Path, small_site: Site) -> None:
    text = """
endpoints:
  - {party: d.supervise, url: 'http://sup.test/${SUP}', secret_env: SUP_KEY}
  - {party: s.urban, url: 'http://override.test/'}
"""
    env = {"SUP": "x", "SUP_KEY": "k", "URBAN_TOKEN": "u"}
    subs = load_subscriptions(write(tmp_path, text), site=small_site, env=env)
    sup, urban = subs.parties["d.supervise"], subs.parties["s.urban"]
    assert (sup.id, sup.url, sup.secret) == ("sender.d.supervise", "http://sup.test/x", "k")
    assert urban.url == "http://override.test/"  # the file's endpoint replaces the catalogue's
    bad = "endpoints: [{party: nobody, url: 'http://a.test'}]"
    assert "endpoint nobody: no unit or sender of that id" in error(tmp_path, bad, small_site)


def test_callbacks_need_their_secret(tmp_path: Path) -> None:
    text = """
audiences: {case.closed: [resident]}
resident:
  channels: {hotline_12345: [callback, sms]}
  callback_secret_env: CB_KEY
"""
    off = load_subscriptions(write(tmp_path, text), env={})
    assert off.resident == {Channel.HOTLINE_12345: (ResidentRoute.SMS,)}
    on = load_subscriptions(write(tmp_path, text), env={"CB_KEY": "k"})
    assert on.resident == {Channel.HOTLINE_12345: (ResidentRoute.CALLBACK, ResidentRoute.SMS)}
    assert on.secret_for("resident") == "k" and on.tells_residents


def test_the_bundled_file_tells_who_hears_what(site: Site) -> None:
    subs = load_subscriptions(site=site, env={})
    a = {event: [x.value for x in who] for event, who in subs.audiences.items()}
    assert a["case.assigned"] == ["unit"]
    assert a["deadline.warning"] == ["holder"]
    assert a["case.escalated"] == ["holder", "supervisor"]
    for event in ("case.suspension_requested", "case.extension_requested", "case.returned"):
        assert a[event] == ["command_room"]
    assert a["case.closed"] == a["case.verified"] == ["resident"]
    assert subs.delivery.retry.span_seconds() > 4 * 3600  # retries over hours


def test_missing_empty_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(SubscriptionError, match="missing"):
        load_subscriptions(tmp_path / "nope.yaml", env={})
    assert load_subscriptions(write(tmp_path, ""), env={}).subscribers == ()
    assert "not valid YAML" in error(tmp_path, "subscribers: [")

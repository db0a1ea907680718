"""Deliveries over real servers on 127.0.0.1: the notifier's batch queues into the
outbox on PostgreSQL, the sender delivers to a webhook receiver that checks
signatures and fails on purpose for a while, to an SMTP server (aiosmtpd) and to an
SMS gateway over HTTP; dead letters are replayed; a receiver that hangs holds up
neither the others' deliveries nor the notifier's batches.

Schedules are seconds long here (the policy is data), so each test runs in seconds.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from notifier.core import Notifier
from notifier.mail import EmailTransport, SmtpConfig
from notifier.outbox import DeliveryPolicy, RateLimit, RetryPolicy
from notifier.ports import Contact, OutboxStatus, Transport
from notifier.sender import OutboxSender
from notifier.sms import SmsConfig, SmsTransport
from notifier.sql import SqlContacts, SqlOutbox
from notifier.subscriptions import Audience, ResidentRoute, Subscriber, Subscriptions
from notifier.webhook import WebhookTransport
from schemas.catalogue import Site
from schemas.envelope import Envelope
from schemas.notifications import NotificationChannel
from schemas.processing import Inbound
from schemas.reports import Channel
from storage.db import Transaction
from tests.support.receivers import Receiver, serve, sms_bodies, smtp_server
from tests.support.sites import tiny_site
from tests.unit.notifier.factories import NAME, PHONE, assigned, closed, received

pytestmark = pytest.mark.postgres

FAST = DeliveryPolicy(
    retry=RetryPolicy(first_seconds=0.3, factor=1.5, max_delay_seconds=1.0, max_attempts=20),
    rate=RateLimit(per_minute=10_000, concurrent=2),
    timeout_seconds=1.0,
)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def small_site() -> Site:
    return tiny_site()


def _assigned(n: int) -> Envelope:
    """Assignment ``n`` of a case of its own: a distinct event id each."""
    event = assigned()
    return event.model_copy(update={"event_id": f"00000000-0000-4000-8000-{n:012d}"})


def _queue(engine: Engine, subs: Subscriptions, site: Site, events: Sequence[Envelope]) -> float:
    """Run the notifier's batch over ``events`` in one transaction; its seconds."""
    tx = Transaction(engine)
    notifier = Notifier(subs, site, SqlOutbox(tx), SqlContacts(tx))
    started = time.perf_counter()
    with tx.begin():
        notifier.handle([Inbound(e, now()) for e in events])
    return time.perf_counter() - started


@contextlib.contextmanager
def running(
    engine: Engine,
    transports: dict[NotificationChannel, Transport],
    policy: DeliveryPolicy = FAST,
    concurrency: int = 8,
) -> Iterator[OutboxSender]:
    """The sender, on its own connection, in a thread until the block ends."""
    tx = Transaction(engine)
    sender = OutboxSender(
        SqlOutbox(tx), transports, policy, now, transaction=tx.begin, concurrency=concurrency
    )
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop, 0.05), daemon=True)
    thread.start()
    try:
        yield sender
    finally:
        stop.set()
        thread.join(10)
        sender.close(1)


def until(what: str, check: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not {what} within {timeout:.0f}s")


def rows(engine: Engine) -> list[Any]:
    tx = Transaction(engine)
    with tx.begin():
        return SqlOutbox(tx).rows(limit=10_000)


def webhook(subs: Subscriptions, timeout: float = 1.0) -> dict[NotificationChannel, Transport]:
    return {NotificationChannel.WEBHOOK: WebhookTransport(subs.secret_for, timeout)}


def test_webhooks_signed_fail_for_a_while_then_arrive_once_each(
    pg_engine: Engine, small_site: Site
) -> None:
    with serve(Receiver(secret="k3y", fail_until=time.monotonic() + 1.5)) as hooks:
        subs = Subscriptions(
            subscribers=(
                Subscriber("ops", hooks.url + "/ops", frozenset({"case.assigned"}), secret="k3y"),
            )
        )
        events = [_assigned(n) for n in range(10)]
        _queue(pg_engine, subs, small_site, events)
        _queue(pg_engine, subs, small_site, events)  # a redelivered batch queues nothing twice
        assert len(rows(pg_engine)) == 10
        with running(pg_engine, webhook(subs)):
            took = until("every delivery accepted", lambda: len(hooks.delivered()) == 10, 20)
        assert took >= 1.0  # they waited out the failures
        assert set(hooks.delivered().values()) == {1}  # once each by idempotency key
        failed = [h for h in hooks.hits if h.status == 503]
        assert failed and {h.key for h in failed} <= set(hooks.delivered())
        for key in hooks.delivered():  # a repeat carries the same key, a later attempt
            attempts = [int(h.attempt) for h in hooks.hits if h.key == key]
            assert attempts == sorted(attempts) and attempts[0] == 1
        assert all(r.status is OutboxStatus.DELIVERED for r in rows(pg_engine))


def test_a_wrong_key_is_refused_and_kept_as_a_dead_letter(
    pg_engine: Engine, small_site: Site
) -> None:
    with serve(Receiver(secret="right")) as hooks:
        subs = Subscriptions(
            subscribers=(
                Subscriber("ops", hooks.url, frozenset({"case.assigned"}), secret="wrong"),
            )
        )
        _queue(pg_engine, subs, small_site, [_assigned(1)])
        with running(pg_engine, webhook(subs)):
            until("dead-lettered", lambda: rows(pg_engine)[0].status is OutboxStatus.DEAD, 10)
        [row] = rows(pg_engine)
        assert (row.http_status, row.error, row.attempts) == (401, "HTTP 401 Unauthorized", 1)


def test_dead_letters_are_replayed_by_the_command(
    pg_engine: Engine, small_site: Site, tmp_path: Any
) -> None:
    """After the last try a delivery is a dead letter with its reason; gridflow notify
    replay (the command, on a database of its own) makes it pending again."""
    from typer.testing import CliRunner

    from services.cli import app
    from services.storage.migrate import upgrade
    from storage.db import make_engine

    url = f"sqlite:///{tmp_path / 'notify.db'}"
    engine = make_engine(url)
    upgrade(engine)
    policy = FAST.model_copy(update={"retry": RetryPolicy(first_seconds=0.1, max_attempts=2)})
    with serve(Receiver(status=503)) as hooks:
        subs = Subscriptions(
            subscribers=(Subscriber("ops", hooks.url, frozenset({"case.assigned"})),)
        )
        _queue(engine, subs, small_site, [_assigned(1), _assigned(2)])
        with running(engine, webhook(subs), policy):
            until("both dead", lambda: all(r.status is OutboxStatus.DEAD for r in rows(engine)), 10)
        assert {r.error for r in rows(engine)} == {"HTTP 503 Service Unavailable"}
        assert all(r.attempts == 2 for r in rows(engine))
        runner = CliRunner()
        env = {"GRIDFLOW_DATABASE_URL": url, "GRIDFLOW_LOG_FORMAT": "console"}
        listed = runner.invoke(app, ["notify", "outbox", "--status", "dead", "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        dead = [json.loads(line) for line in listed.output.splitlines()]
        assert [(d["status"], d["attempts"], d["http_status"]) for d in dead] == [
            ("dead", 2, 503)
        ] * 2
        hooks.status = 200
        replayed = runner.invoke(app, ["notify", "replay"], env=env)
        assert replayed.exit_code == 0 and "2 dead letter(s) queued again" in replayed.output
        with running(engine, webhook(subs), policy):
            until("replayed and delivered", lambda: len(hooks.delivered()) == 2, 10)
    assert all(r.status is OutboxStatus.DELIVERED for r in rows(engine))
    engine.dispose()


def _resident_rules(route: ResidentRoute) -> Subscriptions:
    return Subscriptions(
        audiences={"case.closed": (Audience.RESIDENT,)},
        resident={Channel.HOTLINE_12345: (route,), Channel.WEB: (route,)},
    )


def test_email_to_a_real_smtp_server(pg_engine: Engine, small_site: Site) -> None:
    subs = _resident_rules(ResidentRoute.EMAIL)
    tx = Transaction(pg_engine)
    with tx.begin():
        SqlContacts(tx).remember(
            {closed().case_id or "": Contact("web", PHONE, "wang@example.org", None, "W-9")}
        )
    _queue(pg_engine, subs, small_site, [closed()])
    with smtp_server() as box:
        config = SmtpConfig(host=box.host, port=box.port, sender="gridflow@example.org")
        with running(pg_engine, {NotificationChannel.EMAIL: EmailTransport(config)}):
            until("the email arrived", lambda: len(box.messages) == 1, 10)
            until("recorded", lambda: rows(pg_engine)[0].status is OutboxStatus.DELIVERED, 5)
        [message] = box.messages
        assert box.recipients == [["wang@example.org"]]
        assert message["Subject"] == "您反映的问题已办结"
        [row] = rows(pg_engine)
        assert message["Message-ID"] == f"<{row.entry.key}@gridflow>"
        text = message.get_content()
        assert "W-9" in text and "已办结" in text and NAME not in text


def test_sms_through_a_gateway_over_http(pg_engine: Engine, small_site: Site) -> None:
    subs = _resident_rules(ResidentRoute.SMS)
    _queue(pg_engine, subs, small_site, [received(), closed()])
    with serve(Receiver(status=200, fail_first=1)) as gateway:
        config = SmsConfig(
            url=gateway.url + "/send",
            auth="Authorization: Bearer gw-token",
            body_template='{"mobile": "{{phone}}", "content": "{{text}}", "ref": "{{key}}"}',
        )
        with running(pg_engine, {NotificationChannel.SMS: SmsTransport(config)}):
            until("the SMS accepted", lambda: len(sms_bodies(gateway)) == 1, 10)
        [body] = sms_bodies(gateway)
        [row] = rows(pg_engine)
        assert body == {"mobile": PHONE, "content": row.entry.body, "ref": row.entry.key}
        assert "已办结" in body["content"] and NAME not in body["content"]
        assert all(h.headers["Authorization"] == "Bearer gw-token" for h in gateway.hits)
        assert [h.status for h in gateway.hits] == [503, 200]  # a failure, then the retry


def test_a_hung_receiver_delays_neither_the_others_nor_the_notifier(
    pg_engine: Engine, small_site: Site
) -> None:
    """One receiver holds every request 20 s; the sender's timeout is 1 s. The other
    receivers get all of theirs while it hangs, and the notifier's batches take the
    same time with or without it."""
    with (
        serve(Receiver(hang_paths=frozenset({"/hung"}), hang_s=20)) as hung,
        serve(Receiver()) as fast_a,
        serve(Receiver()) as fast_b,
    ):
        subs = Subscriptions(
            subscribers=tuple(
                Subscriber(name, url, frozenset({"case.assigned"}))
                for name, url in (
                    ("hung", hung.url + "/hung"),
                    ("a", fast_a.url),
                    ("b", fast_b.url),
                )
            )
        )
        quiet = _queue(pg_engine, subs, small_site, [_assigned(n) for n in range(200)])
        with running(pg_engine, webhook(subs), concurrency=8) as sender:
            most = [0]

            def others_done() -> bool:
                most[0] = max(most[0], sender.busy(hung.url + "/hung"))
                return len(fast_a.delivered()) == 200 and len(fast_b.delivered()) == 200

            took = until("the others' deliveries", others_done, 15)
            # the notifier's batches, while the sender is busy and one receiver hangs
            busy = _queue(pg_engine, subs, small_site, [_assigned(n) for n in range(200, 400)])
            until("the new ones too", lambda: len(fast_a.delivered()) == 400, 15)
        print(
            f"\nothers' 400 deliveries in {took:.2f}s while one hung; batch of 200 "
            f"queued in {quiet * 1000:.0f} ms idle, {busy * 1000:.0f} ms busy"
        )
        assert took < 10  # 200 each: nowhere near 200 x the hung one's 1 s timeout
        assert busy < max(2.0, 5 * quiet)  # the batch never waits on a delivery
        # the hung address never had more than rate.concurrent (2) attempts at once
        assert 1 <= most[0] <= 2
        assert len(hung.delivered()) == 0
        stalled = [r for r in rows(pg_engine) if r.entry.address.endswith("/hung")]
        assert stalled and all(r.status is OutboxStatus.PENDING for r in stalled)
        assert any(r.error and "Timeout" in r.error for r in stalled)

"""The notifier's sender, wired: transports from the settings, the outbox on the
database, outcomes published on ``gridflow.notifications``.

It runs as a thread of ``gridflow run notifier`` (``GRIDFLOW_NOTIFY_SENDER_INLINE``,
the default), as its own process (``gridflow notify send``: any number of them, the
leases share the work), and inside the embedded runtime, which drains it after
each pump on the pipeline's clock. The delivery itself is
:class:`notifier.sender.OutboxSender`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from notifier.mail import EmailTransport, SmtpConfig
from notifier.ports import Transport
from notifier.sender import OutboxSender
from notifier.sms import DEFAULT_BODY, SmsConfig, SmsTransport
from notifier.sql import SqlOutbox
from notifier.subscriptions import Subscriptions
from notifier.webhook import WebhookTransport
from schemas.codec import encode, encode_key
from schemas.notifications import NotificationChannel, NotificationRecorded
from schemas.topics import NOTIFICATIONS
from services.metrics import Metrics
from services.runtime.batch import Outgoing, Sink
from services.settings import Settings
from storage.db import Transaction

log = logging.getLogger(__name__)


def transports(
    settings: Settings, subscriptions: Subscriptions
) -> dict[NotificationChannel, Transport]:
    """A transport per configured channel: webhooks always; email and SMS when set."""
    timeout = subscriptions.delivery.timeout_seconds
    out: dict[NotificationChannel, Transport] = {
        NotificationChannel.WEBHOOK: WebhookTransport(subscriptions.secret_for, timeout)
    }
    if settings.smtp_host:
        out[NotificationChannel.EMAIL] = EmailTransport(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                tls=settings.smtp_tls,
                username=settings.smtp_username,
                password=settings.smtp_password,
                timeout=timeout,
            )
        )
    if settings.sms_gateway_url:
        out[NotificationChannel.SMS] = SmsTransport(
            SmsConfig(
                url=settings.sms_gateway_url,
                auth=settings.sms_gateway_auth,
                body_template=settings.sms_body_template or DEFAULT_BODY,
                timeout=timeout,
            )
        )
    return out


def publisher(
    sink: Sink, metrics: Metrics | None = None
) -> Callable[[Sequence[NotificationRecorded]], None]:
    """Publishes the sender's outcomes, counted in ``metrics`` once acknowledged
    (``gridflow_notification_deliveries_total``); a failure is logged, the deliveries
    stand."""

    def publish(records: Sequence[NotificationRecorded]) -> None:
        messages = [Outgoing(NOTIFICATIONS.name, encode_key(r.case_id), encode(r)) for r in records]
        try:
            sink.send(messages)
            sink.flush()
        except Exception:
            log.warning(
                "delivery records not published",
                extra={"processor": "notifier", "records": len(records)},
                exc_info=True,
            )
            return
        if metrics is not None:
            for record in records:
                metrics.published("notifier", NOTIFICATIONS.name, record)

    return publish


def build_sender(
    engine: Engine,
    settings: Settings,
    subscriptions: Subscriptions,
    now: Callable[[], datetime],
    sink: Sink | None = None,
    name: str = "sender",
    metrics: Metrics | None = None,
) -> OutboxSender:
    tx = Transaction(engine)  # its own connection: the batches keep theirs

    @contextlib.contextmanager
    def transaction() -> Iterator[Any]:
        with tx.begin() as conn:
            yield conn

    return OutboxSender(
        SqlOutbox(tx),
        transports(settings, subscriptions),
        subscriptions.delivery,
        now,
        transaction=transaction,
        concurrency=settings.notify_concurrency,
        lease_seconds=settings.notify_lease_seconds,
        publish=publisher(sink, metrics) if sink is not None else None,
        name=name,
    )


class SenderThread:
    """The sender as a thread beside the notifier's loop; :meth:`stop` ends it."""

    def __init__(self, sender: OutboxSender, idle_seconds: float) -> None:
        self.sender = sender
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=sender.run, args=(self.stopping, idle_seconds), name="gridflow-sender"
        )
        self.thread.daemon = True

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)
        self.sender.close()


def run_alone(settings: Settings) -> None:
    """``gridflow notify send``: the sender as its own process, until SIGTERM or SIGINT."""
    from notifier.subscriptions import load_subscriptions
    from schemas.access import processor_principal
    from schemas.catalogue import load_site
    from services.runtime.clients import make_sink
    from services.runtime.clock import SystemClock
    from services.runtime.names import Names
    from services.runtime.security import client_security
    from services.storage.migrate import upgrade
    from storage.db import make_engine

    site = load_site(settings.site)
    subscriptions = load_subscriptions(settings.subscriptions, site)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    names = Names(settings.namespace)
    client_id = f"{names.group('notifier')}-sender-{socket.gethostname()}-{os.getpid()}"
    sink = make_sink(
        settings.kafka_client,
        settings.kafka_bootstrap,
        client_id,
        names,
        client_security(processor_principal("notifier")),
    )
    clock = SystemClock(site.tz)
    sender = build_sender(engine, settings, subscriptions, clock.now, sink, name="sender")
    stopping = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        sender.run(stopping, settings.notify_idle_seconds)
    finally:
        sender.close()
        sink.close()
        engine.dispose()

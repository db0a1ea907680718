"""Bootstrap: each processor's logic built with its adapters. The one place where
logic meets storage and delivery, shared by both runtimes.
"""

from __future__ import annotations

from contextlib import ExitStack

from notifier.subscriptions import Subscriptions, load_subscriptions
from schemas.catalogue import Site
from services.runtime.processor import Processor
from services.storage.db import Transaction


def build_processor(
    name: str,
    *,
    site: Site,
    tx: Transaction,
    resources: ExitStack,
    subscriptions: Subscriptions | None = None,
) -> Processor:
    """The processor ``name`` with its SQL adapters on ``tx``; what needs closing
    (the notifier's HTTP client) is registered on ``resources``."""
    if name == "intake":
        from intake.core import Intake

        return Intake(site)
    if name == "router":
        from router.core import Router
        from router.sql import SqlCaseStore

        return Router(site, SqlCaseStore(tx))
    if name == "escalator":
        from escalator.calendar import WorkingCalendar
        from escalator.core import Escalator
        from escalator.sql import SqlDeadlineStore

        calendar = WorkingCalendar(
            extra_holidays=site.deadlines.holidays, extra_workdays=site.deadlines.workdays
        )
        return Escalator(site, calendar, SqlDeadlineStore(tx))
    if name == "notifier":
        from notifier.core import Notifier
        from notifier.webhook import WebhookSender

        subs = subscriptions if subscriptions is not None else load_subscriptions(None, site)
        sender = resources.enter_context(WebhookSender())
        return Notifier(subs, site, sender)
    if name == "archive":
        from archive.core import Archive
        from archive.sql import SqlArchiveStore

        return Archive(SqlArchiveStore(tx))
    raise ValueError(f"no processor named {name!r}")

"""The notifier: tells units, supervisors, command rooms and residents what happened.

It reads ``gridflow.cases.received`` (a resident's contact, kept until closure),
``gridflow.cases.events`` and ``gridflow.deadlines``; decides who hears what
(:func:`notifier.core.plan`, the ``audiences`` of the subscriptions file); and
records each delivery in its outbox in the batch's transaction, publishing
``notification.recorded`` (``queued``). The sender (:mod:`notifier.sender`)
delivers from the outbox: signed webhooks (:mod:`notifier.webhook`,
:mod:`notifier.signing`), email (:mod:`notifier.mail`) and SMS
(:mod:`notifier.sms`), concurrently, with retries over hours and a rate limit per
address; after the last try a delivery is a dead letter with its reason, and
``gridflow notify replay`` sends it again. The words come from Jinja2 templates in
Chinese (:mod:`notifier.messages`, ``notifier/templates``).
"""

from notifier.core import Notifier, plan
from notifier.ports import Outbox, OutboxEntry, Transport
from notifier.subscriptions import Subscriptions, load_subscriptions

__all__ = [
    "Notifier",
    "Outbox",
    "OutboxEntry",
    "Subscriptions",
    "Transport",
    "load_subscriptions",
    "plan",
]

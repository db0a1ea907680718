"""The notifier: tells units and supervisors what happened to cases, over webhooks.

It reads ``gridflow.cases.events`` and ``gridflow.deadlines``, plans one
notification per interested subscriber (:func:`notifier.core.plan`), delivers it
with retries, and records every outcome on ``gridflow.notifications``: after
``max_attempts`` a delivery is recorded as failed (``notification.recorded``,
status ``failed``), never silently lost, and not retried later (an outbox that
retries over a longer period is future work).

Templates: ``assignment`` (case.assigned), ``escalation`` and ``supervision``
(case.escalated, the latter when no tier is left above: 督办),
``deadline_warning`` (deadline.warning), ``supervision_reminder`` (deadline.reminder:
a case lapsed at the top tier, still open, its holder pressed again), ``closure``
(case.closed).

Who hears what is configured in a subscriptions file
(:mod:`notifier.subscriptions`, example ``notifier/subscriptions.yaml``).
"""

from notifier.core import Notifier, plan
from notifier.ports import Notification, Sender
from notifier.subscriptions import Subscriptions, load_subscriptions

__all__ = ["Notification", "Notifier", "Sender", "Subscriptions", "load_subscriptions", "plan"]

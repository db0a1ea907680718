"""The escalator's own metric: deadlines counted on a provisional calendar.

Declared here, unregistered, so that the logic can count without knowing the
process's registry; ``services.metrics.Metrics`` registers it on its own
(``registry.register(PROVISIONAL_DEADLINES)``). A collector may sit on several
registries, so each process, and each test's registry, sees it.
"""

from __future__ import annotations

from prometheus_client import Counter

PROVISIONAL_DEADLINES = Counter(
    "gridflow_provisional_deadlines",
    "Deadlines armed on a provisional calendar (a day counted from a year no official "
    "schedule covered: the statutory holidays alone), by kind; and those rescheduled "
    "once the schedule was known (event rescheduled).",
    ["event", "kind"],
    registry=None,
)
"""``event`` is ``armed`` or ``rescheduled``; ``kind`` the deadline's kind."""

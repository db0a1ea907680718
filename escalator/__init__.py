"""The escalator: keeps every case's deadlines on the working calendar and reports
the ones that are near or have lapsed (``gridflow.deadlines``)."""

from escalator.calendar import WorkingCalendar
from escalator.core import Escalator
from escalator.ports import Deadline, DeadlineStore

__all__ = ["Deadline", "DeadlineStore", "Escalator", "WorkingCalendar"]

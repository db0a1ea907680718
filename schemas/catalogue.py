"""The site catalogue: jurisdictions, units, categories and deadline policies.

Each place has its own catalogue (there is no national list), so it is data, not
code: a directory of YAML files validated here at load. Intake checks codes
against it, the router routes by it, the escalator reads its deadline policies.

Files in a site directory: ``site.yaml`` (id, name, timezone, routing,
deadlines), ``jurisdictions.yaml``, ``units.yaml``, ``categories.yaml``, and
``senders.yaml``: who sends commands besides the units (verifiers, supervisors,
the residents' channels), see :mod:`schemas.access`; optionally ``calendar.yaml``,
holiday notices published since the release (:mod:`schemas.calendar`), and
``boundaries.geojson``, the polygons that place a report given as a point
(:mod:`schemas.geo`).

Grids may nest (seed 001's street has three levels of them): a grid's parent is a
community, or another grid. A nested grid with no unit of its own is served by the
nearest grid above it that has one (:meth:`Site.serving`); the router's ladder
still climbs by tier, so a grid-tier case escalates to the community.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import date, time
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from schemas.calendar import SITE_CALENDAR_FILE, CalendarError, Schedule, load_schedule
from schemas.cases import DeadlineKind, Limit, LimitUnit
from schemas.edges import CategoryCode, Name, PlaceId
from schemas.envelope import Model
from schemas.geo import BOUNDARIES_FILE, GeoError, GridMap, Located, read_geojson
from schemas.geo import build as build_map
from schemas.reports import CaseFacts, Channel, RequestType, Tier, Urgency
from schemas.topics import assignment_topic, command_topic

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BUNDLED_SITES = Path(__file__).parent / "sites"
DEFAULT_SITE = BUNDLED_SITES / "zhuangshi"


PROCESSOR_PRINCIPAL_PREFIX = "gridflow."
"""A processor's Kafka principal is this and its name (``gridflow.router``)."""


T = TypeVar("T")
MEMO_SIZE = 10_000
"""Most keys :meth:`Site.memo` keeps: about 20 MiB of routing decisions at most."""


class CatalogueError(ValueError):
    """A site catalogue that cannot be loaded, with every reason found."""


class GridKind(StrEnum):
    """What a grid covers (seed 004 counts both): households, or one big place."""

    GENERAL = "general"  # 一般网格: streets and housing, by households
    DEDICATED = "dedicated"  # 专属网格: one school, hospital, market, park or enterprise zone


class Jurisdiction(Model):
    """A place at one tier: a grid, community, street, district or city.

    Its parent is the place one tier up; a grid's may also be a grid (nested grids).
    """

    id: PlaceId  # the wire's jurisdiction_id and grid_id: the catalogue holds what they can
    name: Name
    tier: Tier
    parent: str | None = None
    kind: GridKind | None = Field(default=None, description="Grids only: general or dedicated.")


class Unit(Model):
    """Someone cases can be assigned to: a grid leader, a station, a department."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")  # and it must name a topic: see below
    name: Name  # an assignment carries it
    jurisdiction: str
    unit_types: list[str] = Field(min_length=1)
    default: bool = Field(
        default=False,
        description="The jurisdiction's catch-all unit (grid leader, community station, "
        "street command room, district command centre).",
    )
    webhook: str | None = Field(default=None, description="Where the notifier posts its work.")


class SenderRole(StrEnum):
    """What a sender of commands is; :data:`schemas.access.PERMISSIONS` says what each may do."""

    UNIT = "unit"  # a unit of units.yaml: works the cases it holds
    VERIFIER = "verifier"  # checks the handling on site (核查): a command room, a grid leader
    SUPERVISOR = "supervisor"  # supervises (督办) the cases of its jurisdiction
    APPROVER = "approver"  # a command room: decides holders' suspensions and extensions,
    # and dispatches the cases of its dispatch queue (人工分拨)
    CHANNEL = "channel"  # the residents' channel (the 12345 hotline...): passes on ratings


class Sender(Model):
    """Someone who sends commands: a unit, or one of ``senders.yaml``.

    Its id is its Kafka principal and names its topics: it writes
    ``gridflow.commands.<id>`` and reads its view (a unit's assignment topic,
    anyone else's ``gridflow.replies.<id>``).
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: Name
    role: SenderRole
    jurisdiction: str | None = Field(
        default=None,
        description="Verifiers, supervisors and approvers: where they act (its subtree).",
    )
    channel: Channel | None = Field(
        default=None, description="Channel senders: the channel whose reports they rate."
    )


class Category(Model):
    """A kind of matter, and which tier's and department type's duty it is."""

    code: CategoryCode
    name: str
    name_zh: str
    group: str = Field(description="The major class (大类) it belongs to.")
    tier: Tier = Field(description="The lowest tier whose duty it is.")
    unit_type: str
    co_handlers: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Department types that co-handle it (协办) beside the lead (主办, "
        "unit_type): each the unit of its type serving the case's grid at the lead's tier "
        "(else one tier up).",
    )


class RoutingMode(StrEnum):
    STEPWISE = "stepwise"  # the ladder (000, 004): beyond-street matters enter at the street
    FLAT = "flat"  # Yichang (002): straight to the owning unit, skipping levels


class TierDeadlines(Model):
    """Working-day limits for a unit at one tier. 0 means by the end of the same working day."""

    accept: int = Field(
        ge=0,
        description="Working days to accept (受理). A matter beyond this tier's duties has "
        "no accept limit: only its refer deadline is armed.",
    )
    resolve: int = Field(ge=0, description="Working days to handle (办结).")
    refer: int = Field(ge=0, description="Working days to report a matter beyond this tier up.")
    dispatch: int = Field(
        default=0,
        ge=0,
        description="Working days a command room of this tier has to assign a case of its "
        "dispatch queue (人工分拨); 0, the default, is the same-day acceptance rule (当天受理) "
        "applied to the room.",
    )

    def limit(self, kind: DeadlineKind) -> Limit:
        return Limit(amount=getattr(self, kind.value), unit=LimitUnit.WORKING_DAYS)


def _limit(value: Any) -> Any:
    """A limit as site.yaml writes it: ``{hours: 2}``, ``{working_days: 3}``,
    ``{calendar_days: 7}`` (exactly one unit), or a bare number of working days."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"amount": value, "unit": LimitUnit.WORKING_DAYS.value}
    if isinstance(value, dict) and len(value) == 1:
        ((unit, amount),) = value.items()
        if unit in {u.value for u in LimitUnit}:
            return {"amount": amount, "unit": unit}
    if isinstance(value, dict) and set(value) <= {"amount", "unit"}:
        return value
    raise ValueError(
        "a limit is one of {working_days: N}, {calendar_days: N}, {hours: N} or a number "
        "of working days"
    )


class Precedence(StrEnum):
    """What an override matches on, most specific first: the one that decides a limit.

    For each clock, the override of the first level here that matches the case and
    sets that clock's limit wins; within a level, the one whose jurisdiction is
    nearest the case's grid. No override: the holding tier's own limit.
    """

    URGENCY = "urgency"  # urgent matters: the tightest regime, whatever the matter
    JURISDICTION_CATEGORY = "jurisdiction+category"
    CATEGORY = "category"
    JURISDICTION_REQUEST_TYPE = "jurisdiction+request_type"
    REQUEST_TYPE = "request_type"
    JURISDICTION = "jurisdiction"

    @property
    def rank(self) -> int:
        return list(Precedence).index(self)


class Override(Model):
    """Limits that replace the holding tier's own for the cases an override matches.

    It matches on urgency alone, or on categories, a request type and a jurisdiction
    (a case matches when its grid lies within it), in the combinations of
    :class:`Precedence`; it sets any of the accept, resolve and refer limits, each
    in its own unit. A clock it does not set is decided by the next override down,
    or the tier.
    """

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        max_length=64,
        description="Named in every clock it sets (Due.policy, the deadline messages).",
    )
    urgency: Urgency | None = None
    categories: list[CategoryCode] = Field(default_factory=list)
    request_type: RequestType | None = None
    jurisdiction: PlaceId | None = None
    accept: Limit | None = None
    resolve: Limit | None = None
    refer: Limit | None = None

    @field_validator("accept", "resolve", "refer", mode="before")
    @classmethod
    def _a_limit(cls, value: Any) -> Any:
        return value if value is None else _limit(value)

    @model_validator(mode="after")
    def _one_level(self) -> Override:
        _ = self.precedence  # raises for a combination with no level
        if all(self.limit(k) is None for k in _OVERRIDDEN):
            raise ValueError(f"override {self.name}: sets no limit (accept, resolve, refer)")
        return self

    @property
    def precedence(self) -> Precedence:
        has = (bool(self.categories), self.request_type is not None, self.jurisdiction is not None)
        if self.urgency is not None:
            if any(has):
                raise ValueError(f"override {self.name}: urgency is matched alone")
            return Precedence.URGENCY
        levels = {
            (True, False, True): Precedence.JURISDICTION_CATEGORY,
            (True, False, False): Precedence.CATEGORY,
            (False, True, True): Precedence.JURISDICTION_REQUEST_TYPE,
            (False, True, False): Precedence.REQUEST_TYPE,
            (False, False, True): Precedence.JURISDICTION,
        }
        if has not in levels:
            raise ValueError(
                f"override {self.name}: matches on urgency, categories, request_type or "
                f"jurisdiction, in one of the combinations {[p.value for p in Precedence]}"
            )
        return levels[has]

    def limit(self, kind: DeadlineKind) -> Limit | None:
        return getattr(self, kind.value) if kind in _OVERRIDDEN else None


_OVERRIDDEN = (DeadlineKind.ACCEPT, DeadlineKind.RESOLVE, DeadlineKind.REFER)


class Warnings(Model):
    """When the holder is warned that a clock runs out: each moment once, in order.

    A moment at or before the clock's start, or at or after its end, is left out
    (an hour clock has no last day to speak of when it ends the day it began).
    """

    shares: list[float] = Field(
        default_factory=list,
        max_length=8,
        description="Shares of the limit's elapsed time (0 < share < 1): 0.5 is halfway.",
    )
    last_day: bool = Field(
        default=False, description="At 00:00 of the day the clock runs out (the site's zone)."
    )
    before_hours: float | None = Field(
        default=None, ge=0, description="That many hours before the due time."
    )

    @model_validator(mode="after")
    def _shares(self) -> Warnings:
        if any(not 0 < x < 1 for x in self.shares):
            raise ValueError(f"warning shares must lie between 0 and 1: {self.shares}")
        if sorted(set(self.shares)) != self.shares:
            raise ValueError(f"warning shares must increase: {self.shares}")
        return self


LEGACY_WARN_BEFORE_HOURS = 4.0
"""The one warning of a site that says nothing about warnings: 4 hours before (as before)."""


class Deadlines(Model):
    business_hours_end: time | None = Field(
        default=None, description="A day ends here instead of at 24:00 (Civil Code art. 203)."
    )
    warn_before_hours: float | None = Field(
        default=None,
        ge=0,
        description="The older form of warnings.before_hours: one warning that many hours "
        "before the due time. Not with warnings. Neither: 4 hours.",
    )
    warnings: Warnings | None = None
    tiers: dict[Tier, TierDeadlines]
    overrides: list[Override] = Field(
        default_factory=list,
        description="Limits per urgency, category, request type and jurisdiction, over the "
        "tiers' (precedence: Precedence).",
    )
    reminder_every: Limit | None = Field(
        default=None,
        description="After a lapse at the top tier, the holder is reminded on this period "
        "until the case closes (deadline.reminder). None: no reminders.",
    )
    holidays: list[date] = Field(
        default_factory=list,
        description="Local days off added to the official calendar: a local holiday. A "
        "State Council notice goes in calendar.yaml instead, which makes its year official.",
    )
    workdays: list[date] = Field(
        default_factory=list,
        description="Local working days added to the official calendar. A notice's make-up "
        "working days (调休) go in calendar.yaml instead.",
    )

    @field_validator("reminder_every", mode="before")
    @classmethod
    def _a_limit(cls, value: Any) -> Any:
        return value if value is None else _limit(value)

    @model_validator(mode="after")
    def _every_tier(self) -> Deadlines:
        missing = [t.value for t in Tier if t not in self.tiers]
        if missing:
            raise ValueError(f"deadlines missing for tiers {missing}")
        return self

    @model_validator(mode="after")
    def _calendar_consistent(self) -> Deadlines:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            days = [d.isoformat() for d in both]
            raise ValueError(f"dates both holidays and workdays: {days}")
        return self

    @model_validator(mode="after")
    def _policies_consistent(self) -> Deadlines:
        if self.warnings is not None and self.warn_before_hours is not None:
            raise ValueError("warn_before_hours is the older form of warnings: give one")
        every = self.reminder_every
        if every is not None and every.amount == 0 and every.unit is LimitUnit.HOURS:
            raise ValueError("reminder_every must be a period: 0 hours is none")
        names = [o.name for o in self.overrides]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate override names: {dupes}")
        return self

    @property
    def warning(self) -> Warnings:
        """The warning policy, the older ``warn_before_hours`` read as its one moment."""
        if self.warnings is not None:
            return self.warnings
        hours = self.warn_before_hours
        return Warnings(before_hours=LEGACY_WARN_BEFORE_HOURS if hours is None else hours)


class DuplicatePolicy(Model):
    """site.yaml's ``duplicates:``: a report of the same category within ``distance_m``
    metres and ``within_hours`` of an open case is linked to it as a duplicate (重复件),
    not dispatched again (router/duplicates.py). Without it no report is a duplicate."""

    distance_m: float = Field(gt=0, le=5000, description="Metres between the two points.")
    within_hours: float = Field(
        gt=0, le=24 * 90, description="Hours between the two reports' times."
    )


class RoutingOverride(Model):
    """A jurisdiction's own rule for some categories (or all), over the site's.

    For a case whose grid lies within ``jurisdiction`` and whose category it names
    (none named: every category), the category is owned by ``unit_type`` at ``tier``
    instead of the catalogue's, and routed in ``mode`` instead of the site's. Of
    several that match, the one whose jurisdiction is nearest the grid wins, and at
    one jurisdiction the one that names the category (:meth:`Site.routing_override`).
    """

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        max_length=64,
        description="Named in the explanation of every assignment it shapes.",
    )
    jurisdiction: PlaceId
    categories: list[CategoryCode] = Field(
        default_factory=list, description="The categories it applies to; none: every one."
    )
    unit_type: str | None = Field(default=None, description="The owning department type.")
    tier: Tier | None = Field(default=None, description="The tier whose duty it is.")
    mode: RoutingMode | None = Field(default=None, description="Stepwise or flat, here.")

    @model_validator(mode="after")
    def _changes_something(self) -> RoutingOverride:
        if self.unit_type is None and self.tier is None and self.mode is None:
            raise ValueError(f"routing override {self.name}: sets none of unit_type, tier, mode")
        return self


class Routing(Model):
    mode: RoutingMode = RoutingMode.STEPWISE
    entry_tier: Tier = Field(
        default=Tier.STREET,
        description="Stepwise mode: matters owned above this tier enter here and are referred up.",
    )
    max_returns: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Returns (退回) a case may have before it goes to the command room's "
        "dispatch queue (人工分拨) instead of on to the next unit; 0 queues at the first.",
    )
    overrides: list[RoutingOverride] = Field(
        default_factory=list,
        description="Per-jurisdiction rules: another owner type, tier or mode for some "
        "categories in a street, district, community or grid.",
    )


class Site(Model):
    id: str
    name: str
    label: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
        description="site.yaml's ``version:``: a human label put before the digest in "
        "Site.version (e.g. 2026.03).",
    )
    timezone: str = "Asia/Shanghai"
    routing: Routing = Routing()
    deadlines: Deadlines
    duplicates: DuplicatePolicy | None = None
    jurisdictions: list[Jurisdiction]
    units: list[Unit]
    categories: list[Category]
    senders: list[Sender] = Field(default_factory=list)
    calendar: Schedule | None = Field(
        default=None,
        description="The site's calendar.yaml: State Council notices published since the "
        "release, whose years replace the bundled ones (schemas/calendar.py).",
    )

    model_config = Model.model_config | {"ignored_types": (cached_property,)}
    _map: GridMap | None = PrivateAttr(default=None)
    _map_digest: str = PrivateAttr(default="")
    _version: str | None = PrivateAttr(default=None)
    _memo: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Site:
        problems: list[str] = []
        try:
            ZoneInfo(self.timezone)
        except (ValueError, ZoneInfoNotFoundError):
            problems.append(f"timezone {self.timezone!r} is not an IANA zone name")
        for kind, ids in (
            ("jurisdiction", [j.id for j in self.jurisdictions]),
            ("unit", [u.id for u in self.units]),
            ("category", [c.code for c in self.categories]),
        ):
            dupes = sorted(i for i, n in Counter(ids).items() if n > 1)  # linear: 3,000+ grids
            if dupes:
                problems.append(f"duplicate {kind} ids: {dupes[:10]}")
        places = {j.id: j for j in self.jurisdictions}
        problems.extend(_tree_problems(places))
        defaults: dict[str, int] = {}
        for u in self.units:
            if u.jurisdiction not in places:
                problems.append(f"unit {u.id}: unknown jurisdiction {u.jurisdiction}")
            try:
                assignment_topic(u.id)  # the router dispatches to the unit's own topic
            except ValueError as exc:
                problems.append(str(exc))
            if u.default:
                defaults[u.jurisdiction] = defaults.get(u.jurisdiction, 0) + 1
        staffed = {u.jurisdiction for u in self.units}
        for j in self.jurisdictions:
            count = defaults.get(j.id, 0)
            if count == 0 and j.id not in staffed and _nested_grid(j, places):
                continue  # served by the grid above it (Site.serving)
            if count != 1:
                problems.append(f"jurisdiction {j.id} needs exactly one default unit, has {count}")
        problems.extend(self._senders_consistent(places))
        problems.extend(self._overrides_consistent(places))
        types = {t for u in self.units for t in u.unit_types}
        problems.extend(self._routing_overrides_consistent(places, types))
        for c in self.categories:
            if c.unit_type not in types:
                problems.append(f"category {c.code}: no unit has type {c.unit_type}")
            for t in c.co_handlers:
                if t not in types or t == c.unit_type:
                    problems.append(
                        f"category {c.code}: co-handler type {t} is no unit's, or the lead's"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _senders_consistent(self, places: Mapping[str, Jurisdiction]) -> list[str]:
        problems: list[str] = []
        ids = [u.id for u in self.units] + [s.id for s in self.senders]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"sender ids must differ from each other and units': {dupes[:10]}")
        for i in ids:
            if i.startswith(PROCESSOR_PRINCIPAL_PREFIX):
                problems.append(
                    f"sender {i}: {PROCESSOR_PRINCIPAL_PREFIX}* ids are the processors'"
                )
        for s in self.senders:
            try:
                command_topic(s.id)
            except ValueError as exc:
                problems.append(str(exc))
            if s.role is SenderRole.UNIT:
                problems.append(f"sender {s.id}: units are senders already (units.yaml)")
            needs_place = s.role in (
                SenderRole.VERIFIER,
                SenderRole.SUPERVISOR,
                SenderRole.APPROVER,
            )
            if needs_place and s.jurisdiction not in places:
                problems.append(f"sender {s.id} ({s.role}): unknown jurisdiction {s.jurisdiction}")
            if not needs_place and s.jurisdiction is not None:
                problems.append(f"sender {s.id} ({s.role}): has no jurisdiction to act in")
            if (s.role is SenderRole.CHANNEL) != (s.channel is not None):
                problems.append(f"sender {s.id}: a channel sender, and only it, names a channel")
        channels = [s.channel for s in self.senders if s.channel is not None]
        for twice in sorted({c for c in channels if channels.count(c) > 1}):
            # the channel's report topic proves where a report came from: one writer each
            problems.append(f"channel {twice}: more than one sender speaks for it")
        return problems

    def _routing_overrides_consistent(
        self, places: Mapping[str, Jurisdiction], types: set[str]
    ) -> list[str]:
        """Every routing override names a known jurisdiction, known categories and an
        owner type some unit has, and no two at one jurisdiction share a category."""
        problems: list[str] = []
        codes = {c.code for c in self.categories}
        overrides = self.routing.overrides
        names = [o.name for o in overrides]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"duplicate routing override names: {dupes}")
        for o in overrides:
            if o.jurisdiction not in places:
                problems.append(f"routing override {o.name}: unknown jurisdiction {o.jurisdiction}")
            unknown = [c for c in o.categories if c not in codes]
            if unknown:
                problems.append(f"routing override {o.name}: unknown categories {unknown}")
            if o.unit_type is not None and o.unit_type not in types:
                problems.append(f"routing override {o.name}: no unit has type {o.unit_type}")
        for i, a in enumerate(overrides):
            for b in overrides[i + 1 :]:
                shared = set(a.categories) & set(b.categories)
                if a.jurisdiction == b.jurisdiction and (
                    shared or (not a.categories and not b.categories)
                ):
                    which = sorted(shared) if shared else "every category"
                    problems.append(
                        f"routing overrides {a.name} and {b.name} both apply in "
                        f"{a.jurisdiction} to {which}: which one holds?"
                    )
        return problems

    def _overrides_consistent(self, places: Mapping[str, Jurisdiction]) -> list[str]:
        """Every override names known categories and places, and no two could decide
        the same clock of one case at the same level of precedence."""
        problems: list[str] = []
        codes = {c.code for c in self.categories}
        overrides = self.deadlines.overrides
        for o in overrides:
            unknown = [c for c in o.categories if c not in codes]
            if unknown:
                problems.append(f"override {o.name}: unknown categories {unknown}")
            if o.jurisdiction is not None and o.jurisdiction not in places:
                problems.append(f"override {o.name}: unknown jurisdiction {o.jurisdiction}")
        for i, a in enumerate(overrides):
            for b in overrides[i + 1 :]:
                same = (
                    a.precedence is b.precedence
                    and a.urgency == b.urgency
                    and a.request_type == b.request_type
                    and a.jurisdiction == b.jurisdiction
                    and (not a.categories or bool(set(a.categories) & set(b.categories)))
                )
                both = [k.value for k in _OVERRIDDEN if a.limit(k) and b.limit(k)]
                if same and both:
                    problems.append(
                        f"overrides {a.name} and {b.name} both set {both} for the same "
                        f"cases at one level ({a.precedence.value}): which one holds?"
                    )
        return problems

    # --- look-ups -------------------------------------------------------------------

    @cached_property
    def _places(self) -> dict[str, Jurisdiction]:
        return {j.id: j for j in self.jurisdictions}

    @cached_property
    def _units(self) -> dict[str, Unit]:
        return {u.id: u for u in self.units}

    @cached_property
    def _categories(self) -> dict[str, Category]:
        return {c.code: c for c in self.categories}

    @cached_property
    def _units_by_place(self) -> dict[str, list[Unit]]:
        out: dict[str, list[Unit]] = {}
        for u in self.units:
            out.setdefault(u.jurisdiction, []).append(u)
        return out

    @cached_property
    def _senders(self) -> dict[str, Sender]:
        units = (
            Sender(id=u.id, name=u.name, role=SenderRole.UNIT, jurisdiction=u.jurisdiction)
            for u in self.units
        )
        return {s.id: s for s in (*units, *self.senders)}

    @property
    def tz(self) -> ZoneInfo:
        """The site's timezone: every event time and deadline is in it (ZoneInfo caches)."""
        return ZoneInfo(self.timezone)

    def jurisdiction(self, jurisdiction_id: str) -> Jurisdiction | None:
        return self._places.get(jurisdiction_id)

    def unit(self, unit_id: str) -> Unit | None:
        return self._units.get(unit_id)

    def sender(self, sender_id: str) -> Sender | None:
        """A sender of commands by id: a unit (role ``unit``) or one of ``senders.yaml``."""
        return self._senders.get(sender_id)

    def all_senders(self) -> list[Sender]:
        """Every sender: the units first, in catalogue order, then ``senders.yaml``'s."""
        return list(self._senders.values())

    def verifier_for(self, place_id: str) -> Sender | None:
        """The verifier nearest ``place_id``: of the lowest tier whose area contains it."""
        found = [
            s
            for s in self.senders
            if s.role is SenderRole.VERIFIER
            and s.jurisdiction
            and self.within(place_id, s.jurisdiction)
        ]
        return min(found, key=lambda s: self._places[s.jurisdiction or ""].tier.rank, default=None)

    def approver_for(self, place_id: str) -> Sender | None:
        """The command room nearest ``place_id`` (a holder's jurisdiction): the approver
        of the lowest tier whose area contains it, which hears its requests."""
        found = [
            s
            for s in self.senders
            if s.role is SenderRole.APPROVER
            and s.jurisdiction
            and self.within(place_id, s.jurisdiction)
        ]
        return min(found, key=lambda s: self._places[s.jurisdiction or ""].tier.rank, default=None)

    def channel_sender(self, channel: Channel) -> Sender | None:
        """The sender that speaks for ``channel``: it writes the channel's reports (its
        report topic) and passes on its residents' ratings."""
        return next((s for s in self.senders if s.channel is channel), None)

    def within(self, place_id: str, jurisdiction_id: str) -> bool:
        """Whether ``place_id`` is ``jurisdiction_id`` or lies inside it.

        It walks the parents, since nested grids share a tier: an ancestor at the
        area's tier need not be the area.
        """
        place = self._places.get(place_id)
        for _ in range(len(self._places)):
            if place is None:
                return False
            if place.id == jurisdiction_id:
                return True
            place = self._places.get(place.parent) if place.parent else None
        return False

    def category(self, code: str) -> Category | None:
        return self._categories.get(code)

    @property
    def area(self) -> Jurisdiction:
        """The site's whole area: the smallest jurisdiction that holds every grid. A case
        whose point lies in no grid is filed there, for its command room to dispatch."""
        return self.memo(("area",), self._area)

    def _area(self) -> Jurisdiction:
        grids = [j.id for j in self.jurisdictions if j.tier is Tier.GRID]
        place = self._places.get(grids[0]) if grids else None
        while (
            place is not None and place.parent and not all(self.within(g, place.id) for g in grids)
        ):
            place = self._places.get(place.parent)
        return place or self.jurisdictions[0]

    def routing_override(self, grid_id: str, code: str) -> RoutingOverride | None:
        """The routing override for category ``code`` in ``grid_id``, if any: of those
        whose jurisdiction contains the grid and that apply to the category, the one
        nearest the grid; at one jurisdiction, the one that names the category."""
        if not self.routing.overrides:
            return None
        return self.memo(("routing_override", grid_id, code), lambda: self._override(grid_id, code))

    def _override(self, grid_id: str, code: str) -> RoutingOverride | None:
        steps: dict[str, int] = {}
        place = self._places.get(grid_id)
        while place is not None and place.id not in steps:
            steps[place.id] = len(steps)
            place = self._places.get(place.parent) if place.parent else None
        found = [
            (steps[o.jurisdiction], not o.categories, o)
            for o in self.routing.overrides
            if o.jurisdiction in steps and (not o.categories or code in o.categories)
        ]
        return min(found, key=lambda f: (f[0], f[1]))[2] if found else None

    def category_at(self, code: str, grid_id: str) -> Category | None:
        """Category ``code`` as it applies in ``grid_id``: its owner type and tier, those
        of the routing override there when one sets them."""
        category = self._categories.get(code)
        o = self.routing_override(grid_id, code) if category is not None else None
        if category is None or o is None or (o.unit_type is None and o.tier is None):
            return category
        update = {"unit_type": o.unit_type or category.unit_type, "tier": o.tier or category.tier}
        return self.memo(("category_at", code, grid_id), lambda: category.model_copy(update=update))

    def mode_at(self, grid_id: str, code: str) -> RoutingMode:
        """The routing mode for category ``code`` in ``grid_id``: the site's, or its
        routing override's."""
        o = self.routing_override(grid_id, code)
        return o.mode if o is not None and o.mode is not None else self.routing.mode

    def is_grid(self, jurisdiction_id: str) -> bool:
        place = self._places.get(jurisdiction_id)
        return place is not None and place.tier is Tier.GRID

    def ancestor(self, jurisdiction_id: str, tier: Tier) -> Jurisdiction | None:
        """The jurisdiction at ``tier`` that contains ``jurisdiction_id`` (itself included)."""
        place = self._places.get(jurisdiction_id)
        while place is not None and place.tier.rank < tier.rank:
            place = self._places.get(place.parent) if place.parent else None
        return place if place is not None and place.tier is tier else None

    def serving(self, jurisdiction_id: str, tier: Tier) -> Jurisdiction | None:
        """The jurisdiction at ``tier`` whose units serve ``jurisdiction_id``.

        Its ancestor at that tier; at the grid tier, the innermost grid around it
        that has units, since a nested grid (seed 001's third level: a building or
        a shop) may have none and is worked by the grid it lies in.
        """
        place = self.ancestor(jurisdiction_id, tier)
        if tier is not Tier.GRID:
            return place
        while place is not None and place.tier is Tier.GRID:
            if place.id in self._units_by_place:
                return place
            place = self._places.get(place.parent) if place.parent else None
        return None

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._version = None  # another catalogue: its own version
        copy._memo = {}  # never shared: a copy may be another catalogue
        return copy

    def _private(self, name: str) -> Any:
        """A private attribute, read from pydantic's own store. ``self._x`` is found by
        ``BaseModel.__getattr__`` after the normal look-up fails, about 10 µs a read
        (pydantic 2.x asks the attribute's descriptor with hasattr), on paths every
        case takes: the memo, the version, the map."""
        return self.__pydantic_private__[name]  # type: ignore[index]

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per ``key`` for this catalogue: for what is a pure
        function of the site and ``key`` (a routing decision, its path), asked again
        and again. The :data:`MEMO_SIZE` keys used last are kept."""
        memo = self._private("_memo")
        try:
            value: T = memo.pop(key)
        except KeyError:
            value = compute()
            if len(memo) >= MEMO_SIZE:
                del memo[next(iter(memo))]  # the least recently used
        memo[key] = value  # now the most recently used
        return value

    @property
    def version(self) -> str:
        """The catalogue's version: sha256 of the canonical JSON of the validated site
        (and of its boundaries, when it has them), its first 12 hex digits, after the
        label of site.yaml's ``version:`` and ``@`` when there is one. The same files
        give the same version on any machine; any change to what they say changes it."""
        known: str | None = self._private("_version")
        if known is not None:
            return known
        if self._version is None:
            content = self.model_dump(mode="json", exclude={"label"})
            text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = hashlib.sha256((text + self._map_digest).encode()).hexdigest()[:12]
            self._version = f"{self.label}@{digest}" if self.label else digest
        return self._version

    @property
    def grid_map(self) -> GridMap | None:
        """The site's boundaries (``boundaries.geojson``), when it has them."""
        return self._private("_map")  # type: ignore[no-any-return]

    def locate(self, lat: float, lon: float) -> Located | None:
        """The grid a point lies in (:meth:`schemas.geo.GridMap.locate`); None when it
        lies in no mapped grid, or the site has no map."""
        found = self.grid_map
        return found.locate(lat, lon) if found is not None else None

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[Located | None]:
        """:meth:`locate` for many ``(lat, lon)`` at once (one query of the index)."""
        found = self.grid_map
        if found is None:
            return [None] * len(points)
        return found.locate_many(points)

    def with_map(self, doc: Any) -> Site:
        """This site with the boundaries of GeoJSON ``doc``, validated (GeoError)."""
        parents = {j.id: j.parent for j in self.jurisdictions}
        mapped = self.model_copy()
        mapped._map = build_map(doc, parents, self.is_grid)
        mapped._map_digest = hashlib.sha256(
            json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        mapped._version = None  # the boundaries are part of the catalogue
        return mapped

    def unit_for(self, jurisdiction_id: str, unit_type: str) -> Unit | None:
        """The unit of ``unit_type`` serving the jurisdiction, else its default unit."""
        units = self._units_by_place.get(jurisdiction_id, [])
        typed = [u for u in units if unit_type in u.unit_types]
        if typed:
            return typed[0]
        return next((u for u in units if u.default), None)

    def deadlines_for(self, tier: Tier) -> TierDeadlines:
        return self.deadlines.tiers[tier]

    def limit_for(
        self, kind: DeadlineKind, tier: Tier, case: CaseFacts
    ) -> tuple[Limit, Override | None]:
        """The limit of clock ``kind`` for ``case`` held at ``tier``, and the override
        that set it (None: the tier's own). :class:`Precedence` decides between
        overrides: the first level that matches and sets ``kind`` wins, and within
        it the jurisdiction nearest the case's grid."""
        best: tuple[tuple[int, int], Override] | None = None
        for o in self.deadlines.overrides:
            if o.limit(kind) is None or not self._matches(o, case):
                continue
            place = self._places.get(o.jurisdiction) if o.jurisdiction else None
            rank = (o.precedence.rank, place.tier.rank if place else 0)
            if best is None or rank < best[0]:
                best = (rank, o)
        if best is None:
            return self.deadlines_for(tier).limit(kind), None
        limit = best[1].limit(kind)
        assert limit is not None  # only overrides that set it were ranked
        return limit, best[1]

    def _matches(self, o: Override, case: CaseFacts) -> bool:
        return (
            (o.urgency is None or o.urgency is case.urgency)
            and (not o.categories or case.category in o.categories)
            and (o.request_type is None or o.request_type is case.request_type)
            and (o.jurisdiction is None or self.within(case.grid_id, o.jurisdiction))
        )


class SiteSource(Protocol):
    """Where a new catalogue comes from while a processor runs (the site directory
    changed, or ``gridflow site reload`` signalled: :mod:`services.site_watch`).

    The processor asks between batches, never inside one: the site is an input of
    its pure core, as the calendar is."""

    def changed(self) -> Site | None:
        """The catalogue to work with from the next batch on, when it changed since
        the last call and passed validation; else None (the one in use stays)."""


def _nested_grid(place: Jurisdiction, places: Mapping[str, Jurisdiction]) -> bool:
    parent = places.get(place.parent or "")
    return place.tier is Tier.GRID and parent is not None and parent.tier is Tier.GRID


def _tree_problems(places: Mapping[str, Jurisdiction]) -> list[str]:
    """Each place's parent is known and one tier up (a grid's: a community or a grid),
    and no chain of grids loops back on itself."""
    problems: list[str] = []
    for j in places.values():
        parent = places.get(j.parent) if j.parent else None
        if j.parent is None:
            if j.tier is not Tier.CITY:
                problems.append(f"jurisdiction {j.id} ({j.tier}) has no parent")
        elif parent is None:
            problems.append(f"jurisdiction {j.id}: unknown parent {j.parent}")
        elif parent.tier.rank != j.tier.rank + 1 and not _nested_grid(j, places):
            problems.append(f"jurisdiction {j.id} ({j.tier}): parent {j.parent} is not one up")
        elif j.kind is not None and j.tier is not Tier.GRID:
            problems.append(f"jurisdiction {j.id} ({j.tier}): only grids have a kind")
    rooted: set[str] = set()  # grids whose chain of grid parents reaches a community
    for j in places.values():
        chain: list[str] = []
        place: Jurisdiction | None = j
        while place is not None and _nested_grid(place, places) and place.id not in rooted:
            if place.id in chain:
                problems.append(f"jurisdiction {j.id}: its grids' parents loop ({place.id})")
                break
            chain.append(place.id)
            place = places.get(place.parent or "")
        else:
            rooted.update(chain)
    return problems


def _read_yaml(path: Path) -> Any:
    try:
        # libyaml's loader, when PyYAML has it: a few times faster on the site's files,
        # which a restarting processor reads before anything else
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError as exc:
        raise CatalogueError(f"site file missing: {path}") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path} is not valid YAML: {exc}") from exc


def load_site(directory: Path | str | None = None) -> Site:
    """Load and validate the site catalogue in ``directory`` (default: the bundled site)."""
    root = Path(directory) if directory else DEFAULT_SITE
    data = _read_yaml(root / "site.yaml") or {}
    if not isinstance(data, dict):
        raise CatalogueError(f"{root / 'site.yaml'} must be a mapping")
    if "version" in data:  # site.yaml's human label of the catalogue's version
        data["label"] = data.pop("version")
        if not isinstance(data["label"], str):  # YAML reads 2026.03 as a number
            raise CatalogueError(f"{root / 'site.yaml'}: version must be text: quote it")
    for part in ("jurisdictions", "units", "categories"):
        data[part] = _read_yaml(root / f"{part}.yaml")
    if (root / "senders.yaml").exists():
        data["senders"] = _read_yaml(root / "senders.yaml") or []
    if (root / SITE_CALENDAR_FILE).exists():
        try:
            data["calendar"] = load_schedule(root / SITE_CALENDAR_FILE)
        except CalendarError as exc:
            raise CatalogueError(str(exc)) from exc
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        raise CatalogueError(f"site catalogue {root} is invalid:\n{exc}") from exc
    if (root / BOUNDARIES_FILE).exists():
        try:
            site = site.with_map(read_geojson(root / BOUNDARIES_FILE))
        except GeoError as exc:
            raise CatalogueError(f"site catalogue {root}: {exc}") from exc
    return site

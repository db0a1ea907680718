"""Who the notifier tells what, and how: the subscriptions file, validated at load.

A YAML file (``notifier/subscriptions.yaml`` is the bundled one) holds:

- ``audiences``: who hears what, by message type: ``unit`` (the unit a case is
  assigned to), ``holder`` (the unit holding it), ``supervisor`` (督办: the
  supervisor nearest the holder's jurisdiction, ``senders.yaml``), ``command_room``
  (the approver nearest the holder's, or the room a queued case waits for) and
  ``resident`` (the person who reported it, through the channel the report came
  from, ``resident.channels``);
- ``endpoints``: the webhooks of parties that have none in the site catalogue
  (supervisors, command rooms) or whose catalogue webhook is to be replaced;
- ``unit_webhooks``: whether the units' catalogue webhooks are used, and their key;
- ``subscribers``: observers (an operations desk) who ask for message types outright,
  optionally narrowed to some units or tiers;
- ``links``: URL patterns a message may carry (the case in the command room's
  system, the resident's rating page);
- ``delivery``: the retry schedule, rate limit and timeout (:mod:`notifier.outbox`).

``${VAR}`` in a URL is read from the environment; an endpoint or subscriber whose
variable (or ``secret_env``) is unset is skipped with a warning, so an optional
integration stays off until it is configured. A webhook with ``secret_env`` is
signed (:mod:`notifier.signing`) and never sent unsigned.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from notifier.bodies import NOTIFIABLE_EVENTS
from notifier.outbox import DeliveryPolicy
from schemas.catalogue import Site
from schemas.envelope import Model
from schemas.reports import Channel, Tier
from schemas.urls import is_web_url

log = logging.getLogger(__name__)

DEFAULT_SUBSCRIPTIONS = Path(__file__).parent / "subscriptions.yaml"
NOTIFIABLE = tuple(m.TYPE for m in NOTIFIABLE_EVENTS)
"""Message types a subscriber or an audience may ask for."""
UNIT_PREFIX = "unit."
"""Recipient ids of units are ``unit.<unit id>``; a subscriber id may not start so."""
SENDER_PREFIX = "sender."
"""Recipient ids of supervisors and command rooms are ``sender.<sender id>``."""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SubscriptionError(ValueError):
    """A subscriptions file that cannot be used, with every reason found."""


class Audience(StrEnum):
    UNIT = "unit"  # the unit a case is assigned to
    HOLDER = "holder"  # the unit holding the case
    SUPERVISOR = "supervisor"  # 督办: the supervisor nearest the holder's jurisdiction
    COMMAND_ROOM = "command_room"  # 综合指挥室: the approver nearest the holder's
    RESIDENT = "resident"  # the reporter, through the channel the report came from


class ResidentRoute(StrEnum):
    """How a resident can be reached, tried in the order a channel lists them."""

    CALLBACK = "callback"  # the channel system's callback URL in the report (12345)
    SMS = "sms"  # the reporter's phone, through the SMS gateway
    EMAIL = "email"  # the reporter's email, over SMTP


def _known_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in NOTIFIABLE]
    if unknown:
        raise ValueError(f"unknown event types {unknown}; notifiable: {list(NOTIFIABLE)}")
    return events


class SubscriberSpec(Model):
    """One observer as the file writes it."""

    id: str = Field(pattern=r"^[a-z0-9._-]+$", max_length=100)
    url: str = Field(min_length=1, description="http(s) URL; ${VAR} is read from the env.")
    events: list[str] = Field(min_length=1)
    units: list[str] | None = Field(default=None, description="Only events about these units.")
    tiers: list[Tier] | None = Field(default=None, description="Only events at these tiers.")
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)

    _events = field_validator("events")(_known_events)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        for prefix in (UNIT_PREFIX, SENDER_PREFIX):
            if value.startswith(prefix):
                raise ValueError(f"ids starting {prefix!r} are reserved for parties")
        if value == "resident":
            raise ValueError("the id 'resident' is reserved")
        return value


class EndpointSpec(Model):
    """The webhook of a party: a unit of units.yaml or a sender of senders.yaml."""

    party: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)
    url: str = Field(min_length=1)
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)


class UnitWebhooks(Model):
    """Whether units with a ``webhook`` in the site catalogue are sent to there."""

    enabled: bool = True
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)


class ResidentSpec(Model):
    channels: dict[Channel, list[ResidentRoute]] = Field(default_factory=dict)
    """Per report channel, the ways to reach its reporter, in order; a channel left out
    (the window, where the resident came in person) tells its residents nothing."""
    callback_secret_env: str | None = Field(
        default=None,
        pattern=_ENV_NAME,
        description="Key of the HMAC signature on callbacks; unset: callbacks are skipped.",
    )


class LinksSpec(Model):
    case: str | None = Field(
        default=None, description="The case in the units' system: {case_id}, {external_id}."
    )
    rating: str | None = Field(
        default=None, description="Where a resident rates the handling: {case_id}, {external_id}."
    )


class SubscriptionsFile(Model):
    audiences: dict[str, list[Audience]] = Field(default_factory=dict)
    endpoints: list[EndpointSpec] = Field(default_factory=list)
    unit_webhooks: UnitWebhooks = Field(default_factory=UnitWebhooks)
    subscribers: list[SubscriberSpec] = Field(default_factory=list)
    resident: ResidentSpec = Field(default_factory=ResidentSpec)
    links: LinksSpec = Field(default_factory=LinksSpec)
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)

    @field_validator("audiences")
    @classmethod
    def _audience_events(cls, value: dict[str, list[Audience]]) -> dict[str, list[Audience]]:
        _known_events(list(value))
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> SubscriptionsFile:
        for what, ids in (
            ("subscriber ids", [s.id for s in self.subscribers]),
            ("endpoint parties", [e.party for e in self.endpoints]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {what}: {dupes}")
        return self


@dataclass(frozen=True)
class Subscriber:
    """A resolved webhook recipient: URL expanded, secret read, ready for :func:`plan`."""

    id: str
    url: str
    events: frozenset[str] = frozenset()
    units: frozenset[str] | None = None
    tiers: frozenset[Tier] | None = None
    secret: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Subscriptions:
    """Everything the notifier and its sender need to know about recipients."""

    subscribers: tuple[Subscriber, ...] = ()
    skipped: tuple[str, ...] = ()
    """Ids left out because an environment variable was unset."""
    audiences: Mapping[str, tuple[Audience, ...]] = field(default_factory=dict)
    parties: Mapping[str, Subscriber] = field(default_factory=dict)
    """Webhooks by party id (a unit's or a sender's id); the Subscriber's id is the
    recipient id (``unit.<id>``, ``sender.<id>``)."""
    resident: Mapping[Channel, tuple[ResidentRoute, ...]] = field(default_factory=dict)
    callback_secret: str | None = field(default=None, repr=False, compare=False)
    links: LinksSpec = field(default_factory=LinksSpec)
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)

    @property
    def tells_residents(self) -> bool:
        """Whether any message goes to residents: only then are their contacts kept."""
        return any(Audience.RESIDENT in a for a in self.audiences.values()) and bool(self.resident)

    def secret_for(self, recipient: str) -> str | None:
        """The HMAC key of a webhook recipient (None: it is sent unsigned)."""
        if recipient == "resident":
            return self.callback_secret
        for sub in (*self.subscribers, *self.parties.values()):
            if sub.id == recipient:
                return sub.secret
        return None


def party_recipient(site: Site | None, party: str) -> str:
    """The recipient id of a party: ``unit.<id>`` for a unit, else ``sender.<id>``."""
    if site is None or site.unit(party) is not None:
        return UNIT_PREFIX + party
    return SENDER_PREFIX + party


def _expand(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with ``${VAR}`` replaced, and the names that were unset or empty."""
    missing = [name for name in _VAR.findall(text) if not env.get(name)]
    return _VAR.sub(lambda m: env.get(m.group(1), ""), text), missing


class _Resolver:
    """Collects resolved recipients, skipped ids and problems while reading a file."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.skipped: list[str] = []
        self.problems: list[str] = []

    def resolve(self, template: Subscriber, secret_env: str | None) -> Subscriber | None:
        """``template`` with its URL expanded and secret read, or None (skipped)."""
        url, missing = _expand(template.url, self.env)
        if secret_env and not self.env.get(secret_env):
            missing.append(secret_env)
        if missing:
            log.warning(
                "recipient skipped: %s unset",
                ", ".join(missing),
                extra={"subscriber": template.id},
            )
            self.skipped.append(template.id)
            return None
        if not is_web_url(url):
            self.problems.append(f"{template.id}: url must be an http(s) URL once expanded")
            return None
        secret = self.env[secret_env] if secret_env else None
        return replace(template, url=url, secret=secret)


def resolve(
    spec: SubscriptionsFile, site: Site | None = None, env: Mapping[str, str] | None = None
) -> Subscriptions:
    """Expand the file against the environment and add the site's unit webhooks."""
    out = _Resolver(os.environ if env is None else env)
    subscribers = []
    for s in spec.subscribers:
        if site is not None:
            unknown = [u for u in s.units or [] if site.unit(u) is None]
            if unknown:
                out.problems.append(f"{s.id}: units {unknown} are not in site {site.id}")
        units = frozenset(s.units) if s.units is not None else None
        tiers = frozenset(s.tiers) if s.tiers is not None else None
        resolved = out.resolve(
            Subscriber(s.id, s.url, frozenset(s.events), units, tiers), s.secret_env
        )
        if resolved is not None:
            subscribers.append(resolved)
    parties: dict[str, Subscriber] = {}
    hooks = spec.unit_webhooks
    for unit in site.units if site is not None and hooks.enabled else []:
        if unit.webhook:
            hook = out.resolve(Subscriber(UNIT_PREFIX + unit.id, unit.webhook), hooks.secret_env)
            if hook is not None:
                parties[unit.id] = hook
    for e in spec.endpoints:
        if site is not None and site.unit(e.party) is None and site.sender(e.party) is None:
            out.problems.append(f"endpoint {e.party}: no unit or sender of that id")
            continue
        hook = out.resolve(Subscriber(party_recipient(site, e.party), e.url), e.secret_env)
        if hook is not None:
            parties[e.party] = hook
    secret_env = spec.resident.callback_secret_env
    callback_secret = out.env.get(secret_env) if secret_env else None
    routes = {c: tuple(r) for c, r in spec.resident.channels.items()}
    if secret_env and not callback_secret:
        log.warning("12345 callbacks skipped: %s unset", secret_env)
        routes = {
            c: tuple(x for x in r if x is not ResidentRoute.CALLBACK) for c, r in routes.items()
        }
    if out.problems:
        raise SubscriptionError("subscriptions are invalid:\n" + "\n".join(out.problems))
    return Subscriptions(
        subscribers=tuple(subscribers),
        skipped=tuple(out.skipped),
        audiences={e: tuple(a) for e, a in spec.audiences.items()},
        parties=parties,
        resident=routes,
        callback_secret=callback_secret,
        links=spec.links,
        delivery=spec.delivery,
    )


def load_subscriptions(
    path: Path | str | None = None,
    site: Site | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Subscriptions:
    """Load, validate and resolve a subscriptions file (default: the bundled one)."""
    path = Path(path) if path else DEFAULT_SUBSCRIPTIONS
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise SubscriptionError(f"subscriptions file missing: {path}") from exc
    except yaml.YAMLError as exc:
        raise SubscriptionError(f"{path} is not valid YAML: {exc}") from exc
    try:
        spec = SubscriptionsFile.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        raise SubscriptionError(f"{path} is invalid:\n" + "\n".join(lines)) from exc
    try:
        return resolve(spec, site, env)
    except SubscriptionError as exc:
        raise SubscriptionError(f"{path}: {exc}") from exc

"""Who the notifier tells what: the subscriptions file, validated at load.

A YAML file lists webhook subscribers (see ``notifier/subscriptions.yaml``). Each
names the message types it wants and may narrow them to some units or tiers.
Units whose catalogue entry has a ``webhook`` become subscribers too, for their
own assignments and deadline warnings. ``${VAR}`` in a URL is read from the
environment; a subscriber whose variable (or ``secret_env``) is unset is skipped
with a warning, so an optional integration stays off until it is configured.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from notifier.bodies import NOTIFIABLE_EVENTS
from schemas.cases import CaseAssigned
from schemas.catalogue import Site
from schemas.deadlines import DeadlineWarning
from schemas.envelope import Model
from schemas.reports import Tier
from schemas.urls import is_web_url

log = logging.getLogger(__name__)

DEFAULT_SUBSCRIPTIONS = Path(__file__).parent / "subscriptions.yaml"
NOTIFIABLE = tuple(m.TYPE for m in NOTIFIABLE_EVENTS)
"""Message types a subscriber may ask for."""
UNIT_PREFIX = "unit."
"""Subscriber ids of unit webhooks are ``unit.<unit id>``; the file may not use it."""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SubscriptionError(ValueError):
    """A subscriptions file that cannot be used, with every reason found."""


def _known_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in NOTIFIABLE]
    if unknown:
        raise ValueError(f"unknown event types {unknown}; notifiable: {list(NOTIFIABLE)}")
    return events


class SubscriberSpec(Model):
    """One subscriber as the file writes it."""

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
        if value.startswith(UNIT_PREFIX):
            raise ValueError(f"ids starting {UNIT_PREFIX!r} are reserved for unit webhooks")
        return value


class UnitWebhooks(Model):
    """What units with a ``webhook`` in the site catalogue receive."""

    enabled: bool = True
    events: list[str] = Field(default_factory=lambda: [CaseAssigned.TYPE, DeadlineWarning.TYPE])
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)

    _events = field_validator("events")(_known_events)


class SubscriptionsFile(Model):
    subscribers: list[SubscriberSpec] = Field(default_factory=list)
    unit_webhooks: UnitWebhooks = Field(default_factory=UnitWebhooks)

    @model_validator(mode="after")
    def _unique_ids(self) -> SubscriptionsFile:
        ids = [s.id for s in self.subscribers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate subscriber ids: {dupes}")
        return self


@dataclass(frozen=True)
class Subscriber:
    """A resolved subscriber: URL expanded, secret read, ready for :func:`plan`."""

    id: str
    url: str
    events: frozenset[str]
    units: frozenset[str] | None = None
    tiers: frozenset[Tier] | None = None
    secret: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Subscriptions:
    subscribers: tuple[Subscriber, ...] = ()
    skipped: tuple[str, ...] = ()
    """Ids left out because an environment variable was unset."""


def _expand(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with ``${VAR}`` replaced, and the names that were unset or empty."""
    missing = [name for name in _VAR.findall(text) if not env.get(name)]
    return _VAR.sub(lambda m: env.get(m.group(1), ""), text), missing


class _Resolver:
    """Collects resolved subscribers, skipped ids and problems while reading a file."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.subscribers: list[Subscriber] = []
        self.skipped: list[str] = []
        self.problems: list[str] = []

    def add(self, template: Subscriber, secret_env: str | None) -> None:
        """Add ``template`` with its URL expanded and secret read, or skip it."""
        url, missing = _expand(template.url, self.env)
        if secret_env and not self.env.get(secret_env):
            missing.append(secret_env)
        if missing:
            log.warning(
                "subscriber skipped: %s unset",
                ", ".join(missing),
                extra={"subscriber": template.id},
            )
            self.skipped.append(template.id)
        elif not is_web_url(url):
            self.problems.append(f"{template.id}: url must be an http(s) URL once expanded")
        else:
            secret = self.env[secret_env] if secret_env else None
            self.subscribers.append(replace(template, url=url, secret=secret))


def resolve(
    spec: SubscriptionsFile, site: Site | None = None, env: Mapping[str, str] | None = None
) -> Subscriptions:
    """Expand the file against the environment and add the site's unit webhooks."""
    out = _Resolver(os.environ if env is None else env)
    for s in spec.subscribers:
        if site is not None:
            unknown = [u for u in s.units or [] if site.unit(u) is None]
            if unknown:
                out.problems.append(f"{s.id}: units {unknown} are not in site {site.id}")
        units = frozenset(s.units) if s.units is not None else None
        tiers = frozenset(s.tiers) if s.tiers is not None else None
        out.add(Subscriber(s.id, s.url, frozenset(s.events), units, tiers), s.secret_env)
    hooks = spec.unit_webhooks
    for unit in site.units if site is not None and hooks.enabled else []:
        if unit.webhook:
            sub = Subscriber(
                UNIT_PREFIX + unit.id, unit.webhook, frozenset(hooks.events), frozenset([unit.id])
            )
            out.add(sub, hooks.secret_env)
    if out.problems:
        raise SubscriptionError("subscriptions are invalid:\n" + "\n".join(out.problems))
    return Subscriptions(tuple(out.subscribers), tuple(out.skipped))


def load_subscriptions(
    path: Path | str | None = None,
    site: Site | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Subscriptions:
    """Load, validate and resolve a subscriptions file (default: the bundled example)."""
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

"""The channels' side of the demo: a few hundred reports over several working days.

Deterministic for a given seed. About one report in twenty is bad in one of the
ways real channels get it wrong (not JSON, a missing field, an unknown grid, a time
in the future), so the dead-letter path is exercised too. (An unknown category is no
refusal: it goes to the command room's dispatch queue, 人工分拨.)
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from escalator.calendar import WorkingCalendar
from schemas.catalogue import Site
from schemas.reports import Channel, Tier

CHANNELS = [
    (Channel.GRID_APP, 0.5),
    (Channel.HOTLINE_12345, 0.3),
    (Channel.WEB, 0.1),
    (Channel.OPEN311, 0.05),
    (Channel.MAYOR_MAILBOX, 0.05),
]
TIER_WEIGHT = {
    Tier.GRID: 3.0,
    Tier.COMMUNITY: 3.0,
    Tier.STREET: 3.0,
    Tier.DISTRICT: 1.0,
    Tier.CITY: 0.5,
}
BAD_SHARE = 0.05
FLAWS = ("not_json", "missing", "grid", "future", "bad_phone", "not_utf8")
"""Ways a channel gets a report wrong; the spoiled reports take them in turn."""


@dataclass(frozen=True)
class Report:
    at: datetime
    channel: Channel  # the channel that sends it, on its own report topic
    key: bytes | None
    value: bytes
    valid: bool


def working_days(calendar: WorkingCalendar, start: date, count: int) -> list[date]:
    days, day = [], start
    while len(days) < count:
        if calendar.is_workday(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def generate(
    site: Site, start: date, days: int, count: int, seed: int, calendar: WorkingCalendar
) -> list[Report]:
    rng = random.Random(seed)
    tz = site.tz
    grids = [j.id for j in site.jurisdictions if j.tier is Tier.GRID]
    categories = site.categories
    weights = [TIER_WEIGHT[c.tier] for c in categories]
    channels, channel_weights = zip(*CHANNELS, strict=True)
    span = working_days(calendar, start, days)
    reports = []
    spoiled = 0
    for n in range(count):
        day = rng.choice(span)
        at = datetime.combine(day, time(8), tz) + timedelta(minutes=rng.randrange(0, 10 * 60))
        category = rng.choices(categories, weights)[0]
        channel = rng.choices(channels, channel_weights)[0]
        body: dict[str, object] = {
            "channel": channel.value,
            "external_id": f"{channel.value}-{day:%Y%m%d}-{n:05d}",
            "reported_at": at.isoformat(),
            "category": category.code,
            "grid_id": rng.choice(grids),
            "description": f"{category.name_zh}: 居民反映的问题，请尽快处理（模拟第{n}号）。",
            "urgency": "urgent" if rng.random() < 0.1 else "normal",
            "location": {"address": f"模拟路{rng.randrange(1, 300)}号"},
            "reporter": {"name": "模拟居民", "phone": f"138{rng.randrange(10**7, 10**8)}"},
        }
        valid = rng.random() >= BAD_SHARE
        value = json.dumps(body, ensure_ascii=False).encode()
        if not valid:
            value = _spoil(FLAWS[spoiled % len(FLAWS)], body, at)
            spoiled += 1
        key = f"{channel.value}:{body['external_id']}".encode()
        reports.append(Report(at=at, channel=channel, key=key, value=value, valid=valid))
    reports.sort(key=lambda r: r.at)
    return reports


def _spoil(flaw: str, body: dict[str, object], at: datetime) -> bytes:
    """The report with one flaw."""
    if flaw == "not_json":
        return b"<workorder id='" + str(body["external_id"]).encode() + b"'>"
    if flaw == "not_utf8":
        return json.dumps(body, ensure_ascii=False).encode("gb18030")
    if flaw == "missing":
        body.pop("description")
    elif flaw == "grid":
        body["grid_id"] = "zs-nowhere-g99"
    elif flaw == "future":
        body["reported_at"] = (at + timedelta(days=2)).isoformat()
    else:
        body["reporter"] = {"name": "模拟居民", "phone": "call me"}
    return json.dumps(body, ensure_ascii=False).encode()

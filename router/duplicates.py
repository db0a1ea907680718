"""Near-duplicates (重复件): a new report of the same category close, in space and time,
to an open case is linked to that case instead of being dispatched again.

The site's ``duplicates`` policy (site.yaml) gives the distance in metres and the
hours; a site without one links nothing. A batch at a time: before the router acts
on a batch, :meth:`Nearby.load` asks the store once for the open cases near every
new report of the batch that gives a point (:meth:`router.ports.CaseStore.open_near`,
a bounding box each); cases the batch itself opens join the candidates as they are
opened, so two near reports in one batch link too.

Deterministic: the candidate chosen is the nearest, then the earliest reported,
then the smallest case id; a candidate closed earlier in the batch is passed over.
A report is linked only to a case that was dispatched (never to another duplicate),
so every link points at a case a unit holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from router.ports import CaseFiles, CaseStore, NearbyCase, Probe
from router.story import PRODUCER
from schemas.access import view_topic
from schemas.cases import CaseReceived, Stage
from schemas.catalogue import DuplicatePolicy, Site
from schemas.duplicates import CaseLinked, LinkedPayload
from schemas.processing import Inbound
from schemas.reports import Case, CaseFacts
from schemas.topics import CASE_EVENTS, Emit, assignment_topic

EARTH_RADIUS_M = 6_371_008.8
"""The mean Earth radius (IUGG), for distances between WGS84 points."""
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine): exact enough at a few hundred metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def point_of(case: Case) -> tuple[float, float] | None:
    """The case's point, when it gave one."""
    loc = case.location
    return None if loc is None or loc.lat is None or loc.lon is None else (loc.lat, loc.lon)


def probe_for(case: Case, policy: DuplicatePolicy) -> Probe | None:
    """The box around ``case``'s point and the window around its time to look in."""
    point = point_of(case)
    if point is None:
        return None
    lat, lon = point
    dlat = policy.distance_m / METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    window = timedelta(hours=policy.within_hours)
    return Probe(
        category=case.category,
        lat_min=lat - dlat,
        lat_max=lat + dlat,
        lon_min=lon - dlon,
        lon_max=lon + dlon,
        since=case.reported_at - window,
        until=case.reported_at + window,
    )


@dataclass(frozen=True)
class Link:
    """A report found to repeat ``open`` at ``metres``."""

    open: NearbyCase
    metres: float


class Nearby:
    """One batch's candidates: the open cases near its new reports."""

    def __init__(self, policy: DuplicatePolicy | None, found: Iterable[NearbyCase] = ()) -> None:
        self.policy = policy
        self._open: dict[str, NearbyCase] = {c.case_id: c for c in found}

    @classmethod
    def load(
        cls, policy: DuplicatePolicy | None, store: CaseStore, batch: Sequence[Inbound]
    ) -> Nearby:
        """The candidates for every new report of ``batch``, from one store query."""
        if policy is None:
            return cls(None)
        probes = [
            p
            for p in (
                probe_for(i.message.payload, policy)
                for i in batch
                if isinstance(i.message, CaseReceived)
            )
            if p is not None
        ]
        return cls(policy, store.open_near(probes) if probes else ())

    def opened(self, case: Case, unit_id: str) -> None:
        """A case the batch dispatched: a candidate for the reports after it."""
        point = point_of(case)
        if self.policy is None or point is None:
            return
        self._open[case.case_id] = NearbyCase(
            case_id=case.case_id,
            category=case.category,
            lat=point[0],
            lon=point[1],
            reported_at=case.reported_at,
            unit_id=unit_id,
        )

    def find(self, case: Case, files: CaseFiles) -> Link | None:
        """The open case ``case`` repeats, or None."""
        point = point_of(case)
        if self.policy is None or point is None:
            return None
        window = timedelta(hours=self.policy.within_hours)
        matches: list[tuple[float, datetime, str, NearbyCase]] = []
        for candidate in self._open.values():
            if candidate.case_id == case.case_id or candidate.category != case.category:
                continue
            if abs(candidate.reported_at - case.reported_at) > window:
                continue
            now = files.get(candidate.case_id)
            if now is not None and now.stage is Stage.CLOSED:
                continue  # closed earlier in this batch
            # to a decimetre: points a float's error apart tie, and the earlier wins
            metres = round(distance_m(point[0], point[1], candidate.lat, candidate.lon), 1)
            if metres <= self.policy.distance_m:
                holder = now.assignment.unit_id if now is not None else candidate.unit_id
                matches.append((metres, candidate.reported_at, candidate.case_id,
                                replace(candidate, unit_id=holder)))  # fmt: skip
        if not matches:
            return None
        metres, _, _, chosen = min(matches, key=lambda m: m[:3])
        return Link(chosen, metres)


def linked(site: Site, message: CaseReceived, link: Link, now: datetime) -> list[Emit]:
    """The link on the duplicate's story, to the holder on its unit topic, and to the
    reporting channel on its reply topic (the case number for the resident)."""
    case = message.payload
    payload = LinkedPayload(
        duplicate_of=link.open.case_id,
        distance_m=link.metres,
        holder=link.open.unit_id,
        case=CaseFacts.of(case),
        linked_at=now,
    )
    event = CaseLinked.derive(
        payload,
        producer=PRODUCER,
        now=now,
        case_id=case.case_id,
        cause=message,
        key=(CaseLinked.TYPE, link.open.case_id),
        correlation_id=case.case_id,
    )
    out = [
        Emit(CASE_EVENTS.name, case.case_id, event),
        Emit(assignment_topic(link.open.unit_id).name, case.case_id, event),
    ]
    channel = site.channel_sender(case.channel)
    if channel is not None:
        out.append(Emit(view_topic(channel).name, case.case_id, event))
    return out

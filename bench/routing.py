"""Routing at scale, in the pure core: decisions and point lookups per second.

Needs no server. For each bundled site it measures, on one core of this machine:

1. **point-in-grid lookups** on random points over the site's map (a fifth of them off
   it): one at a time (``Site.locate``: a point built and the STRtree queried per
   report) and a batch at a time (``Site.locate_many``: one query for 500 points, as
   a batch of reports asks);
2. **routing decisions**: ``router.routing.place`` alone (category, tier, rule and
   unit: the decision itself), cold (each worked out: the first case of its grid and
   category) and warm (a look-up: ``Site.memo`` keeps the last 10,000), and the
   router's whole ``handle`` over batches of 500
   ``case.received`` on its memory store (the decision, its explanation, the clocks
   and every message it emits).

Target (issue 9): 50,000 a second for each, on the 3,052-grid sample (maigaoqiao).
Writes ``bench/results/<date>-routing.json``. Usage: ``python bench/routing.py
[--points 100000] [--cases 20000] [--site NAME ...]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.core import Router  # noqa: E402
from router.memory import MemoryCaseStore  # noqa: E402
from router.routing import category_of, holder_tier, initial_rule, place  # noqa: E402
from schemas.cases import CaseReceived  # noqa: E402
from schemas.catalogue import BUNDLED_SITES, MEMO_SIZE, Site, load_site  # noqa: E402
from schemas.processing import Inbound  # noqa: E402
from schemas.reports import Case, Channel, Tier, Urgency  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BATCH = 500
SITES = ("maigaoqiao", "yichang", "pidu", "zhuangshi")


def rate(n: int, work: Callable[[], object], repeat: int = 3) -> dict[str, float]:
    """``n`` items of ``work`` a second, the best of ``repeat`` runs (and the worst)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return {"per_second": round(n / min(times)), "worst_per_second": round(n / max(times))}


def random_points(site: Site, n: int, seed: int = 7) -> list[tuple[float, float]]:
    """``n`` (lat, lon): four in five inside the map's bounds, one in five well off it."""
    mapped = site.grid_map
    assert mapped is not None, f"{site.id} has no map"
    import shapely

    west, south, east, north = shapely.total_bounds(list(mapped.shapes.values()))
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 5 == 4:
            out.append((rng.uniform(-60, -50), rng.uniform(10, 20)))  # nowhere near
        else:
            out.append((rng.uniform(south, north), rng.uniform(west, east)))
    return out


def lookups(site: Site, n: int) -> dict[str, Any]:
    points = random_points(site, n)
    one = rate(n, lambda: [site.locate(lat, lon) for lat, lon in points])
    many = rate(n, lambda: [site.locate_many(points[i : i + BATCH]) for i in range(0, n, BATCH)])
    placed = sum(1 for found in site.locate_many(points) if found is not None)
    return {
        "points": n,
        "placed_share": round(placed / n, 3),
        "one_at_a_time": one,
        "batch_of_500": many,
    }


def cases(site: Site, n: int, seed: int = 11) -> list[Case]:
    grids = sorted(j.id for j in site.jurisdictions if j.tier is Tier.GRID)
    categories = sorted(c.code for c in site.categories)
    rng = random.Random(seed)
    at = datetime(2026, 3, 5, 10, tzinfo=site.tz)
    return [
        Case(
            case_id=f"GF-{i:016X}",
            channel=Channel.HOTLINE_12345,
            external_id=f"bench-{i}",
            reported_at=at,
            received_at=at + timedelta(seconds=30),
            category=rng.choice(categories),
            grid_id=rng.choice(grids),
            title="t",
            description="d",
            urgency=Urgency.NORMAL,
        )
        for i in range(n)
    ]


def decisions(site: Site, n: int) -> dict[str, Any]:
    batch = cases(site, n)

    def decide(batch: list[Case] = batch) -> None:
        for case in batch:
            category = category_of(site, case)
            tier = holder_tier(site, category)
            place(site, case, category, tier, initial_rule(site, category))

    warm = batch[: MEMO_SIZE // 2]  # a working set the memo holds, filled by a first pass
    decide(warm)

    def cold() -> None:
        site._memo.clear()  # every (grid, category) worked out afresh
        decide()

    events = [
        CaseReceived.derive(c, producer="intake", now=c.received_at, case_id=c.case_id)
        for c in batch
    ]

    def handle() -> None:
        router = Router(site, MemoryCaseStore())
        for i in range(0, n, BATCH):
            router.handle([Inbound(e, e.occurred_at) for e in events[i : i + BATCH]])

    return {
        "cases": n,
        # cold: each decision worked out (the first case of its grid and category);
        # warm: the same cases again, each decision a look-up (Site.memo)
        "place_cold": rate(n, cold),
        "place_warm": rate(len(warm), lambda: decide(warm)),
        "router_handle": rate(n, handle, repeat=2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--site", action="append", choices=SITES)
    args = parser.parse_args()
    result: dict[str, Any] = {"date": date.today().isoformat(), "target_per_second": 50_000}
    began = time.monotonic()
    for name in args.site or SITES:
        site = load_site(BUNDLED_SITES / name)
        grids = sum(1 for j in site.jurisdictions if j.tier is Tier.GRID)
        entry = {"grids": grids, "units": len(site.units)}
        entry["lookups"] = lookups(site, args.points)
        entry["decisions"] = decisions(site, args.cases)
        result[name] = entry
        print(name, json.dumps(entry), flush=True)
    result["bench_seconds"] = round(time.monotonic() - began)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{result['date']}-routing.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

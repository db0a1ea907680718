"""The notifier's outbox on the real PostgreSQL server that ``make servers`` starts.

1. **deliveries per second**: ``--deliveries`` (3000) outbox rows to ``--addresses``
   (8) paths of one local webhook receiver (a threaded http.server on 127.0.0.1,
   answering 204), signed; the sender (``--concurrency`` threads, 16) runs until
   every row is delivered. The receiver is Python too, on the same two cores, so
   the figure is a floor of what a real receiver sees.
2. **the notifier's consumption while a receiver is dead**: ``--events`` (10000)
   ``case.assigned`` through the notifier's batch (500 a batch: plan, render, queue in
   the outbox, in one transaction each) for three subscribers, one of which hangs on
   every request (the sender's timeout, 2 s, cuts each attempt); first with no sender
   running, then with the sender delivering beside it. The batches never wait on a
   delivery, so the two rates should be close, and the live subscribers' deliveries
   keep up meanwhile.

It writes ``bench/results/<date>-notify.json`` and prints the figures. It asserts
nothing.

    .venv/bin/python bench/notify.py --deliveries 1000 --events 2000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import schema  # noqa: E402
from notifier.core import Notifier  # noqa: E402
from notifier.outbox import DeliveryPolicy, RateLimit, RetryPolicy  # noqa: E402
from notifier.ports import OutboxEntry, OutboxStatus  # noqa: E402
from notifier.sender import OutboxSender  # noqa: E402
from notifier.sql import SqlContacts, SqlOutbox  # noqa: E402
from notifier.subscriptions import Subscriber, Subscriptions  # noqa: E402
from notifier.webhook import WebhookTransport  # noqa: E402
from schemas.catalogue import load_site  # noqa: E402
from schemas.envelope import Envelope  # noqa: E402
from schemas.notifications import NotificationChannel  # noqa: E402
from schemas.processing import Inbound  # noqa: E402
from services.storage.migrate import upgrade  # noqa: E402
from storage.db import Transaction, make_engine  # noqa: E402
from tests.support.receivers import Receiver, serve  # noqa: E402
from tests.unit.notifier.factories import assigned  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PG_URL = os.environ.get(
    "GRIDFLOW_DATABASE_URL", "postgresql+psycopg2://gridflow:gridflow@127.0.0.1:55432/gridflow"
)
POLICY = DeliveryPolicy(
    retry=RetryPolicy(first_seconds=1, factor=2, max_delay_seconds=30, max_attempts=50),
    rate=RateLimit(per_minute=1_000_000, concurrent=4),
    timeout_seconds=2.0,
)


def now() -> datetime:
    return datetime.now(UTC)


def sender_for(engine: Any, subs: Subscriptions, concurrency: int) -> OutboxSender:
    tx = Transaction(engine)
    transport = WebhookTransport(subs.secret_for, POLICY.timeout_seconds)
    return OutboxSender(
        SqlOutbox(tx),
        {NotificationChannel.WEBHOOK: transport},
        POLICY,
        now,
        transaction=tx.begin,
        concurrency=concurrency,
    )


def count(engine: Any, status: OutboxStatus) -> int:
    tx = Transaction(engine)
    with tx.begin():
        return len(SqlOutbox(tx).rows(status, limit=10_000_000))


def deliveries_per_second(url: str, n: int, addresses: int, concurrency: int) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    with serve(Receiver(status=204)) as hooks:
        subs = Subscriptions(subscribers=(Subscriber("bench", hooks.url, secret="k"),))
        at = now()
        entries = [
            OutboxEntry(
                key=f"bench-{i:07d}",
                channel=NotificationChannel.WEBHOOK,
                recipient="bench",
                address=f"{hooks.url}/{i % addresses}",
                template="assignment",
                event_id=f"e-{i}",
                event_type="case.assigned",
                case_id=f"GF-{i:016d}",
                body=json.dumps({"case_id": f"GF-{i:016d}", "message": "收到新派遣案件"}),
                created_at=at,
            )
            for i in range(n)
        ]
        tx = Transaction(engine)
        with tx.begin():
            SqlOutbox(tx).enqueue(entries)
        sender = sender_for(engine, subs, concurrency)
        started = time.perf_counter()
        deadline = time.monotonic() + 600
        while len(hooks.delivered()) < n and time.monotonic() < deadline:
            sender.step(0.05)
        sender.drain(30)
        took = time.perf_counter() - started
        sender.close()
        delivered = count(engine, OutboxStatus.DELIVERED)
    engine.dispose()
    return {
        "deliveries": n,
        "addresses": addresses,
        "concurrency": concurrency,
        "seconds": round(took, 2),
        "deliveries_per_second": round(n / took, 1),
        "recorded_delivered": delivered,
        "duplicates_at_receiver": sum(hooks.delivered().values()) - len(hooks.delivered()),
    }


def _events(start: int, n: int) -> list[Envelope]:
    base = assigned()
    return [
        base.model_copy(update={"event_id": f"00000000-0000-4000-8000-{i:012d}"})
        for i in range(start, start + n)
    ]


def _consume(engine: Any, subs: Subscriptions, events: Sequence[Envelope], batch: int) -> float:
    tx = Transaction(engine)
    site = load_site()
    notifier = Notifier(subs, site, SqlOutbox(tx), SqlContacts(tx))
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        with tx.begin():
            notifier.handle([Inbound(e, now()) for e in events[i : i + batch]])
    return time.perf_counter() - started


def consumption_with_a_dead_receiver(url: str, n: int, concurrency: int) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    with (
        serve(Receiver(hang_paths=frozenset({"/dead"}), hang_s=3600)) as dead,
        serve(Receiver(status=204)) as live,
    ):
        subs = Subscriptions(
            subscribers=(
                Subscriber("dead", dead.url + "/dead", frozenset({"case.assigned"})),
                Subscriber("live-a", live.url + "/a", frozenset({"case.assigned"})),
                Subscriber("live-b", live.url + "/b", frozenset({"case.assigned"})),
            )
        )
        alone = _consume(engine, subs, _events(0, n), 500)
        sender = sender_for(engine, subs, concurrency)
        stop = threading.Event()
        thread = threading.Thread(target=sender.run, args=(stop, 0.05), daemon=True)
        thread.start()
        beside = _consume(engine, subs, _events(n, n), 500)
        batches_ended = time.perf_counter()
        live_at_end_of_batches = len(live.delivered())
        deadline = time.monotonic() + 300
        while len(live.delivered()) < 4 * n and time.monotonic() < deadline:
            time.sleep(0.1)
        catch_up = time.perf_counter() - batches_ended
        stop.set()
        thread.join(30)
        sender.close(1)
        live_total = len(live.delivered())
        dead_delivered = len(dead.delivered())
        dead_tries = len(dead.seen())
    engine.dispose()
    return {
        "events": n,
        "subscribers": 3,
        "batch": 500,
        "events_per_second_no_sender": round(n / alone, 1),
        "events_per_second_with_sender_and_dead_receiver": round(n / beside, 1),
        "live_deliveries_done_when_batches_ended": live_at_end_of_batches,
        "live_deliveries_total": live_total,
        "live_deliveries_expected": 4 * n,
        "dead_receiver_attempts": dead_tries,
        "dead_receiver_delivered": dead_delivered,
        "seconds_to_catch_up_after_batches": round(catch_up, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--addresses", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    with schema(PG_URL, "bench_notify_") as url:
        out["deliveries"] = deliveries_per_second(
            url, args.deliveries, args.addresses, args.concurrency
        )
        print(json.dumps(out["deliveries"], indent=2))
    with schema(PG_URL, "bench_notify_") as url:
        out["consumption"] = consumption_with_a_dead_receiver(url, args.events, args.concurrency)
        print(json.dumps(out["consumption"], indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{out['date']}-notify.json"
    path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

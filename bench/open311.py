"""Open311 ``POST requests`` per second and their latency, through to the broker's ack.

It starts ``gridflow serve open311`` as its own process (uvicorn, one worker) on an
ephemeral port, producing to the real Kafka broker that ``make servers`` starts, in a
namespace of its own; then ``--clients`` threads, each with one keep-alive HTTP
connection, post valid service requests (form-encoded, an API key, a point in the
bundled site) for ``--seconds`` after a warm-up. A response is the gateway's answer
after the broker acknowledged the record (``send().get()``), so each latency covers
validation, production and the ack.

It writes ``bench/results/<date>-open311.json`` (requests, errors, requests per second,
p50/p95/p99/max in milliseconds, the machine) and prints it; it deletes its topic. It
asserts nothing.

    .venv/bin/python bench/open311.py --seconds 10 --clients 8   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from kafka.admin import KafkaAdminClient  # noqa: E402

from bench.run import machine  # noqa: E402
from schemas.topics import report_topic  # noqa: E402
from services.runtime.names import Names  # noqa: E402
from services.topics import create_topics  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql+psycopg2://gridflow:gridflow@127.0.0.1:55432/gridflow"
KEY = "bench-key"
SENDER = "channel.open311"
FORM = {
    "api_key": KEY,
    "service_code": "urban.streetlight",
    "lat": "29.9489",
    "long": "121.6213",
    "address_string": "兴庄路88号",
    "first_name": "芳",
    "last_name": "张",
    "phone": "13900001111",
    "description": "路灯不亮已经一周，晚上出行不便。",
    "attribute[request_type]": "help",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start_gateway(bootstrap: str, pg: str, names: Names, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "GRIDFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "GRIDFLOW_DATABASE_URL": pg,
        "GRIDFLOW_NAMESPACE": names.namespace,
        "GRIDFLOW_OPEN311_PORT": str(port),
        "GRIDFLOW_OPEN311_API_KEYS": json.dumps({KEY: SENDER}),
        "GRIDFLOW_LOG_LEVEL": "WARNING",
    }
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services", "serve", "open311"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/discovery.json", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the gateway did not answer within 60 s")


def load(base: str, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[int, int] = {}
    lock = threading.Lock()
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    def client() -> None:
        mine: list[float] = []
        bad: dict[int, int] = {}
        with httpx.Client(base_url=base, timeout=30) as http:
            while (now := time.monotonic()) < stop_at:
                response = http.post("/requests.json", data=FORM)
                took = time.monotonic() - now
                if now < measure_from:
                    continue
                if response.status_code == 200:
                    mine.append(took)
                else:
                    bad[response.status_code] = bad.get(response.status_code, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, n in bad.items():
                errors[code] = errors.get(code, 0) + n

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = [x * 1000 for x in latencies]
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(ms),
        "errors": errors,
        "requests_per_second": round(len(ms) / seconds, 1),
        "latency_ms": {
            "p50": round(statistics.median(ms), 2) if ms else None,
            "p95": round(percentile(ms, 0.95), 2) if ms else None,
            "p99": round(percentile(ms, 0.99), 2) if ms else None,
            "max": round(max(ms), 2) if ms else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    bootstrap = os.environ.get("GRIDFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    pg = os.environ.get("GRIDFLOW_DATABASE_URL", DEFAULT_PG)
    names = Names(f"bench-o311-{uuid.uuid4().hex[:8]}")
    topic = report_topic(SENDER)
    create_topics(bootstrap, [topic], names=names)
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.mkdtemp(prefix="gridflow-open311-")) / "gateway.log"
    proc = start_gateway(bootstrap, pg, names, port, log)
    try:
        figures = load(f"http://127.0.0.1:{port}", args.clients, args.seconds, args.warmup)
    finally:
        proc.terminate()
        proc.wait(30)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
        try:
            admin.delete_topics([names.topic(topic.name)])
        finally:
            admin.close()
    result = {
        "bench": "open311",
        "what": "POST requests.json: validated, produced, answered after the broker's ack",
        "date": date.today().isoformat(),
        **figures,
        "machine": machine(bootstrap, pg),
    }
    path = RESULTS / f"{date.today().isoformat()}-open311.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

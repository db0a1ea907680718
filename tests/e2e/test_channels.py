"""Channels end to end: 12345 work orders, grid-app reports and an Open311 POST (the
gateway as its own process) beside native reports, on their channels' topics, through
the five processors as OS processes on real Kafka and PostgreSQL; a near-duplicate pair
(an app report and a work order twenty metres apart, same category) makes one case and
one link (重复件), told to the holder and the channel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaProducer
from sqlalchemy import text

from intake.core import case_id_for
from schemas.access import channel_topic
from schemas.catalogue import Site, load_site
from schemas.reports import Channel, Tier
from schemas.topics import ASSIGNMENT_PREFIX, CASE_EVENTS, reply_topic
from services.processors import PROCESSORS
from services.runtime.names import Names
from services.storage.migrate import upgrade
from storage.db import make_engine
from tests.e2e.test_pipeline import Pipeline, TopicReader
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
EACH = 15  # native reports, work orders and app reports each, besides the pair
POINT = (29.9489, 121.6213)  # in grid zs-zb-g09 of the bundled site
TWENTY_METRES = 20 / 111_195


def duplicating_site(tmp_path: Path) -> Path:
    """The bundled site, with near-duplicates on (50 m, 72 h)."""
    target = tmp_path / "site"
    shutil.copytree(ROOT / "schemas" / "sites" / "zhuangshi", target)
    with (target / "site.yaml").open("a", encoding="utf-8") as f:
        f.write("\nduplicates:\n  distance_m: 50\n  within_hours: 72\n")
    return target


def reports(site: Site, tag: str) -> tuple[list[tuple[Channel, dict[str, Any]]], dict[str, str]]:
    """What each channel sends, and the case id each report opens, by kind."""
    now = datetime.now(SHANGHAI) - timedelta(minutes=2)
    grids = [j.id for j in site.jurisdictions if j.tier is Tier.GRID]
    # one holder a case: a co-handled category (主办/协办) is dispatched to two units
    codes = [c.code for c in site.categories if c.code != "urban.garbage" and not c.co_handlers]
    out: list[tuple[Channel, dict[str, Any]]] = []
    kinds: dict[str, str] = {}
    for n in range(EACH):
        external = f"{tag}-n{n}"
        out.append(
            (
                Channel.WEB,
                {
                    "channel": "web",
                    "external_id": external,
                    "reported_at": now.isoformat(),
                    "category": codes[n % len(codes)],
                    "grid_id": grids[n % len(grids)],
                    "description": "井盖缺失，存在安全隐患。",
                },
            )
        )
        kinds[case_id_for(Channel.WEB, external)] = "native"
        order = f"{tag}-w{n}"
        out.append(
            (
                Channel.HOTLINE_12345,
                {
                    "format": "hotline_12345.work_order",
                    "order_no": order,
                    "call_time": now.isoformat(),
                    "caller": "王女士",
                    "phone": "138 0000 0000",
                    "content": "来电人反映楼下噪音扰民，希望处理。",
                    "request_type": ["投诉", "求助", "咨询"][n % 3],
                    "category": codes[(n + 3) % len(codes)],
                    "street": "庄市街道",
                    "address": f"兴庄路{n}号",
                    "grid_id": grids[(n * 7) % len(grids)],
                    "urgency": "紧急" if n % 5 == 0 else "一般",
                    "callback": {"url": "https://hotline.example.org/answers"},
                },
            )
        )
        kinds[case_id_for(Channel.HOTLINE_12345, order)] = "work_order"
        app = f"{tag}-a{n}"
        out.append(
            (
                Channel.GRID_APP,
                {
                    "format": "grid_app.report",
                    "report_id": app,
                    "worker_id": f"zs-worker-{n:04d}",
                    "found_at": now.isoformat(),
                    "point": {"lat": POINT[0] + 0.002 * (n + 1), "lon": POINT[1]},
                    "grid_id": grids[(n * 11) % len(grids)],
                    "category": codes[(n + 5) % len(codes)],
                    "description": "巡查发现路面破损。",
                    "photos": [f"https://files.example.org/{tag}/{n}.jpg"],
                },
            )
        )
        kinds[case_id_for(Channel.GRID_APP, app)] = "app"
    return out, kinds


def pair(tag: str) -> list[tuple[Channel, dict[str, Any]]]:
    now = datetime.now(SHANGHAI) - timedelta(minutes=1)
    return [
        (
            Channel.GRID_APP,
            {
                "format": "grid_app.report",
                "report_id": f"{tag}-pair-app",
                "worker_id": "zs-worker-0001",
                "found_at": now.isoformat(),
                "point": {"lat": POINT[0], "lon": POINT[1]},
                "category": "urban.garbage",
                "description": "垃圾桶满溢。",
            },
        ),
        (
            Channel.HOTLINE_12345,
            {
                "format": "hotline_12345.work_order",
                "order_no": f"{tag}-pair-order",
                "call_time": (now + timedelta(seconds=30)).isoformat(),
                "caller": "李先生",
                "phone": "13900001111",
                "content": "小区门口垃圾没人清运。",
                "request_type": "投诉",
                "category": "urban.garbage",
                "lat": POINT[0] + TWENTY_METRES,
                "lon": POINT[1],
            },
        ),
    ]


def test_work_orders_and_app_reports_beside_native_ones(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    tag = f"ch{uuid.uuid4().hex[:8]}"
    namespace = f"e2e-{tag}"
    site_dir = duplicating_site(tmp_path)
    site = load_site(site_dir)
    env = {
        **os.environ,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_NAMESPACE": namespace,
        "GRIDFLOW_SITE": str(site_dir),
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
        "GRIDFLOW_LOG_LEVEL": "INFO",
    }
    upgrade(make_engine(database_url))
    pipeline = Pipeline(tmp_path / "logs", env, dict(zip(PROCESSORS, free_ports(5), strict=True)))
    assert "topics:" in pipeline.cli("topics", "create")
    pipeline.start()
    [port] = free_ports(1)
    gateway_env = env | {
        "GRIDFLOW_OPEN311_PORT": str(port),
        "GRIDFLOW_OPEN311_API_KEYS": json.dumps({"e2e-key": "channel.open311"}),
    }
    log = (tmp_path / "open311.log").open("wb")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "services", "serve", "open311"],
        env=gateway_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for("the gateway", lambda: _answers(base, gateway), timeout=60)
        _exercise(pipeline, kafka_bootstrap, database_url, site, tag, Names(namespace), base)
    finally:
        gateway.terminate()
        gateway.wait(30)
        log.close()
        codes = pipeline.stop()
        _delete_namespace(kafka_bootstrap, namespace)
    assert codes == dict.fromkeys(PROCESSORS, 0), codes
    # uvicorn shuts down cleanly on SIGTERM (its log says so), then re-raises the signal
    assert gateway.returncode in (0, -15), (tmp_path / "open311.log").read_text()[-2000:]
    assert "Application shutdown complete" in (tmp_path / "open311.log").read_text()


def _answers(base: str, gateway: subprocess.Popen[bytes]) -> bool:
    assert gateway.poll() is None, "the Open311 gateway exited"
    try:
        return httpx.get(f"{base}/discovery.json", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _delete_namespace(bootstrap: str, namespace: str) -> None:
    """The run's topics go when it ends: a shared broker keeps no test's hundreds."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        mine = [t for t in admin.list_topics() if t.startswith(f"{namespace}.")]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def _send(
    bootstrap: str, site: Site, names: Names, sent: list[tuple[Channel, dict[str, Any]]]
) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for channel, body in sent:
        topic = names.topic(channel_topic(site, channel).name)
        producer.send(topic, value=json.dumps(body, ensure_ascii=False).encode())
    producer.flush()
    producer.close()


def _exercise(
    pipeline: Pipeline,
    bootstrap: str,
    database_url: str,
    site: Site,
    tag: str,
    names: Names,
    gateway: str,
) -> None:
    sent, kinds = reports(site, tag)
    the_pair = pair(tag)
    _send(bootstrap, site, names, [*sent, *the_pair])
    posted = httpx.post(  # a resident's app, through the Open311 gateway process
        f"{gateway}/requests.json",
        data={
            "api_key": "e2e-key",
            "service_code": "urban.streetlight",
            "lat": str(POINT[0] + 0.01),
            "long": str(POINT[1]),
            "description": "路灯不亮。",
            "attribute[request_type]": "help",
        },
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    [answer] = posted.json()
    kinds[answer["service_request_id"]] = "open311"
    first = case_id_for(Channel.GRID_APP, f"{tag}-pair-app")
    second = case_id_for(Channel.HOTLINE_12345, f"{tag}-pair-order")
    _send(bootstrap, site, names, sent[1:2])  # a work order resent: still one case

    assignments = TopicReader(bootstrap, tag, pattern=f"^{names.topic(ASSIGNMENT_PREFIX)}.*")
    story = TopicReader(bootstrap, tag, topics=[names.topic(CASE_EVENTS.name)])

    def dispatched() -> Counter[str]:
        pipeline.check()
        out: Counter[str] = Counter()
        for m in assignments.read():
            doc = json.loads(m.value)
            if doc["type"] == "case.dispatched" and (
                doc["case_id"] in kinds or doc["case_id"] in (first, second)
            ):
                out[doc["case_id"]] += 1
        return out

    wait_for("every case dispatched", lambda: len(dispatched()) == len(kinds) + 1, timeout=240)

    def links() -> list[dict[str, Any]]:
        pipeline.check()
        return [
            json.loads(m.value)
            for m in story.read()
            if json.loads(m.value)["type"] == "case.linked"
            and json.loads(m.value)["case_id"] in (first, second)
        ]

    wait_for("the near duplicate linked", lambda: len(links()) == 1)
    count = dispatched()
    assert set(count.values()) == {1}, "a case was dispatched twice"
    [link] = links()
    duplicate, master = link["case_id"], link["payload"]["duplicate_of"]
    assert {duplicate, master} == {first, second} and master in count and duplicate not in count
    assert 15 <= link["payload"]["distance_m"] <= 25
    holder = link["payload"]["holder"]
    told = [
        json.loads(m.value)
        for m in assignments.seen
        if m.topic == names.topic(ASSIGNMENT_PREFIX + holder)
        and json.loads(m.value)["type"] == "case.linked"
    ]
    assert [t["payload"]["duplicate_of"] for t in told] == [master]  # the holder is told

    # The archive: the formats' facts kept, the duplicate counted apart.
    engine = make_engine(database_url)
    ids = [*kinds, first, second]

    def archived() -> dict[str, str]:
        pipeline.check()
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT case_id, stage FROM archive_cases WHERE case_id = ANY(:ids)"),
                {"ids": ids},
            ).all()
        return {r.case_id: r.stage for r in rows}

    wait_for(
        "every case archived",
        lambda: len(archived()) == len(ids) and archived().get(duplicate) == "duplicate",
    )
    assert sum(1 for s in archived().values() if s == "duplicate") == 1
    [status] = httpx.get(
        f"{gateway}/requests/{answer['service_request_id']}.json", timeout=30
    ).json()
    assert status["status"] == "open" and status["service_code"] == "urban.streetlight"
    [token] = httpx.get(f"{gateway}/tokens/{answer['token']}.json", timeout=30).json()
    assert token["service_request_id"] == answer["service_request_id"]
    with engine.connect() as conn:
        received = conn.execute(
            text(
                "SELECT payload FROM archive_events WHERE type = 'case.received' "
                "AND case_id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    formats = Counter((r.payload.get("source") or {}).get("format", "native") for r in received)
    assert formats == {
        "native": EACH,
        "hotline_12345.work_order": EACH + 1,
        "grid_app.report": EACH + 1,
        "open311.request": 1,
    }, formats
    orders = [
        r.payload
        for r in received
        if (r.payload.get("source") or {}).get("format") == "hotline_12345.work_order"
    ]
    assert all(o["request_type"] in ("complaint", "help", "enquiry") for o in orders)
    assert sum(o["urgency"] == "urgent" for o in orders) == 3
    engine.dispose()
    channel = site.channel_sender(Channel(link["payload"]["case"]["channel"]))
    assert channel is not None
    replies = TopicReader(bootstrap, tag, topics=[names.topic(reply_topic(channel.id).name)])
    wait_for(  # the reporting channel gets the case number for its resident
        "the channel told",
        lambda: any(
            json.loads(m.value)["type"] == "case.linked"
            and json.loads(m.value)["payload"]["duplicate_of"] == master
            for m in replies.read()
        ),
    )

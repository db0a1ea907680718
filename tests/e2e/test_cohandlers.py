"""Lead and co-handlers (主办/协办) and the dispatch queue end to end: the five processors
as OS processes on real Kafka and PostgreSQL.

Case F is a blocked fire lane (the bundled street's co-handled category): work safety
leads, the enforcement squad co-handles, each told on its own topic; the lead's report
that it is handled is refused (to the lead, with the reason) until the co-handler
reports its part, which the lead hears of. Case U has a category the catalogue does not
know: it is queued for the street's command room, which dispatches it. The harness is
test_closed_loop's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intake.core import case_id_for
from schemas.access import channel_topic
from schemas.cases import DispatchPayload, StepPayload
from schemas.catalogue import Site
from schemas.commands import AcceptCase, DispatchCase, ReportHandled, ReportPart
from schemas.reports import Channel
from services.processors import PROCESSORS
from services.runtime.local import LocalCluster
from services.runtime.names import Names
from tests.e2e.test_closed_loop import Loop
from tests.support.processes import free_ports, wait_for
from tests.support.sites import SHANGHAI

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
LEAD, CO, ROOM = "zs.safety", "zs.urban", "zs.approve"


def _report(external: str, category: str) -> bytes:
    report = json.loads((ROOT / "docs/examples/report.json").read_text(encoding="utf-8"))
    report["external_id"] = external
    report["category"] = category
    report["reported_at"] = (datetime.now(SHANGHAI) - timedelta(minutes=3)).isoformat()
    return json.dumps(report, ensure_ascii=False).encode()


def test_a_co_handled_case_and_a_queued_one(
    kafka_bootstrap: str, database_url: str, site: Site, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    names = Names(f"coh{tag}")
    env = {
        **os.environ,
        "GRIDFLOW_NAMESPACE": names.namespace,
        "GRIDFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "GRIDFLOW_DATABASE_URL": database_url,
        "GRIDFLOW_CLOCK": "ticks",  # no deadline lapses while the test works
        "GRIDFLOW_POLL_TIMEOUT_MS": "200",
    }
    cluster = LocalCluster(tmp_path, env, dict(zip(PROCESSORS, free_ports(5), strict=True)))
    created = subprocess.run(
        [sys.executable, "-m", "services", "topics", "create"],
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert created.returncode == 0, created.stderr.decode()[-2000:]
    cluster.start()
    try:
        _walk(Loop(cluster, kafka_bootstrap, names), names, site, tag)
    finally:
        codes = cluster.stop()
    assert codes == dict.fromkeys(PROCESSORS, 0), codes


def _walk(loop: Loop, names: Names, site: Site, tag: str) -> None:
    f, u = (case_id_for("hotline_12345", f"{tag}-{x}") for x in "fu")
    topic = names.topic(channel_topic(site, Channel.HOTLINE_12345).name)
    loop.producer.send(topic, value=_report(f"{tag}-f", "public_safety.fire_lane"))
    loop.producer.send(topic, value=_report(f"{tag}-u", "public_safety.unheard_of"))
    loop.producer.flush()

    def told(kind: str, case_id: str) -> list[dict[str, Any]]:
        return [m for m in loop.read() if m["type"] == kind and m["case_id"] == case_id]

    wait_for("both told to lead and co-handler", lambda: len(told("case.dispatched", f)) == 2)
    roles = {
        m["payload"]["assignment"]["unit_id"]: m["payload"]["assignment"]["role"]
        for m in told("case.dispatched", f)
    }
    assert roles == {LEAD: "lead", CO: "co_handler"}
    now = datetime.now(SHANGHAI)
    ok = "command.acknowledged"
    assert loop.send(LEAD, AcceptCase, f, StepPayload(unit_id=LEAD, seq=1, at=now)) == ok
    lead_done = StepPayload(unit_id=LEAD, seq=1, at=now)
    assert loop.send(LEAD, ReportHandled, f, lead_done) == "command.refused"
    assert f"co-handler(s) {CO} have not reported" in loop.last["payload"]["message"]
    part = StepPayload(unit_id=CO, seq=1, at=now, note="通道已清理")
    assert loop.send(CO, ReportPart, f, part) == ok
    wait_for("the lead told of the part", lambda: bool(told("case.part_reported", f)))
    assert told("case.part_reported", f)[0]["payload"]["pending"] == []
    assert loop.send(LEAD, ReportHandled, f, lead_done) == ok

    # the unknown category: queued for the street's command room, which dispatches it
    wait_for("queued for the room", lambda: bool(told("case.queued", u)))
    queued = told("case.queued", u)[0]["payload"]
    assert (queued["reason"], queued["room"]) == ("unknown_category", ROOM)
    dispatch = DispatchPayload(unit_id=LEAD, at=now, note="yours")
    assert loop.send(ROOM, DispatchCase, u, dispatch) == ok
    assert loop.dispatched(u, 2)["reason"] == "dispatched"

"""The README stays true to the code: its example report is accepted, and its
configuration table names every setting there is.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from archive.deadletters import ViewerSettings
from intake import Intake
from schemas.catalogue import Site
from schemas.codec import decode
from schemas.topics import REPORTS_OF
from services.runtime.security import KafkaSecurity
from services.settings import Settings
from tests.support.processing import handle_one
from tests.support.sites import SHANGHAI

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_example_report_is_accepted(site: Site) -> None:
    block = re.search(r"```json\n(.*?)```", README, re.S)
    assert block, "the README shows an example report"
    raw = decode(REPORTS_OF, block.group(1).encode())
    [emit] = handle_one(Intake(site), raw, datetime(2026, 9, 21, 10, tzinfo=SHANGHAI))
    assert emit.message.case_id.startswith("GF-")  # type: ignore[attr-defined]


def _fields() -> set[str]:
    """Every variable a settings class reads: Settings', and the Kafka clients' security."""
    out = {f"GRIDFLOW_{n.upper()}" for n in Settings.model_fields}
    out |= {f"GRIDFLOW_{n.upper()}" for n in ViewerSettings.model_fields}  # archive/deadletters
    return out | {f"GRIDFLOW_KAFKA_{n.upper()}" for n in KafkaSecurity.model_fields}


def test_readme_lists_every_setting() -> None:
    for name in _fields():
        assert f"`{name}`" in README, f"README misses {name}"


def test_readme_settings_exist() -> None:
    fields = _fields()
    deploy = {
        "GRIDFLOW_RUN_DIR",
        "GRIDFLOW_KAFKA_PORT",
        "GRIDFLOW_KAFKA_CONTROLLER_PORT",
        "GRIDFLOW_KAFKA_SASL_PORT",
        "GRIDFLOW_KAFKA_SASL_CONTROLLER_PORT",
        "GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE",
        "GRIDFLOW_PG_PORT",
        "GRIDFLOW_OPS_WEBHOOK",
    }
    named = set(re.findall(r"^\| `(GRIDFLOW_[A-Z_]+)`", README, re.M))
    assert named - fields - deploy == set()

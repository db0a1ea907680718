"""deploy/systemd's units pass ``systemd-analyze verify``: a unit per processor (a
template whose instance is its metrics port), the two HTTP services, the topics job
and the target. The units name /opt/gridflow/.venv/bin/gridflow; the test points them
at this checkout's, which verify requires to exist and be executable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.processors import PROCESSORS
from tests.support.processes import DEPLOY
from tests.support.tools import need_tool

SYSTEMD = DEPLOY / "systemd"
INSTALLED = "/opt/gridflow/.venv/bin/gridflow"


def _units(tmp_path: Path) -> list[Path]:
    """The units, copied with this checkout's gridflow; each template as one instance."""
    gridflow = str(Path(sys.executable).parent / "gridflow")  # the venv's, beside python
    out = []
    for unit in [*sorted(SYSTEMD.glob("gridflow*.service")), SYSTEMD / "gridflow.target"]:
        text = unit.read_text(encoding="utf-8")
        assert INSTALLED in text or unit.suffix == ".target", unit.name
        name = unit.name.replace("@.service", "@9400.service")
        copy = tmp_path / name
        copy.write_text(text.replace(INSTALLED, gridflow), encoding="utf-8")
        out.append(copy)
    return out


def test_every_processor_and_http_service_has_a_unit() -> None:
    names = {p.name for p in SYSTEMD.glob("*.service")}
    assert {f"gridflow-{p}@.service" for p in PROCESSORS} <= names
    assert {"gridflow-api.service", "gridflow-open311.service"} <= names
    for p in PROCESSORS:
        text = (SYSTEMD / f"gridflow-{p}@.service").read_text(encoding="utf-8")
        assert f"gridflow run {p}\n" in text
        assert "GRIDFLOW_METRICS_PORT=%i" in text and "GRIDFLOW_INSTANCE_ID=" in text


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    tool = need_tool("systemd-analyze")
    units = _units(tmp_path)
    done = subprocess.run(
        [tool, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # verify warns (unknown keys, bad values) without failing: a warning is a defect too
    assert done.stderr.strip() == "", done.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    tool = need_tool("systemd-analyze")
    broken = tmp_path / "gridflow-broken.service"
    broken.write_text(
        "[Unit]\nDescription=x\n[Service]\nExecStart=/nonexistent/gridflow run intake\n"
        "NoSuchKey=1\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [tool, "verify", "--man=no", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 or done.stderr.strip()

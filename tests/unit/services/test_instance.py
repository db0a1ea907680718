"""Static group membership ids: stable across a restart, unique on one machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from services.runtime.instance import instance_for


def test_the_setting_is_the_id(tmp_path: Path) -> None:
    instance = instance_for("gridflow.router", "router-1", tmp_path)
    assert instance.id == "router-1"
    assert instance.lock is None


def test_two_live_processes_of_one_group_never_share_an_id(tmp_path: Path) -> None:
    host = socket.gethostname()
    first = instance_for("gridflow.router", None, tmp_path)
    second = instance_for("gridflow.router", None, tmp_path)
    other = instance_for("gridflow.archive", None, tmp_path)
    assert (first.id, second.id) == (f"gridflow.router-{host}-0", f"gridflow.router-{host}-1")
    assert other.id == f"gridflow.archive-{host}-0"
    for instance in (first, second, other):
        instance.release()


def test_a_restarted_process_takes_the_slot_its_predecessor_left(tmp_path: Path) -> None:
    first = instance_for("gridflow.router", None, tmp_path)
    second = instance_for("gridflow.router", None, tmp_path)
    first.release()  # the first one died
    again = instance_for("gridflow.router", None, tmp_path)
    assert again.id == first.id
    again.release()
    second.release()


def test_a_killed_process_leaves_its_slot(tmp_path: Path) -> None:
    """The kernel drops the lock of a process killed with SIGKILL."""
    code = (
        "import sys, time; from pathlib import Path;"
        "from services.runtime.instance import instance_for;"
        f"i = instance_for('g', None, Path({str(tmp_path)!r})); print(i.id, flush=True);"
        "time.sleep(60)"
    )
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=root, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None
        held = child.stdout.readline().decode().strip()
        assert held.endswith("-0")
        assert instance_for("g", None, tmp_path).id.endswith("-1")  # slot 0 is taken
        child.kill()
        child.wait(timeout=10)
        assert instance_for("g", None, tmp_path).id == held
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)

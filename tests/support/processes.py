"""Helpers for tests that run gridflow processes: waiting and free ports."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["free_ports", "wait_for"]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def deploy_script(
    component: str, name: str, run_dir: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``deploy/<component>/<name>`` for a private server under ``run_dir``: a test's
    own Kafka or PostgreSQL, which it may stop and start again. ``env`` gives its ports."""
    return subprocess.run(
        ["bash", str(DEPLOY / component / name), *args],
        env={**os.environ, "GRIDFLOW_RUN_DIR": str(run_dir), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

"""External tools the operations tests run: promtool (Debian's prometheus package),
chromium, systemd-analyze. ``deploy/tools/ensure.sh`` installs the first two when
absent (the Makefile's test target runs it); a test asks for one with :func:`need_tool`,
which fails with CI=true when it is missing and skips otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["need_tool", "promtool"]


def need_tool(name: str) -> str:
    """The tool's path; pytest.fail on CI (CI=true), pytest.skip elsewhere, when absent."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: run deploy/tools/ensure.sh (make test does)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> str:
    """Run ``promtool args``; its output, after asserting it succeeded."""
    done = subprocess.run(
        [need_tool("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr

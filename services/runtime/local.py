"""The Kafka runtime on one machine: the five processors as child processes.

``gridflow up`` runs them in the foreground until SIGINT or SIGTERM, which it
passes on so each finishes its batch and commits. The end-to-end test and the
Kafka benchmark use the same class.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from services.processors import PROCESSORS


class ProcessorExited(RuntimeError):
    """A processor stopped while it should be running; the message ends with its log."""


class LocalCluster:
    """One OS process per processor, each with its own metrics port and log file."""

    def __init__(
        self,
        logs: Path,
        env: Mapping[str, str] | None = None,
        metrics_ports: Mapping[str, int] | None = None,
    ) -> None:
        self.logs = logs
        self.env = dict(os.environ if env is None else env)
        self.metrics_ports = dict(metrics_ports or {})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._files: list[IO[bytes]] = []

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in PROCESSORS:
            env = dict(self.env)
            if name in self.metrics_ports:
                env["GRIDFLOW_METRICS_PORT"] = str(self.metrics_ports[name])
            log = (self.logs / f"{name}.log").open("wb")
            self._files.append(log)
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services", "run", name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]

    def check(self) -> None:
        """Raise ProcessorExited if any processor has stopped."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ProcessorExited(
                    f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}"
                )

    def wait(self) -> tuple[str, int]:
        """Block until a processor exits (or a signal interrupts): its name and status."""
        while True:
            pid, status = os.wait()
            for name, proc in self.procs.items():
                if proc.pid == pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    return name, proc.returncode

    def stop(self, timeout: float = 30) -> dict[str, int | None]:
        """SIGTERM every processor, then wait; exit codes by name (None: killed)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                codes[name] = None
        for file in self._files:
            file.close()
        return codes

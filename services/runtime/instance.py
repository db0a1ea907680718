"""Which member of its consumer group a process is: Kafka's static membership.

A consumer with a ``group.instance.id`` is a *static member*. When it restarts
with the same id before its session times out, the broker hands it back the
partitions it had, at once and without a rebalance; the other members are not
disturbed. The id must be stable across the restarts of one instance and unique
among the live members of a group: a second live member with the same id fences
the first.

``GRIDFLOW_INSTANCE_ID`` names the instance; set it per instance where a
supervisor gives each one a stable name (a StatefulSet pod's name, systemd's
``%i``). Without it the id is ``<group>-<host name>-<slot>``. The slot is the
lowest free one on this machine: a process holds an exclusive lock on
``<temp dir>/gridflow-instances/<group>.<slot>.lock`` for as long as it lives, and
the kernel drops the lock when the process dies, SIGKILL included. So two
processes of one group on one machine never share an id, and a restarted process
takes the slot its predecessor left.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_SLOTS = 256
"""More processes of one group on one machine than this is a mistake, not a plan."""


@dataclass
class Instance:
    """A process's ``group.instance.id``, and the slot lock that keeps it unique."""

    id: str
    lock: IO[bytes] | None = None

    def release(self) -> None:
        """Give the slot up (the process's exit does the same)."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def lock_dir() -> Path:
    """Where the slot locks live: the machine's temp dir, shared by its processes."""
    return Path(tempfile.gettempdir()) / "gridflow-instances"


def instance_for(group: str, setting: str | None, locks: Path | None = None) -> Instance:
    """The instance id of this process in ``group``: the setting, else host and slot."""
    if setting:
        return Instance(setting)
    where = locks or lock_dir()
    where.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for slot in range(MAX_SLOTS):
        lock = (where / f"{group}.{slot}.lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live process of this group holds the slot
            lock.close()
            continue
        except BaseException:
            with contextlib.suppress(OSError):
                lock.close()
            raise
        return Instance(f"{group}-{host}-{slot}", lock)
    raise RuntimeError(
        f"{MAX_SLOTS} processes of {group} hold a slot in {where}; set GRIDFLOW_INSTANCE_ID"
    )

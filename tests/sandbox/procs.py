"""Test helpers: processes as /proc shows them, and polling for a condition instead of sleeping."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from simpletir.sandbox.local import LocalSandbox

T = TypeVar("T")


def status(pid: int) -> dict[str, str]:
    """The fields of ``/proc/<pid>/status``."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines())}


def children(pid: int) -> list[int]:
    """The child processes of ``pid``."""
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def worker_pids(sandbox: LocalSandbox) -> list[int]:
    """The warm worker processes of ``sandbox``: each launched process, or its one child when that is
    the worker (PID 1 of its own PID namespace)."""
    found = []
    for worker in sandbox._workers:
        pid = worker.proc.pid
        found.append(children(pid)[0] if worker.isolation.get("pid_namespace") else pid)
    return found


def processes_of_uids(uids: set[int]) -> list[str]:
    """``pid state`` of processes of ``uids`` that are not zombies (killed ones may take a moment to die)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = status(int(entry))
        except (OSError, ValueError):
            continue
        if int(fields["Uid"].split()[0]) in uids and not fields["State"].startswith(("Z", "X")):
            found.append(f"{entry} {fields['State']}")
    return found


def worker_uids(sandbox: LocalSandbox) -> set[int]:
    """The private uids of the sandbox's workers."""
    return {w.isolation["uid"] for w in sandbox._workers} - {None}


def cmdlines_with(marker: str) -> list[str]:
    """Command lines of live processes that contain ``marker``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(cmdline.decode(errors="replace"))
    return found


async def until(probe: Callable[[], T], timeout: float = 60.0, interval: float = 0.02) -> T:
    """Poll ``probe`` until it returns something truthy (returned) or ``timeout`` s pass (its last value)."""
    deadline = time.monotonic() + timeout
    while not (value := probe()) and time.monotonic() < deadline:
        await asyncio.sleep(interval)
    return value

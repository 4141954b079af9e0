"""The sandbox contract shared by every backend: ``ExecResult``, ``ExecStatus``, ``Sandbox``."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class ExecStatus(str, Enum):
    """Outcome of one execution; ``sandbox_error`` is an infrastructure fault, never the program's."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    KILLED = "killed"
    SANDBOX_ERROR = "sandbox_error"


@dataclass(frozen=True)
class ExecResult:
    """What running one program produced; text fields are always valid ``str`` (decoded safely)."""

    status: ExecStatus
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    duration_s: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the program ran to completion with exit code 0."""
        return self.status is ExecStatus.OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``status`` as its string value)."""
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecResult:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on an unknown status."""
        return cls(
            status=ExecStatus(data["status"]),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            returncode=data.get("returncode"),
            duration_s=float(data.get("duration_s", 0.0)),
            truncated=bool(data.get("truncated", False)),
        )


class SandboxError(RuntimeError):
    """Raised for misuse of a sandbox (bad options, use after close); execution faults are results."""


class Sandbox(abc.ABC):
    """An async code executor. ``run`` never raises for anything the program does."""

    @abc.abstractmethod
    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` as a fresh Python program and return its result; faults become ``sandbox_error``."""

    async def close(self) -> None:  # noqa: B027 - backends without resources need no override
        """Release workers and connections; idempotent."""

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run_many(self, codes: list[str], *, timeout: float | None = None) -> list[ExecResult]:
        """Run several programs concurrently (bounded by the backend) and return results in order."""
        return list(await asyncio.gather(*(self.run(code, timeout=timeout) for code in codes)))

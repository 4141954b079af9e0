"""The ``sandbox_fusion`` backend: a client for an existing SandboxFusion server (``POST /run_code``).

Request: ``code``, ``language`` ("python"), ``run_timeout``, ``memory_limit_MB``, ``stdin``. Reply:
``status`` ("Success" / "Failed" / "SandboxError"), ``message``, ``compile_result``, ``run_result``
with ``status`` ("Finished" / "TimeLimitExceeded" / "Error"), ``stdout``, ``stderr``, ``return_code``,
``execution_time``. Retries follow the ``http`` backend's rule (``transport.Fleet``): only connection
failures and 503 are retried, so a program is never run twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simpletir.sandbox.base import ExecResult, ExecStatus, Sandbox, SandboxError
from simpletir.sandbox.transport import Fleet, auth_headers, check_request, fault, parse_urls, result_from

KILLED_CODES = (137, 139)
"""Shell-style exit codes of a process ended by SIGKILL / SIGSEGV (negative codes are signals too)."""


def map_fusion_reply(reply: dict[str, Any]) -> ExecResult:
    """Map a SandboxFusion ``/run_code`` reply onto ``ExecResult`` (unknown shapes → ``sandbox_error``)."""
    if reply.get("status") == "SandboxError":
        return fault(f"SandboxFusion: {reply.get('message') or 'SandboxError'}")
    run = reply.get("run_result") or {}
    if not run:
        compile_result = reply.get("compile_result") or {}
        message = compile_result.get("stderr") or reply.get("message") or "no run_result in the reply"
        return fault(f"SandboxFusion: {message}")
    stdout, stderr = str(run.get("stdout") or ""), str(run.get("stderr") or "")
    returncode = run.get("return_code")
    duration = float(run.get("execution_time") or 0.0)
    run_status = run.get("status")
    lines = stderr.strip().splitlines()
    if run_status == "TimeLimitExceeded":
        status = ExecStatus.TIMEOUT
    elif run_status == "Finished" and isinstance(returncode, int) and not isinstance(returncode, bool):
        if returncode == 0:
            status = ExecStatus.OK
        elif lines and lines[-1].startswith("MemoryError"):
            status = ExecStatus.MEMORY
        elif returncode < 0 or returncode in KILLED_CODES:
            status = ExecStatus.KILLED
        else:
            status = ExecStatus.ERROR
    else:
        return fault(f"SandboxFusion: unexpected run_result {run!r}"[:1000])
    return ExecResult(status=status, stdout=stdout, stderr=stderr, returncode=returncode, duration_s=duration)


class SandboxFusionSandbox(Sandbox):
    """Client for one or more SandboxFusion servers; see module docstring."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        memory_limit_mb: int = 1024,
        default_timeout: float = 5.0,
        overhead_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.2,
        cooldown_s: float = 5.0,
        max_connections: int = 256,
        token: str | None = None,
    ) -> None:
        if default_timeout <= 0 or overhead_s <= 0:
            raise SandboxError("default_timeout and overhead_s must be positive")
        self.memory_limit_mb = int(memory_limit_mb)
        self.default_timeout = default_timeout
        self.overhead_s = overhead_s
        self.fleet = Fleet(
            parse_urls(url), headers=auth_headers(token), max_retries=max_retries, backoff_s=backoff_s,
            cooldown_s=cooldown_s, max_connections=max_connections,
        )  # fmt: skip

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` on a SandboxFusion server; transport faults become ``sandbox_error``."""
        limit = check_request(code, self.default_timeout if timeout is None else timeout)
        payload = {
            "code": code,
            "language": "python",
            "run_timeout": limit,
            "memory_limit_MB": self.memory_limit_mb,
            "stdin": stdin or "",
        }
        outcome = await self.fleet.post("/run_code", payload, timeout=limit + self.overhead_s)
        return result_from(outcome, map_fusion_reply)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.fleet.close()

"""The ``sandbox_fusion`` backend: a client for an existing SandboxFusion server (``POST /run_code``).

Request: ``code``, ``language`` ("python"), ``run_timeout``, ``memory_limit_MB``, ``stdin``. Reply:
``status`` ("Success" / "Failed" / "SandboxError"), ``message``, ``run_result`` with ``status``
("Finished" / "TimeLimitExceeded" / "Error"), ``stdout``, ``stderr``, ``return_code``, ``execution_time``.
Retries follow the ``http`` backend's rule: only connection failures and 503 are retried.
"""

from __future__ import annotations

from typing import Any

import httpx

from simpletir.sandbox.base import ExecResult, ExecStatus, Sandbox, SandboxError
from simpletir.sandbox.transport import post_accepted, result_from


def map_fusion_reply(reply: dict[str, Any]) -> ExecResult:
    """Map a SandboxFusion ``/run_code`` reply onto ``ExecResult``."""
    if reply.get("status") == "SandboxError":
        return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=str(reply.get("message", "SandboxError")))
    run = reply.get("run_result") or {}
    if not run:
        compile_result = reply.get("compile_result") or {}
        message = compile_result.get("stderr") or reply.get("message") or "no run_result in the reply"
        return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=str(message))
    stdout, stderr = str(run.get("stdout") or ""), str(run.get("stderr") or "")
    returncode = run.get("return_code")
    duration = float(run.get("execution_time") or 0.0)
    run_status = run.get("status")
    last_line = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if run_status == "TimeLimitExceeded":
        status = ExecStatus.TIMEOUT
    elif "MemoryError" in last_line:
        status = ExecStatus.MEMORY
    elif run_status == "Finished" and returncode == 0:
        status = ExecStatus.OK
    elif run_status in ("Finished", "Error") and isinstance(returncode, int):
        status = ExecStatus.KILLED if returncode < 0 or returncode in (137, 139) else ExecStatus.ERROR
    else:
        return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr=f"unexpected run_result: {run}")
    return ExecResult(status=status, stdout=stdout, stderr=stderr, returncode=returncode, duration_s=duration)


class SandboxFusionSandbox(Sandbox):
    """Client for a SandboxFusion server; see module docstring."""

    def __init__(
        self,
        url: str,
        *,
        memory_limit_mb: int = 1024,
        default_timeout: float = 5.0,
        overhead_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.2,
        max_connections: int = 256,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise SandboxError(f"url must be the SandboxFusion server's http(s) URL, got {url!r}")
        self.url = url.rstrip("/")
        self.memory_limit_mb = memory_limit_mb
        self.default_timeout = default_timeout
        self.overhead_s = overhead_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=max_connections))

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        """Run ``code`` on the SandboxFusion server; transport faults become ``sandbox_error``."""
        limit = self.default_timeout if timeout is None else float(timeout)
        payload = {
            "code": code,
            "language": "python",
            "run_timeout": limit,
            "memory_limit_MB": self.memory_limit_mb,
            "stdin": stdin or "",
        }
        outcome = await post_accepted(
            self._client, lambda _failed: self.url, "/run_code", payload,
            timeout=limit + self.overhead_s, max_retries=self.max_retries, backoff_s=self.backoff_s,
        )  # fmt: skip
        return result_from(outcome, map_fusion_reply)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

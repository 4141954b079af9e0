"""HTTP server for a sandbox fleet: a sandbox behind FastAPI (``simpletir-sandbox serve``).

``POST /run`` {code, timeout?, stdin?} → 200 with an ``ExecResult`` as JSON for every program that ran
(whatever it did). Refusals, all before anything runs: 401 without ``Authorization: Bearer <token>``
(when a token is set), 413 for a body over ``max_request_bytes``, 422 for a malformed body, 503 when
the sandbox cannot take the program (closed or shutting down; clients retry 503 elsewhere).
``GET /health`` (open without the token, for load balancers) and ``GET /metrics`` (JSON). The app
starts and warms every worker of the sandbox before it serves, so no run (and no latency in
``/metrics``) includes a worker's start-up.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simpletir.sandbox.base import Sandbox, SandboxError
from simpletir.sandbox.factory import create_sandbox

logger = logging.getLogger(__name__)

LATENCY_WINDOW = 1024
"""``/metrics`` latency quantiles are over this many most recent runs."""


class RunRequest(BaseModel):
    """Body of ``POST /run``; unknown fields are an error (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid")

    code: str
    timeout: float | None = Field(default=None, gt=0, le=3600)
    stdin: str | None = None


class _Metrics:
    """Counters behind ``/metrics``."""

    def __init__(self) -> None:
        self.started = time.time()
        self.by_status: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.in_flight = 0
        self.latency_sum = 0.0
        self.recent: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def snapshot(self) -> dict[str, Any]:
        runs = sum(self.by_status.values())
        ordered = sorted(self.recent)

        def quantile(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

        return {
            "runs": runs,
            "by_status": dict(self.by_status),
            "rejected": dict(self.rejected),
            "in_flight": self.in_flight,
            "latency_s": {
                "mean": self.latency_sum / runs if runs else 0.0,
                "p50": quantile(0.5),
                "p90": quantile(0.9),
                "p99": quantile(0.99),
                "max": ordered[-1] if ordered else 0.0,
                "window": len(ordered),
            },
            "uptime_s": time.time() - self.started,
        }


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, read in chunks; 413 as soon as it passes ``limit`` bytes (chunked bodies too)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status_code=413, detail=f"request body over {limit} bytes")
    return bytes(body)


def create_app(
    sandbox: Sandbox,
    *,
    token: str | None = None,
    max_request_bytes: int = 1_000_000,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    """A FastAPI app serving ``sandbox`` (see module docstring); it closes the sandbox on shutdown.

    ``on_ready`` is called once the sandbox's workers are warm, before the first request is served.
    """
    if max_request_bytes < 1:
        raise SandboxError("max_request_bytes must be positive")
    metrics = _Metrics()
    expected = f"Bearer {token}".encode() if token else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        start = getattr(sandbox, "start", None)
        if start is not None:
            try:
                await start()
            except SandboxError as exc:  # a closed sandbox: every run gets 503
                logger.warning("the sandbox did not start: %s", exc)
        if on_ready is not None:
            on_ready()
        yield
        await sandbox.close()

    app = FastAPI(title="simpletir sandbox", lifespan=lifespan)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if expected is not None and request.url.path != "/health":
            supplied = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(supplied, expected):
                metrics.rejected["401"] += 1
                return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_request_bytes:
            metrics.rejected["413"] += 1
            return JSONResponse({"detail": f"request body over {max_request_bytes} bytes"}, status_code=413)
        response = await call_next(request)
        if request.url.path == "/run" and response.status_code in (413, 422, 503):
            metrics.rejected[str(response.status_code)] += 1
        return response

    @app.post("/run")
    async def run(request: Request) -> dict[str, Any]:
        body = await _read_body(request, max_request_bytes)
        try:
            data = json.loads(body)  # the stdlib parser keeps lone surrogates, which code may contain
        except (ValueError, RecursionError) as exc:
            raise HTTPException(status_code=422, detail=f"body is not JSON: {exc}"[:500]) from None
        try:
            req = RunRequest.model_validate(data)
        except ValidationError as exc:
            detail = exc.errors(include_url=False, include_context=False, include_input=False)
            raise HTTPException(status_code=422, detail=detail) from None
        metrics.in_flight += 1
        start = time.perf_counter()
        try:
            result = await sandbox.run(req.code, timeout=req.timeout, stdin=req.stdin)
        except SandboxError as exc:
            raise HTTPException(status_code=503, detail=f"not accepted: {exc}") from None
        finally:
            metrics.in_flight -= 1
        elapsed = time.perf_counter() - start
        metrics.latency_sum += elapsed
        metrics.recent.append(elapsed)
        metrics.by_status[result.status.value] += 1
        return result.to_dict()

    @app.get("/health")
    async def health() -> JSONResponse:
        info: dict[str, Any] = {"status": "ok"}
        isolation = getattr(sandbox, "isolation", None)
        if isolation is not None:
            try:
                info["isolation"] = await isolation()
            except SandboxError as exc:
                return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        return JSONResponse(info)

    @app.get("/metrics")
    async def get_metrics() -> dict[str, Any]:
        return metrics.snapshot()

    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    token: str | None = None,
    max_request_bytes: int = 1_000_000,
    sandbox_options: dict | None = None,
) -> None:
    """Serve a local sandbox built from ``sandbox_options`` on ``host:port`` (0: a free port) until interrupted.

    Prints the address once the workers are warm; raises OSError when the address cannot be bound.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = sock.getsockname()[1]
    url = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
    sandbox = create_sandbox("local", **(sandbox_options or {}))

    def announce() -> None:
        auth = "a bearer token" if token else "no token: anyone who can reach it can run code"
        print(f"simpletir-sandbox serve: listening on {url} (requests need {auth})", flush=True)

    app = create_app(sandbox, token=token, max_request_bytes=max_request_bytes, on_ready=announce)
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s without a token: anyone who can reach it can run code", host)
    with contextlib.closing(sock):
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])

"""HTTP server for a sandbox fleet: the local backend behind FastAPI (``simpletir-sandbox serve``).

``POST /run`` {code, timeout?, stdin?} → an ``ExecResult`` as JSON; ``GET /health``; ``GET /metrics``
(JSON counters). Bodies over ``max_request_bytes`` get 413; with a token, requests without
``Authorization: Bearer <token>`` get 401. A program that ran always answers 200 with its result.
"""

from __future__ import annotations

import hmac
import time
from collections import Counter
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from simpletir.sandbox.base import Sandbox
from simpletir.sandbox.factory import create_sandbox


class RunRequest(BaseModel):
    """Body of ``POST /run``."""

    code: str
    timeout: float | None = Field(default=None, gt=0, le=3600)
    stdin: str | None = None


def create_app(sandbox: Sandbox, *, token: str | None = None, max_request_bytes: int = 1_000_000) -> FastAPI:
    """A FastAPI app serving ``sandbox``; the app closes the sandbox on shutdown."""
    counts: Counter[str] = Counter()
    state = {"in_flight": 0, "started": time.time(), "latency_sum": 0.0}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        await sandbox.close()

    app = FastAPI(title="simpletir sandbox", lifespan=lifespan)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if token is not None and request.url.path != "/health":
            supplied = request.headers.get("authorization", "")
            if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            return JSONResponse({"detail": f"request body over {max_request_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.post("/run")
    async def run(request: Request) -> dict[str, Any]:
        body = await request.body()
        if len(body) > max_request_bytes:
            raise HTTPException(status_code=413, detail=f"request body over {max_request_bytes} bytes")
        try:
            req = RunRequest.model_validate_json(body)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        state["in_flight"] += 1
        start = time.perf_counter()
        try:
            result = await sandbox.run(req.code, timeout=req.timeout, stdin=req.stdin)
        finally:
            state["in_flight"] -= 1
        state["latency_sum"] += time.perf_counter() - start
        counts[result.status.value] += 1
        return result.to_dict()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        info: dict[str, Any] = {"status": "ok"}
        isolation = getattr(sandbox, "isolation", None)
        if isolation is not None:
            info["isolation"] = await isolation()
        return info

    @app.get("/metrics")
    async def metrics() -> dict[str, Any]:
        total = sum(counts.values())
        return {
            "requests": total,
            "by_status": dict(counts),
            "in_flight": state["in_flight"],
            "mean_latency_s": state["latency_sum"] / total if total else 0.0,
            "uptime_s": time.time() - state["started"],
        }

    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    token: str | None = None,
    max_request_bytes: int = 1_000_000,
    sandbox_options: dict | None = None,
) -> None:
    """Serve a local sandbox built from ``sandbox_options`` with uvicorn until interrupted."""
    import uvicorn

    app = create_app(
        create_sandbox("local", **(sandbox_options or {})), token=token, max_request_bytes=max_request_bytes
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")

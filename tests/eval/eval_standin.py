"""OpenAI-compatible stand-in servers for the eval tests: scripted completions, a tiny real model (sampled by
transformers' ``generate``, or token for token as vLLM does by ``simpletir.backends.hf_generation``), and a chat-only
server.

The first three speak the subset of vLLM's ``/v1/completions`` that ``simpletir-eval`` uses: ``prompt``,
``max_tokens``, ``stop`` (trimmed from the text, reported as ``stop_reason``), ``n`` and ``usage``.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simpletir.backends.hf_generation import HFGenerator, SamplingSettings
from simpletir.tir.protocol import find_first_code_block

OBSERVATION_RE = re.compile(r"\nCode execution result: [^\n]*\n\n?")


def _kept(turn: str) -> str:
    """The part of a scripted turn the eval keeps: through its first code block when it has one."""
    block = find_first_code_block(turn)
    return turn[: block.end] if block else turn


def apply_stop(text: str, stop: list[str] | None, max_tokens: int) -> tuple[str, str, str | None]:
    """Cut ``text`` (1 character = 1 token) at the earliest stop string or ``max_tokens``."""
    cut, reason = len(text), None
    for s in stop or []:
        i = text.find(s)
        if i != -1 and i < cut:
            cut, reason = i, s
    if cut > max_tokens:
        return text[:max_tokens], "length", None
    return text[:cut], "stop", reason


@dataclass
class Script:
    """Scripted completions: per question, alternative trajectories (lists of turn texts), handed out
    round-robin as first turns arrive; later requests continue the alternative their text matches."""

    alternatives: dict[str, list[list[str]]]
    fail_first: int = 0
    """Answer this many completion requests with ``fail_status`` before serving."""
    fail_status: int = 500
    hang_s: float = 0.0
    """Sleep this long before every completion response (whose prompt contains ``hang_on``, when set)."""
    hang_on: str | None = None
    report_stop: bool = True
    """Send vLLM's ``stop_reason`` (plain OpenAI servers do not)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: int = 0

    def next_text(self, prompt: str) -> str:
        """The rest of the current turn's text for ``prompt`` (empty: the script is over, i.e. EOS)."""
        question = next((q for q in self.alternatives if q in prompt), None)
        if question is None:
            return "I do not know this question."
        so_far = prompt[prompt.index(question) + len(question) :]
        alternatives = self.alternatives[question]
        if not so_far:
            choice = alternatives[self.counters[question] % len(alternatives)]
            self.counters[question] += 1
            return choice[0]
        for turns in alternatives:
            rest = so_far
            for turn in turns:
                kept = _kept(turn)
                if rest.startswith(kept) and kept:
                    rest = rest[len(kept) :]
                    match = OBSERVATION_RE.match(rest)
                    if match:
                        rest = rest[match.end() :]
                    continue
                if turn.startswith(rest):
                    return turn[len(rest) :]
                break
            else:
                if not rest:
                    return ""
        return "unexpected context"


def scripted_app(script: Script) -> FastAPI:
    """A FastAPI app serving ``script`` at ``/v1/completions`` and ``/v1/models``."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "scripted-model", "object": "model"}]}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        script.requests.append(body)
        if script.failures < script.fail_first:
            script.failures += 1
            return JSONResponse({"error": "refused"}, status_code=script.fail_status)
        if script.hang_s and (script.hang_on is None or script.hang_on in body["prompt"]):
            await asyncio.sleep(script.hang_s)
        text, finish, reason = apply_stop(
            script.next_text(body["prompt"]), body.get("stop"), body["max_tokens"]
        )
        choice = {"text": text, "finish_reason": finish}
        if script.report_stop:
            choice["stop_reason"] = reason
        choices = [{"index": i, **choice} for i in range(body.get("n", 1))]
        usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(text) + (reason is not None)}
        return {
            "id": "cmpl",
            "object": "text_completion",
            "model": body["model"],
            "choices": choices,
            "usage": usage,
        }

    return app


def model_app(model: Any, tokenizer: Any, max_new_tokens: int = 24) -> FastAPI:
    """A FastAPI app that samples from a real transformers ``model`` (at most ``max_new_tokens``)."""
    import torch

    app = FastAPI()
    lock = threading.Lock()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "tiny-random", "object": "model"}]}

    @app.post("/v1/completions")
    def completions(body: dict[str, Any]) -> dict[str, Any]:
        ids = tokenizer(body["prompt"], return_tensors="pt").input_ids
        limit = min(int(body["max_tokens"]), max_new_tokens)
        choices = []
        generated = 0
        for i in range(body.get("n", 1)):
            with lock, torch.no_grad():
                out = model.generate(
                    ids,
                    max_new_tokens=limit,
                    do_sample=True,
                    temperature=body.get("temperature", 1.0),
                    top_p=1.0,
                )
            new = out[0, ids.shape[1] :]
            generated += len(new)
            text = tokenizer.decode(new, skip_special_tokens=True)
            hit_eos = tokenizer.eos_token_id is not None and tokenizer.eos_token_id in new.tolist()
            text, finish, reason = apply_stop(text, body.get("stop"), len(text))
            if reason is None and not hit_eos and len(new) >= limit:
                finish = "length"
            choices.append({"index": i, "text": text, "finish_reason": finish, "stop_reason": reason})
        usage = {"prompt_tokens": ids.shape[1], "completion_tokens": generated}
        return {
            "id": "cmpl",
            "object": "text_completion",
            "model": "tiny-random",
            "choices": choices,
            "usage": usage,
        }

    return app


def generator_app(generator: HFGenerator, tokenizer: Any, name: str = "tiny-tir") -> FastAPI:
    """vLLM's ``/v1/completions`` on ``generator``, one request at a time: the prompt tokenised as vLLM does
    (``tokenizer(prompt)``), the sampling parameters and seed passed on, the text cut before the first stop string
    (reported as ``stop_reason``), and ``usage`` counting every sampled token, the stop string's and EOS included."""
    app = FastAPI()
    lock = threading.Lock()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model"}]}

    @app.post("/v1/completions")
    def completions(body: dict[str, Any]) -> dict[str, Any]:
        ids = tokenizer(body["prompt"]).input_ids
        stop = body.get("stop") or []
        settings = SamplingSettings(
            max_tokens=body["max_tokens"],
            temperature=body.get("temperature", 1.0),
            top_p=body.get("top_p", 1.0),
            stop=tuple(stop),
            seed=body.get("seed"),
        )
        with lock:
            (out,) = generator.generate([ids], [settings])
        text = tokenizer.decode(out.token_ids, skip_special_tokens=True)
        fired = [(text.index(s), s) for s in stop if s in text]
        reason = min(fired)[1] if fired else None
        if reason is not None:
            text = text[: text.index(reason)]
        choice = {"index": 0, "text": text, "finish_reason": out.finish_reason, "stop_reason": reason}
        usage = {"prompt_tokens": len(ids), "completion_tokens": len(out.token_ids)}
        return {"id": "cmpl", "object": "text_completion", "model": name, "choices": [choice], "usage": usage}

    return app


def chat_only_app(paths: list[str]) -> FastAPI:
    """A server like many "OpenAI-compatible" ones: ``/v1/models`` and ``/v1/chat/completions`` only, so
    ``/v1/completions`` answers 404. Appends the path of every request it gets to ``paths``."""
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        paths.append(request.url.path)
        return await call_next(request)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "chat-model", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        message = {"role": "assistant", "content": "\\boxed{42}"}
        return {"id": "chat", "object": "chat.completion", "choices": [{"index": 0, "message": message}]}

    return app


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    """Poll ``condition`` until it holds; raises ``TimeoutError`` naming ``what`` after ``timeout_s`` (a
    generous bound for a loaded machine, not a measurement)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.02)


class ServerThread:
    """Runs an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread; a context manager."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), "the stand-in server to start")
        if not self.server.started:
            raise RuntimeError("stand-in server did not start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

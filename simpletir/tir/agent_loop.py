"""The multi-turn TIR agent loop, registered in verl as ``simpletir_agent`` (and ``simpletir_agent_eval``).

One trajectory: the model generates; when its first code block closes the block runs in the
sandbox and the formatted output is appended as tool tokens (``response_mask`` 0, log-prob 0.0);
repeat until a final answer (``\\boxed{`` in the turn or in the program's output), a void turn, max
turns or the response budget. Sampled token ids are kept exactly as sampled: text is decoded only
to find code blocks, and only observations are tokenised. With ``simpletir.agent.tool_use=false`` (the
text-only baseline) the prompt has the text-only instruction and a trajectory is one generation, nothing executed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register
from verl.experimental.agent_loop.tool_agent_loop import SPEC_DECODE_EXTRA_KEYS

from simpletir.config import simpletir_config
from simpletir.sandbox import Sandbox, create_sandbox
from simpletir.tir.agent_config import SandboxSettings
from simpletir.tir.code_runner import run_code_block
from simpletir.tir.protocol import (
    CODE_FENCE,
    EVAL_AGENT,
    MAX_REQUESTS_PER_TURN,
    TRAIN_AGENT,
    classify_turn,
    end_after_observation,
    end_after_turn,
    find_first_code_block,
    text_only_messages,
)
from simpletir.tir.record import TIRRecord

logger = logging.getLogger(__name__)


def merge_server_fields(merged: dict[str, Any], output_fields: dict[str, Any]) -> None:
    """Fold one generate call's ``extra_fields`` into the trajectory's, as verl's ``ToolAgentLoop`` does.

    The first call's fields are taken whole (``global_steps``, ``min_global_steps``, ...); later calls
    only raise ``max_global_steps`` and add up the speculative-decoding counters. verl's V1 trainer reads
    ``min_global_steps``/``max_global_steps`` of every trajectory (off-policy bookkeeping).
    """
    if not merged:
        merged.update(output_fields)
        return
    if output_fields.get("max_global_steps") is not None:
        merged["max_global_steps"] = output_fields["max_global_steps"]
    for key in SPEC_DECODE_EXTRA_KEYS:
        if key in output_fields and key in merged:
            merged[key] = int(merged[key]) + int(output_fields[key])


@dataclass
class Trajectory:
    """The state of one trajectory: response tokens, masks, log-probs, the TIR record and server fields."""

    prompt_ids: list[int]
    request_id: str
    response_ids: list[int] = field(default_factory=list)
    response_mask: list[int] = field(default_factory=list)
    response_logprobs: list[float] = field(default_factory=list)
    has_logprobs: bool = True
    record: TIRRecord = field(default_factory=TIRRecord)
    server_fields: dict[str, Any] = field(default_factory=dict)
    generate_s: float = 0.0
    tool_s: float = 0.0

    def append(self, ids: list[int], logprobs: list[float] | None, *, sampled: bool) -> None:
        """Append tokens; ``sampled`` tokens are trained on (mask 1), observations are not (mask 0)."""
        self.response_ids += ids
        self.response_mask += [1 if sampled else 0] * len(ids)
        if logprobs is None or len(logprobs) != len(ids):
            self.has_logprobs = self.has_logprobs and not sampled
            logprobs = [0.0] * len(ids)
        self.response_logprobs += logprobs

    def extra_fields(self) -> dict[str, Any]:
        """verl's per-trajectory ``extra_fields``: the server's fields plus the TIR record (DESIGN, Contracts)."""
        return {**self.server_fields, **self.record.extra_fields()}


_SANDBOXES: dict[tuple[int, str, str], Sandbox] = {}


def shared_sandbox(settings: SandboxSettings) -> Sandbox:
    """The sandbox shared by every agent loop of this process and event loop, created on first use."""
    key = (id(asyncio.get_running_loop()), settings.backend, json.dumps(settings.options, sort_keys=True))
    sandbox = _SANDBOXES.get(key)
    if sandbox is None:
        sandbox = _SANDBOXES[key] = create_sandbox(settings.backend, **settings.options)
    return sandbox


@register(TRAIN_AGENT)
class SimpleTIRAgentLoop(AgentLoopBase):
    """SimpleTIR's turn loop with training settings (see module docstring)."""

    validate = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = simpletir_config(self.config)  # parsed once per worker, not per trajectory
        self.settings, self.sandbox_settings = settings.agent, settings.sandbox
        self.response_length = int(self.rollout_config.response_length)
        eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    async def run(self, sampling_params: dict[str, Any], priority: int = 0, **kwargs: Any) -> AgentLoopOutput:
        """Run one trajectory for the dataset row in ``kwargs`` and return verl's output.

        Every request of the trajectory carries one ``request_id`` (verl routes a request id to the same
        server: prefix cache, sticky sessions), made as verl's ``ToolAgentLoop`` makes it.
        """
        deterministic = bool(self.rollout_config.get("full_determinism", False))
        traj = Trajectory(
            prompt_ids=await self._prompt_ids(list(kwargs["raw_prompt"])),
            request_id=f"det-{priority}" if deterministic else uuid4().hex,
        )
        sandbox = shared_sandbox(self.sandbox_settings)
        max_turns = self.settings.turns(self.validate)
        while traj.record.end_reason is None:
            await self._turn(traj, sampling_params, sandbox, last=traj.record.num_turns + 1 >= max_turns)
        return AgentLoopOutput(
            prompt_ids=traj.prompt_ids,
            response_ids=traj.response_ids[: self.response_length],
            response_mask=traj.response_mask[: self.response_length],
            response_logprobs=traj.response_logprobs[: self.response_length] if traj.has_logprobs else None,
            num_turns=traj.record.num_turns + 1,
            metrics={"generate_sequences": traj.generate_s, "tool_calls": traj.tool_s},
            extra_fields=traj.extra_fields(),
        )

    async def _prompt_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        """Tokenise the prompt (text-only instruction without the tool): with the chat template (verl's builder) or
        as the user text alone."""
        if not self.settings.tool_use:
            messages = text_only_messages(messages)
        if self.settings.apply_chat_template:
            return await self.ct_build_initial_tokens(messages)
        text = "".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        ids = await self.loop.run_in_executor(
            None, lambda: self.tokenizer.encode(text, add_special_tokens=False)
        )
        return self._cap_text_prompt_length(ids)

    async def _turn(
        self, traj: Trajectory, sampling_params: dict[str, Any], sandbox: Sandbox, last: bool
    ) -> None:
        """Generate one turn, run its code block if any, and set ``end_reason`` when the trajectory ends.

        The turn's kind is ``classify_turn``'s and the ending ``end_after_turn``'s / ``end_after_observation``'s:
        the one turn rule, shared with evaluation.
        """
        record = traj.record
        ids, logprobs, text = await self._generate_turn(traj, sampling_params)
        start = len(traj.response_ids)
        traj.append(ids, logprobs, sampled=True)
        kind = classify_turn(text, tool_use=self.settings.tool_use)
        record.turn_kinds.append(kind.value)
        record.turn_spans.append((start, len(traj.response_ids)))
        record.end_reason = end_after_turn(kind, len(traj.response_ids), self.response_length)
        if record.end_reason is not None:
            return
        block = find_first_code_block(text)
        start = time.perf_counter()
        run = await run_code_block(sandbox, block.code, self.settings.code)
        traj.tool_s += time.perf_counter() - start
        record.code_statuses.append(run.status)
        self._append_observation(traj, run.observation)
        record.end_reason = end_after_observation(
            text, run.printed_final_answer, len(traj.response_ids), self.response_length, last
        )

    def _append_observation(self, traj: Trajectory, observation: str) -> None:
        """Tokenise the observation, cap it, and append it as tool tokens."""
        if not observation:
            return
        ids = self.tokenizer.encode(observation, add_special_tokens=False)
        room = self.response_length - len(traj.response_ids)
        traj.append(ids[: max(0, min(self.settings.max_observation_tokens, room))], None, sampled=False)

    async def _generate_turn(
        self, traj: Trajectory, sampling_params: dict[str, Any]
    ) -> tuple[list[int], list[float] | None, str]:
        """Sample one turn: stop right after the first complete code block, keeping sampled ids exactly.

        With ``stop_at_code_block`` the server stops at every code fence; a stop at an opening fence
        is continued with another request (the tokens so far become part of the prompt). Without the tool the
        turn is one request, kept whole.
        """
        per_turn = self.settings.tokens_per_turn(self.validate)
        ids: list[int] = []
        logprobs: list[float] | None = []
        for _ in range(MAX_REQUESTS_PER_TURN):
            budget = min(per_turn - len(ids), self.response_length - len(traj.response_ids) - len(ids))
            if budget <= 0:
                break
            params = {**sampling_params, "max_tokens": budget}
            if self._stops_at_fence:
                params["stop"] = [CODE_FENCE]
            start = time.perf_counter()
            out = await self.server_manager.generate(
                request_id=traj.request_id,
                prompt_ids=traj.prompt_ids + traj.response_ids + ids,
                sampling_params=params,
            )
            traj.generate_s += time.perf_counter() - start
            merge_server_fields(traj.server_fields, dict(out.extra_fields or {}))
            ids += list(out.token_ids)
            if logprobs is not None and out.log_probs and len(out.log_probs) == len(out.token_ids):
                logprobs += list(out.log_probs)
            else:
                logprobs = None
            text = self._decode(ids)
            if not self.settings.tool_use or find_first_code_block(text) is not None:
                break
            # Stopped early, not by EOS nor by the budget: the server hit a fence that did not close a
            # block (an opening fence, or one inside prose); keep sampling the same turn.
            stopped_at_fence = (
                self._stops_at_fence
                and bool(out.token_ids)
                and out.token_ids[-1] not in self.eos_ids
                and len(out.token_ids) < budget
                and out.stop_reason != "aborted"
            )
            if not stopped_at_fence:
                break
        keep = self._cut_after_first_block(ids) if self.settings.tool_use else len(ids)
        ids = ids[:keep]
        logprobs = logprobs[:keep] if logprobs is not None else None
        return ids, logprobs, self._decode(ids)

    @property
    def _stops_at_fence(self) -> bool:
        """Whether generation stops at code fences (``stop_at_code_block``, with the tool)."""
        return self.settings.tool_use and self.settings.stop_at_code_block

    def _decode(self, ids: list[int]) -> str:
        """Decode token ids to text (special tokens dropped) for pattern matching only."""
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _cut_after_first_block(self, ids: list[int]) -> int:
        """Smallest prefix length whose text holds a complete code block; ``len(ids)`` when none does."""
        if find_first_code_block(self._decode(ids)) is None:
            return len(ids)
        low, high = 1, len(ids)
        while low < high:
            mid = (low + high) // 2
            if find_first_code_block(self._decode(ids[:mid])) is None:
                low = mid + 1
            else:
                high = mid
        return low


@register(EVAL_AGENT)
class SimpleTIREvalAgentLoop(SimpleTIRAgentLoop):
    """The same loop with evaluation settings (``val_max_turns``, ``val_max_tokens_per_turn``)."""

    validate = True

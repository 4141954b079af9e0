"""The TIR agent loop through verl's real agent-loop base class, with the real local sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, _agent_loop_registry

from simpletir.sandbox import ExecResult, ExecStatus, Sandbox
from simpletir.tir import agent_loop as agent_loop_module
from simpletir.tir.agent_loop import SimpleTIRAgentLoop, SimpleTIREvalAgentLoop
from simpletir.tir.protocol import build_prompt_messages

from .tir_fixtures import ModelServer, ScriptedServer, make_agent_loop, tiny_model, tiny_tokenizer

EOS = "<|im_end|>"
PROMPT = build_prompt_messages("What is 6 times 7?")


@pytest.fixture(autouse=True)
async def _fresh_sandboxes() -> AsyncIterator[None]:
    """Each test gets its own shared sandbox (per event loop) and closes it afterwards."""
    yield
    sandboxes = list(agent_loop_module._SANDBOXES.values())
    agent_loop_module._SANDBOXES.clear()
    await asyncio.gather(*(sb.close() for sb in sandboxes))


def sandbox_options(**options: Any) -> dict[str, Any]:
    return {"backend": "local", "options": {"max_workers": 2, **options}}


async def run_script(
    script: list[str], *, cls: type = SimpleTIRAgentLoop, **config: Any
) -> tuple[AgentLoopOutput, ScriptedServer]:
    tokenizer = tiny_tokenizer()
    server = ScriptedServer(tokenizer, script)
    config.setdefault("sandbox", sandbox_options())
    loop = make_agent_loop(cls, server, tokenizer, **config)
    output = await loop.run({"temperature": 1.0}, raw_prompt=PROMPT)
    return output, server


def sampled_runs(output: AgentLoopOutput) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of sampled tokens (``response_mask`` 1)."""
    runs: list[tuple[int, int]] = []
    for i, mask in enumerate(output.response_mask):
        if mask and runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        elif mask:
            runs.append((i, i + 1))
    return runs


def segments(output: AgentLoopOutput) -> list[tuple[int, str]]:
    """The response as (mask, text) runs: what the model sampled (1) and what the tools added (0)."""
    tokenizer = tiny_tokenizer()
    runs: list[tuple[int, list[int]]] = []
    for token, mask in zip(output.response_ids, output.response_mask, strict=True):
        if runs and runs[-1][0] == mask:
            runs[-1][1].append(token)
        else:
            runs.append((mask, [token]))
    return [(mask, tokenizer.decode(ids)) for mask, ids in runs]


def check_alignment(output: AgentLoopOutput, server: ScriptedServer) -> None:
    """Masks, log-probs and ids line up: sampled tokens carry the server's log-prob, tool tokens 0.0."""
    assert len(output.response_ids) == len(output.response_mask) == len(output.response_logprobs)
    for mask, logprob in zip(output.response_mask, output.response_logprobs, strict=True):
        assert logprob == (server.logprob if mask else 0.0)
    # every request continues exactly the tokens of the trajectory so far
    for call in server.calls:
        prefix = call["prompt_ids"]
        assert prefix[: len(output.prompt_ids)] == output.prompt_ids
        assert output.response_ids[: len(prefix) - len(output.prompt_ids)] == prefix[len(output.prompt_ids) :]


async def test_code_turn_then_answer() -> None:
    script = [
        "Let me compute.\n```python\nprint(6 * 7)\n```",
        "\nSo the answer is \\boxed{42}." + EOS,
    ]
    output, server = await run_script(script)
    assert segments(output) == [
        (1, "Let me compute.\n```python\nprint(6 * 7)\n```"),
        (0, "\nCode execution result: 42\n\n"),
        (1, "\nSo the answer is \\boxed{42}." + EOS),  # EOS was sampled: it is trained on
    ]
    check_alignment(output, server)
    assert sampled_runs(output) == [tuple(span) for span in output.extra_fields.pop("tir_turn_spans")]
    assert output.extra_fields == {
        "global_steps": 7,
        "min_global_steps": 7,
        "max_global_steps": 7,
        "void_turn": False,
        "tir_overlong": False,
        "tir_end_reason": "answer",
        "tir_num_turns": 2,
        "tir_turn_kinds": ["code", "answer"],
        "tir_code_statuses": ["ok"],
    }
    # the chat template was applied to the prompt
    assert tiny_tokenizer().decode(output.prompt_ids).startswith("<|im_start|>user\nSolve the following")


async def test_one_request_id_per_trajectory() -> None:
    script = ["Compute:\n```python\nprint(1)\n```", "Again:\n```python\nprint(2)\n```", "\\boxed{2}" + EOS]
    _, first = await run_script(script)
    _, second = await run_script(script)
    ids = {call["request_id"] for call in first.calls}
    assert len(first.calls) == 5 and len(ids) == 1  # two fences per code turn, one answer turn
    assert ids.isdisjoint(call["request_id"] for call in second.calls)


class VersionedServer(ScriptedServer):
    """A scripted server whose weights are updated (version + 1) after each call."""

    async def generate(self, request_id: str, **kwargs: Any) -> Any:
        out = await super().generate(request_id, **kwargs)
        self.global_steps += 1
        return out


async def test_server_fields_merged_across_a_weight_update() -> None:
    tokenizer = tiny_tokenizer()
    script = ["```python\nprint(1)\n```", "```python\nprint(2)\n```", "\\boxed{2}" + EOS]
    server = VersionedServer(tokenizer, script)
    loop = make_agent_loop(SimpleTIRAgentLoop, server, tokenizer, sandbox=sandbox_options())
    output = await loop.run({}, raw_prompt=PROMPT)
    versions = [7 + i for i in range(len(server.calls))]
    fields = output.extra_fields
    assert (fields["global_steps"], fields["min_global_steps"], fields["max_global_steps"]) == (
        versions[0],
        versions[0],
        versions[-1],
    )


async def test_generation_stops_at_the_closing_fence_and_drops_nothing_sampled() -> None:
    script = ["Compute:\n```python\nprint(1 + 1)\n```\nand then I keep talking \\boxed{9}" + EOS]
    output, server = await run_script(script, agent={"max_turns": 1})
    sampled = [text for mask, text in segments(output) if mask == 1]
    assert sampled == ["Compute:\n```python\nprint(1 + 1)\n```"]
    # the opening fence stopped the first request, the closing fence the second
    assert [call["sampling_params"]["stop"] for call in server.calls] == [["```"], ["```"]]
    assert output.extra_fields["tir_end_reason"] == "max_turns"
    check_alignment(output, server)


async def test_without_stop_strings_the_turn_is_cut_after_the_block() -> None:
    script = ["Compute:\n```python\nprint(1 + 1)\n```\nmore text that was sampled" + EOS]
    output, server = await run_script(script, agent={"max_turns": 1, "stop_at_code_block": False})
    assert [text for mask, text in segments(output) if mask == 1] == [
        "Compute:\n```python\nprint(1 + 1)\n```"
    ]
    assert "stop" not in server.calls[0]["sampling_params"]


async def test_void_turn_ends_the_trajectory() -> None:
    output, server = await run_script(["I think the answer is 42." + EOS, "never generated"])
    assert output.extra_fields["void_turn"] is True
    assert output.extra_fields["tir_end_reason"] == "void"
    assert len(server.calls) == 1
    assert output.response_mask == [1] * len(output.response_ids)


async def test_unclosed_code_block_at_the_length_limit_is_void_and_overlong() -> None:
    script = ["```python\n" + "x = 1\n" * 400]
    output, _ = await run_script(script, response_length=64)
    assert len(output.response_ids) == 64
    assert output.extra_fields["void_turn"] is True
    assert output.extra_fields["tir_end_reason"] == "overlong"
    assert output.extra_fields["tir_overlong"] is True


async def test_final_answer_in_code_ends_with_its_printed_box() -> None:
    script = ["```python\nfinal_answer(6 * 7)\n```", "unused" + EOS]
    output, server = await run_script(script)
    assert segments(output)[-1] == (0, "\nCode execution result: \\boxed{42}\n\n")
    assert output.extra_fields["tir_end_reason"] == "answer"
    assert len(server.calls) == 2  # opening fence, closing fence; no turn after the answer


async def test_stderr_shows_the_last_line_only() -> None:
    script = ["```python\nprint('partial')\n1 / 0\n```", "\\boxed{0}" + EOS]
    output, _ = await run_script(script)
    assert (0, "\nCode execution result: ZeroDivisionError: division by zero\n") in segments(output)
    assert output.extra_fields["tir_code_statuses"] == ["error"]


async def test_timeout_is_shown_and_counted() -> None:
    script = ["```python\nwhile True:\n    pass\n```", "\\boxed{1}" + EOS]
    output, _ = await run_script(script, agent={"code": {"timeout_s": 0.5}})
    assert (0, "\nCode execution result: Timeout\n") in segments(output)
    assert output.extra_fields["tir_code_statuses"] == ["timeout"]


class BrokenSandbox(Sandbox):
    """Stands in for a sandbox service that is down: every call is an infrastructure failure."""

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, code: str, *, timeout: float | None = None, stdin: str | None = None) -> ExecResult:
        self.calls += 1
        return ExecResult(status=ExecStatus.SANDBOX_ERROR, stderr="connection refused")


async def test_sandbox_failure_is_retried_then_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = BrokenSandbox()
    monkeypatch.setattr(agent_loop_module, "create_sandbox", lambda backend, **options: broken)
    script = ["```python\nprint(1)\n```", "\\boxed{1}" + EOS]
    output, _ = await run_script(script, agent={"code": {"sandbox_retries": 2, "retry_backoff_s": 0.0}})
    assert broken.calls == 3
    assert (0, "\nCode execution result: Sandbox error: the code could not be executed\n") in segments(output)
    assert output.extra_fields["tir_code_statuses"] == ["sandbox_error"]


async def test_max_turns_keeps_the_last_observation() -> None:
    turn = "```python\nprint(7)\n```"
    output, server = await run_script([turn] * 5, agent={"max_turns": 3})
    assert output.extra_fields["tir_end_reason"] == "max_turns"
    assert output.extra_fields["tir_num_turns"] == 3
    assert [tuple(s) for s in output.extra_fields["tir_turn_spans"]] == sampled_runs(output)
    assert segments(output)[-1] == (0, "\nCode execution result: 7\n\n")
    check_alignment(output, server)


async def test_eval_loop_uses_evaluation_turns() -> None:
    turn = "```python\nprint(7)\n```"
    output, _ = await run_script(
        [turn] * 12, cls=SimpleTIREvalAgentLoop, agent={"max_turns": 2, "val_max_turns": 4}
    )
    assert output.extra_fields["tir_num_turns"] == 4


async def test_huge_output_is_truncated_and_observation_tokens_capped() -> None:
    script = ["```python\nprint('ab' * 50000)\n```", "\\boxed{1}" + EOS]
    output, _ = await run_script(script, agent={"max_observation_tokens": 40})
    tool_tokens = [m for m in output.response_mask if m == 0]
    assert 0 < len(tool_tokens) <= 40


async def test_a_program_that_prints_nothing_still_gets_the_result_line() -> None:
    script = ["```python\nx = 6 * 7\n```", "\\boxed{42}" + EOS]
    output, _ = await run_script(script)
    assert segments(output)[1] == (0, "\nCode execution result: \n")
    output, _ = await run_script(script, agent={"code": {"show_empty_output": False}})
    assert [mask for mask, _ in segments(output)] == [1]  # the earlier upstream behaviour: nothing appended


TEXT_ONLY = {"tool_use": False, "max_turns": 1, "val_max_turns": 1}


async def test_text_only_is_one_generation_with_the_text_prompt_and_no_tool() -> None:
    script = ["Let me check.\n```python\nprint(6 * 7)\n```\nSo it is \\boxed{42}." + EOS, "never generated"]
    output, server = await run_script(script, agent=TEXT_ONLY)
    assert len(server.calls) == 1 and "stop" not in server.calls[0]["sampling_params"]
    assert segments(output) == [(1, script[0])]  # kept whole, nothing executed or appended
    assert output.extra_fields["tir_turn_kinds"] == ["answer"]
    assert output.extra_fields["tir_code_statuses"] == []
    assert output.extra_fields["tir_end_reason"] == "answer"
    prompt = tiny_tokenizer().decode(output.prompt_ids)
    assert "What is 6 times 7?\nPlease reason step by step" in prompt and "Python code" not in prompt


async def test_text_only_without_an_answer_is_void_even_with_code() -> None:
    script = ["```python\nprint(6 * 7)\n```" + EOS]
    output, server = await run_script(script, cls=SimpleTIREvalAgentLoop, agent=TEXT_ONLY)
    assert len(server.calls) == 1 and output.extra_fields["tir_code_statuses"] == []
    assert output.extra_fields["tir_end_reason"] == "void"
    assert output.extra_fields["void_turn"] is True


async def test_raw_prompt_without_chat_template() -> None:
    output, _ = await run_script(["\\boxed{42}" + EOS], agent={"apply_chat_template": False})
    prompt = tiny_tokenizer().decode(output.prompt_ids)
    assert prompt.startswith("Solve the following problem") and "<|im_start|>" not in prompt


async def test_unknown_config_key_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['max_turn'\] in simpletir.agent"):
        await run_script(["x"], agent={"max_turn": 3})


def test_registered_in_verl() -> None:
    assert _agent_loop_registry["simpletir_agent"] == {
        "_target_": "simpletir.tir.agent_loop.SimpleTIRAgentLoop"
    }
    assert _agent_loop_registry["simpletir_agent_eval"]["_target_"].endswith("SimpleTIREvalAgentLoop")


async def test_tiny_real_model_trajectory_is_consistent() -> None:
    tokenizer = tiny_tokenizer()
    server = ModelServer(tokenizer, tiny_model(len(tokenizer)))
    loop = make_agent_loop(
        SimpleTIRAgentLoop, server, tokenizer, response_length=96, sandbox=sandbox_options()
    )
    output = await loop.run({"temperature": 1.0}, raw_prompt=PROMPT)
    assert 0 < len(output.response_ids) <= 96
    assert len(output.response_ids) == len(output.response_mask) == len(output.response_logprobs)
    assert all(lp <= 0.0 for lp in output.response_logprobs)
    # the end follows the turn rule from what the record says the turns were
    kinds, end = output.extra_fields["tir_turn_kinds"], output.extra_fields["tir_end_reason"]
    out_of_budget = len(output.response_ids) >= 96
    if kinds[-1] == "void":
        assert end == ("overlong" if out_of_budget else "void")
    elif kinds[-1] == "answer":
        assert end == "answer"
    else:
        assert end in {"answer", "overlong", "max_turns"}
        assert (end == "max_turns") <= (len(kinds) == 5 and not out_of_budget)
        assert (end == "overlong") <= out_of_budget


async def test_256_concurrent_trajectories_with_the_real_sandbox() -> None:
    tokenizer = tiny_tokenizer()
    script = ["```python\nprint({i} * 2)\n```", "\\boxed{{{i}}}" + EOS]

    async def one(i: int) -> AgentLoopOutput:
        server = ScriptedServer(tokenizer, [part.format(i=i) for part in script])
        loop = make_agent_loop(SimpleTIRAgentLoop, server, tokenizer, sandbox=sandbox_options())
        return await loop.run({}, raw_prompt=PROMPT)

    outputs = await asyncio.wait_for(
        asyncio.gather(*(one(i) for i in range(256))), timeout=120
    )  # a hang guard
    for i, output in enumerate(outputs):
        assert (0, f"\nCode execution result: {i * 2}\n\n") in segments(output)
        assert output.extra_fields["tir_end_reason"] == "answer"


@pytest.mark.gpu
async def test_tiny_model_on_cuda() -> None:
    tokenizer = tiny_tokenizer()
    server = ModelServer(tokenizer, tiny_model(len(tokenizer)), device="cuda")
    loop = make_agent_loop(
        SimpleTIRAgentLoop, server, tokenizer, response_length=96, sandbox=sandbox_options()
    )
    output = await loop.run({"temperature": 1.0}, raw_prompt=PROMPT)
    assert len(output.response_ids) == len(output.response_mask) == len(output.response_logprobs)


async def test_inline_fences_cannot_cause_unbounded_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_loop_module, "MAX_REQUESTS_PER_TURN", 5)
    script = ["use ``` and ``` and ``` and ``` and ``` and ``` and ``` and ``` here" + EOS]
    output, server = await run_script(script)
    assert len(server.calls) == 5
    assert output.extra_fields["void_turn"] is True

"""Typed settings of the TIR agent loop, read from the ``simpletir`` section of verl's config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import PositiveInt

from simpletir.config.sections import build_settings, plain
from simpletir.sandbox.factory import BACKENDS
from simpletir.sandbox.transport import TOKEN_ENV
from simpletir.tir.code_runner import CodeRunSettings


@dataclass(frozen=True)
class TIRAgentConfig:
    """Settings of one agent loop (``simpletir.agent``); defaults are the paper's training values."""

    max_turns: PositiveInt = 5
    """Generations per trajectory in training (the paper: 5, raised to 10 late in its schedule)."""
    val_max_turns: PositiveInt = 10
    """Generations per trajectory in validation and evaluation."""
    max_tokens_per_turn: PositiveInt = 8000
    """New tokens per generation in training."""
    val_max_tokens_per_turn: PositiveInt = 12000
    """New tokens per generation in validation."""
    max_observation_tokens: PositiveInt = 256
    """Tokens of one observation appended to the context at most (the final upstream script: 256; earlier 4096)."""
    tool_use: bool = True
    """False: the text-only baseline: the prompt's TIR instruction swapped for ``TEXT_INSTRUCTION``, one generation
    per trajectory (``max_turns`` and ``val_max_turns`` must be 1), no stop at code fences, no code executed."""
    apply_chat_template: bool = True
    """False: the prompt is the user message's text alone (Zero RL from a base model, no template)."""
    stop_at_code_block: bool = True
    """Stop generating when the first code block closes (True) or generate to EOS and cut (False)."""
    code: CodeRunSettings = field(default_factory=CodeRunSettings)
    """How code is executed and shown (time limit, observation size, sandbox retries)."""

    def turns(self, validate: bool) -> int:
        """Max turns for a training (False) or validation (True) trajectory."""
        return self.val_max_turns if validate else self.max_turns

    def tokens_per_turn(self, validate: bool) -> int:
        """Max new tokens per generation for training or validation."""
        return self.val_max_tokens_per_turn if validate else self.max_tokens_per_turn


@dataclass(frozen=True)
class SandboxSettings:
    """Which sandbox the agent loops of a worker share (``simpletir.sandbox``)."""

    backend: str = "local"
    """``local``, ``http``, ``sandbox_fusion`` or ``ray`` (see ``simpletir.sandbox.create_sandbox``)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of the backend; never ``token`` (the config is printed and logged): the http and
    sandbox_fusion backends read it from ``$SIMPLETIR_SANDBOX_TOKEN``."""


def load_agent_settings(config: Any) -> tuple[TIRAgentConfig, SandboxSettings]:
    """Read ``simpletir.agent`` and ``simpletir.sandbox`` from a (DictConfig) trainer config; defaults if absent."""
    section = plain(config.get("simpletir")) if config is not None else {}
    section = section or {}
    agent = dict(section.get("agent") or {})
    code = build_settings(CodeRunSettings, agent.pop("code", None), "simpletir.agent.code")
    agent_cfg = build_settings(TIRAgentConfig, {**agent, "code": code}, "simpletir.agent")
    if not agent_cfg.tool_use and (agent_cfg.max_turns, agent_cfg.val_max_turns) != (1, 1):
        raise ValueError(
            f"simpletir.agent.tool_use=false is one generation per trajectory: set max_turns=1 and val_max_turns=1 "
            f"(got {agent_cfg.max_turns} and {agent_cfg.val_max_turns})"
        )
    sandbox_cfg = build_settings(SandboxSettings, section.get("sandbox"), "simpletir.sandbox")
    if sandbox_cfg.backend not in BACKENDS:
        raise ValueError(
            f"simpletir.sandbox.backend={sandbox_cfg.backend!r}; choose one of {sorted(BACKENDS)}"
        )
    if "token" in sandbox_cfg.options:
        raise ValueError(
            f"simpletir.sandbox.options.token would be printed and logged with the config; "
            f"export {TOKEN_ENV} instead (the sandbox clients read it in every worker)"
        )
    return agent_cfg, sandbox_cfg

"""``simpletir.agent`` / ``simpletir.sandbox`` settings: defaults, and one-line errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simpletir.main import ConfigError, compose_config
from simpletir.tir.agent_config import load_agent_settings
from tests.simpletir.test_recipes import make_data_dir


def settings(agent: dict) -> tuple:
    """Load the settings of a config whose ``simpletir.agent`` section is ``agent``."""
    return load_agent_settings(OmegaConf.create({"simpletir": {"agent": agent}}))


def test_values_are_typed_and_kept() -> None:
    agent, sandbox = settings({"max_turns": 3, "code": {"max_observation_chars": 64, "stderr_lines": 0}})
    assert (agent.max_turns, agent.val_max_turns) == (3, 10)
    assert (agent.code.max_observation_chars, agent.code.stderr_lines) == (64, 0)
    assert sandbox.backend == "local"


def test_defaults_are_the_final_upstream_scripts() -> None:
    agent, _ = settings({})
    assert (agent.max_observation_tokens, agent.code.max_observation_chars) == (256, 512)
    assert agent.code.timeout_s == 3.0
    assert agent.code.show_empty_output is True and agent.tool_use is True


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ({"max_turns": "abc"}, "simpletir.agent.max_turns='abc': Input should be a valid integer"),
        ({"max_turns": 0}, "simpletir.agent.max_turns=0: Input should be greater than 0"),
        (
            {"val_max_tokens_per_turn": -1},
            "simpletir.agent.val_max_tokens_per_turn=-1: Input should be greater",
        ),
        (
            {"stop_at_code_block": "maybe"},
            "simpletir.agent.stop_at_code_block='maybe': Input should be a valid bool",
        ),
        (
            {"code": {"max_observation_chars": -5}},
            "simpletir.agent.code.max_observation_chars=-5: Input should be",
        ),
        ({"code": {"timeout_s": 0}}, "simpletir.agent.code.timeout_s=0: Input should be greater than 0"),
        (
            {"code": {"sandbox_retries": 1.5}},
            "simpletir.agent.code.sandbox_retries=1.5: Input should be a valid",
        ),
        ({"max_turn": 3}, r"unknown key\(s\) \['max_turn'\] in simpletir.agent"),
        (
            {"tool_use": False, "max_turns": 1},
            "simpletir.agent.tool_use=false is one generation per trajectory: set max_turns=1 and val_max_turns=1",
        ),
    ],
)
def test_bad_values_are_one_line_errors(agent: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        settings(agent)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("simpletir.agent.max_turns=abc", "simpletir.agent.max_turns='abc': Input should be a valid integer"),
        (
            "simpletir.agent.code.max_observation_chars=-5",
            "max_observation_chars=-5: Input should be greater",
        ),
    ],
)
def test_the_trainer_entry_rejects_them(
    override: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(make_data_dir(tmp_path)))
    with pytest.raises(ConfigError, match=message):
        compose_config([override])

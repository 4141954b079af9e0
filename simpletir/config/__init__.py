"""SimpleTIR's hydra config: ``simpletir_trainer.yaml`` (what differs from verl's ``ppo_trainer.yaml``) and
the ``simpletir`` section's defaults, taken from the settings dataclasses (the one place they are written)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

DEFAULTS_NAME = "simpletir_defaults"
"""The hydra config node holding the ``simpletir`` section's defaults (in ``simpletir_trainer.yaml``'s defaults list)."""


def _lists(value: Any) -> Any:
    """Tuples as lists, recursively (OmegaConf nodes hold lists)."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def simpletir_defaults() -> dict[str, Any]:
    """The ``simpletir`` section with every default of its settings dataclasses."""
    from simpletir.agent_config import SandboxSettings, TIRAgentConfig
    from simpletir.diagnostics import DiagnosticsConfig
    from simpletir.filters import FilterConfig

    return _lists(
        {
            "agent": asdict(TIRAgentConfig()),
            "sandbox": asdict(SandboxSettings()),
            "filter": asdict(FilterConfig()),
            "diagnostics": asdict(DiagnosticsConfig()),
        }
    )


def register_defaults() -> None:
    """Store the defaults node in hydra's ConfigStore (idempotent), before composing ``simpletir_trainer``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=DEFAULTS_NAME, node={"simpletir": simpletir_defaults()})

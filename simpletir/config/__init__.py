"""SimpleTIR's hydra config: ``simpletir_trainer.yaml`` (what differs from verl's ``ppo_trainer.yaml``), the
``simpletir`` section's defaults, taken from the settings dataclasses (the one place they are written), and
``SimpleTIRConfig``: the whole section, validated once, with the values verl already names resolved."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simpletir.tir.agent_config import SandboxSettings, TIRAgentConfig
    from simpletir.trainer.diagnostics import DiagnosticsConfig
    from simpletir.trainer.filters import FilterConfig

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
    from simpletir.tir.agent_config import SandboxSettings, TIRAgentConfig
    from simpletir.trainer.diagnostics import DiagnosticsConfig
    from simpletir.trainer.filters import FilterConfig

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


VERL_NAMES = {
    "agent.max_turns": "actor_rollout_ref.rollout.multi_turn.max_assistant_turns",
    "agent.code.max_observation_chars": "actor_rollout_ref.rollout.multi_turn.max_tool_response_length",
}
"""Our settings that verl names too: each is read from verl's name when only verl's is changed from its default,
and refused when both are changed and differ."""


def _select(config: Any, dotted: str) -> Any:
    """``config``'s value at a dotted key (None when absent)."""
    value = config
    for part in dotted.split("."):
        value = value.get(part) if hasattr(value, "get") else getattr(value, part, None)
        if value is None:
            return None
    return value


def _replace_nested(settings: Any, dotted: str, value: Any) -> Any:
    """A copy of a frozen settings dataclass with the field at ``dotted`` set to ``value``."""
    head, _, rest = dotted.partition(".")
    if not rest:
        return replace(settings, **{head: value})
    return replace(settings, **{head: _replace_nested(getattr(settings, head), rest, value)})


def _verl_default(dotted: str) -> Any:
    """The default of a verl ``multi_turn`` field (``verl.workers.config.MultiTurnConfig``)."""
    from verl.workers.config import MultiTurnConfig

    return getattr(MultiTurnConfig(), dotted.rsplit(".", 1)[1])


@dataclass(frozen=True)
class SimpleTIRConfig:
    """The ``simpletir`` section of a trainer config: built and checked once (``from_trainer_config``), then
    handed to the agent loop, the trainer and the diagnostics."""

    agent: TIRAgentConfig
    sandbox: SandboxSettings
    filter: FilterConfig
    diagnostics: DiagnosticsConfig

    @classmethod
    def from_trainer_config(cls, config: Any) -> SimpleTIRConfig:
        """Read and check the section of ``config`` (a DictConfig or mapping); raises ``ValueError`` with one line.

        Unknown keys anywhere in the section are refused; the diagnostics' clip ratios default to the actor's
        (``actor_rollout_ref.actor.clip_ratio_low/high``); ``VERL_NAMES`` are resolved against verl's values.
        """
        from simpletir.config.sections import plain
        from simpletir.tir.agent_config import TIRAgentConfig, load_agent_settings
        from simpletir.trainer.diagnostics import DiagnosticsConfig
        from simpletir.trainer.filters import FilterConfig

        section = plain(config.get("simpletir")) if config is not None else None
        section = dict(section or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in simpletir; known keys: {sorted(known)}")
        agent, sandbox = load_agent_settings(config)
        diagnostics = DiagnosticsConfig.from_mapping(section.get("diagnostics"))
        actor = _select(config, "actor_rollout_ref.actor")
        for side in ("low", "high"):
            name = f"clip_ratio_{side}"
            if getattr(diagnostics, name) is None:
                diagnostics = replace(
                    diagnostics, **{name: _select(actor, name) if actor is not None else None}
                )
        ours_default = cls._defaults(TIRAgentConfig())
        for ours, theirs in VERL_NAMES.items():
            mine, verl = _select({"agent": agent}, ours), _select(config, theirs)
            verl_changed = verl is not None and verl != _verl_default(theirs)
            if verl_changed and mine != ours_default[ours]:
                if mine != verl:
                    raise ValueError(
                        f"simpletir.{ours}={mine} and {theirs}={verl} differ: set one of them (verl's name is enough)"
                    )
            elif verl_changed:
                agent = _replace_nested(agent, ours.removeprefix("agent."), verl)
        return cls(
            agent=agent,
            sandbox=sandbox,
            filter=FilterConfig.from_mapping(section.get("filter")),
            diagnostics=diagnostics,
        )

    @staticmethod
    def _defaults(agent: TIRAgentConfig) -> dict[str, Any]:
        """Our defaults of the ``VERL_NAMES`` keys."""
        return {ours: _select({"agent": agent}, ours) for ours in VERL_NAMES}


_CACHE: dict[int, tuple[Any, SimpleTIRConfig]] = {}


def simpletir_config(config: Any) -> SimpleTIRConfig:
    """``SimpleTIRConfig.from_trainer_config(config)``, built once per config object in this process (verl builds
    an agent loop per trajectory, all of one worker sharing the trainer config)."""
    entry = _CACHE.get(id(config))
    if entry is None or entry[0] is not config:
        entry = _CACHE[id(config)] = (config, SimpleTIRConfig.from_trainer_config(config))
    return entry[1]

"""The reward's options: one frozen dataclass, built from verl's ``reward_kwargs``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields, replace
from typing import Any

from simpletir.reward.equivalence import DEFAULT_TIMEOUT_S, FLOAT_ROUNDING
from simpletir.reward.extract import DEFAULT_EXTRACT_CONFIG, ExtractConfig

GRADERS = ("simpletir", "official")
"""``simpletir``: this project's grader (:mod:`~simpletir.reward.extract`, :mod:`~simpletir.reward.equivalence`);
``official``: the SimpleTIR paper's code's grader, re-implemented (:mod:`~simpletir.reward.official`), for numbers
on the paper's scale."""

OFFICIAL_FIXED = frozenset({"float_rounding"} | {f.name for f in fields(ExtractConfig)})
"""Options that the official grader fixes (its extraction, math-verify's rounding 6): refused with it."""

SCORE_CONVENTIONS = {"binary": (1.0, 0.0), "signed": (1.0, -1.0)}
"""Named score conventions: ``binary`` (the paper: 1 / 0) and ``signed`` (verl's DAPO reward: 1 / -1)."""

VERL_RUNTIME_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})
"""Keyword arguments verl's reward managers may pass that the reward does not use."""

logger = logging.getLogger(__name__)
_warned: set[str] = set()


@dataclass(frozen=True)
class RewardConfig:
    """Options of :func:`~simpletir.reward.compute_score`; the defaults are the paper's."""

    correct_score: float = 1.0
    """Score of a correct answer."""
    incorrect_score: float = 0.0
    """Score of a wrong answer, a missing answer, a timeout or a grader error (no format penalty)."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Hard limit for grading one response (extraction and all its ground truths together), enforced by a
    worker process."""
    float_rounding: int | None = FLOAT_ROUNDING
    """Decimal places a decimal answer is rounded to before it is compared with a number (the paper's
    grader: math-verify's 6, so ``1.414214`` = ``\\sqrt{2}``); ``None``: a decimal equals only the exact
    value it writes (``0.5`` = ``1/2``, ``1.414214`` ≠ ``\\sqrt{2}``, ``0.333333`` ≠ ``1/3``)."""
    extract: ExtractConfig = field(default_factory=lambda: DEFAULT_EXTRACT_CONFIG)
    """Which answer forms are extracted from the response."""
    grader: str = "simpletir"
    """Which grader scores the response, one of :data:`GRADERS`: ``simpletir`` (ours) or ``official`` (the
    paper's code's extraction and math-verify settings; ``float_rounding`` and ``extract`` do not apply)."""

    def __post_init__(self) -> None:
        """Refuse an unknown grader."""
        if self.grader not in GRADERS:
            raise ValueError(f"grader must be one of {list(GRADERS)}, got {self.grader!r}")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> RewardConfig:
        """Build from flat keyword arguments (verl's ``reward_kwargs``): ``score_convention``
        (``binary``/``signed``), ``correct_score``, ``incorrect_score``, ``timeout_s``, ``float_rounding``,
        the :class:`ExtractConfig` fields and ``grader`` (``simpletir``/``official``; the official grader refuses
        :data:`OFFICIAL_FIXED`); verl's runtime kwargs are ignored, unknown ones warned about once. Raises
        ``ValueError`` for a bad value."""
        config = cls()
        convention = kwargs.pop("score_convention", None)
        if convention is not None:
            if convention not in SCORE_CONVENTIONS:
                raise ValueError(
                    f"score_convention must be one of {sorted(SCORE_CONVENTIONS)}, got {convention!r}"
                )
            correct, incorrect = SCORE_CONVENTIONS[convention]
            config = replace(config, correct_score=correct, incorrect_score=incorrect)
        config = replace(config, grader=kwargs.pop("grader", config.grader))
        fixed = sorted(OFFICIAL_FIXED & set(kwargs))
        if config.grader == "official" and fixed:
            raise ValueError(
                f"grader='official' fixes the extraction and math-verify's float rounding (6); drop {fixed}"
            )
        own = {f.name for f in fields(cls)} - {"extract", "grader"}
        extract_names = {f.name for f in fields(ExtractConfig)}
        top = {k: kwargs.pop(k) for k in list(kwargs) if k in own}
        extract = {k: kwargs.pop(k) for k in list(kwargs) if k in extract_names}
        if "timeout_s" in top and not float(top["timeout_s"]) > 0:
            raise ValueError(f"timeout_s must be > 0, got {top['timeout_s']!r}")
        rounding = top.pop("float_rounding", config.float_rounding)
        if rounding is not None and (
            isinstance(rounding, bool) or not isinstance(rounding, int) or rounding < 0
        ):
            raise ValueError(f"float_rounding must be a non-negative integer or None, got {rounding!r}")
        for name in set(kwargs) - VERL_RUNTIME_KWARGS - _warned:
            _warned.add(name)
            logger.warning("simpletir.reward: ignoring unknown reward kwarg %r", name)
        coerced = {k: float(v) for k, v in top.items()}
        return replace(config, **coerced, float_rounding=rounding, extract=replace(config.extract, **extract))

"""verl's entry point: ``compute_score`` (one response) and ``compute_score_batch`` (a batch).

verl loads this file by path (``reward.custom_reward_function.path=<repo>/reward/compute_score.py``),
so it uses absolute imports only. Loading it starts the grader's worker template in the background
(:func:`~simpletir.reward.grader_pool.start_default_pool`), so that no reward call waits for its start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from simpletir.reward.config import RewardConfig
from simpletir.reward.equivalence import MAX_ANSWER_CHARS, GradingError, GradingTimeout, grade
from simpletir.reward.extract import extract_answer
from simpletir.reward.grader_pool import DEFAULT_MAX_WORKERS, default_pool, start_default_pool

logger = logging.getLogger(__name__)


def _ground_truths(ground_truth: Any) -> list[str]:
    """The accepted answers: one string, or each entry of a list/tuple (any of them counts)."""
    if isinstance(ground_truth, (list, tuple)) or type(ground_truth).__name__ == "ndarray":
        return [str(g) for g in ground_truth]
    return [str(ground_truth)]


def _unscored(config: RewardConfig) -> dict[str, Any]:
    """The result dict of a response not (yet) found correct."""
    return {
        "score": config.incorrect_score,
        "acc": False,
        "pred": "",
        "no_answer": False,
        "timeout": False,
        "grader_error": False,
    }


def _score_official(solution_str: str, truths: list[str], config: RewardConfig) -> dict[str, Any]:
    """Grade one response with the official grader (:mod:`simpletir.reward.official`), all of it in a grader
    worker within ``config.timeout_s``."""
    result = _unscored(config)
    try:
        request = {"op": "official", "response": solution_str, "truths": truths}
        reply = default_pool().call(request, config.timeout_s)
    except GradingTimeout:
        result["timeout"] = True
        return result
    except GradingError as exc:
        logger.warning("simpletir.reward: official grading failed: %s", exc)
        result["grader_error"] = True
        return result
    except Exception:
        logger.exception("simpletir.reward: grading raised; scored as incorrect with grader_error=True")
        result["grader_error"] = True
        return result
    pred = str(reply.get("pred", ""))
    result.update(pred=pred[:MAX_ANSWER_CHARS], no_answer=not pred)
    if reply.get("equal") is True:
        result.update(score=config.correct_score, acc=True)
    return result


def score_response(solution_str: str, ground_truth: Any, config: RewardConfig) -> dict[str, Any]:
    """Grade one response under ``config`` (with ``config.grader``); the result dict says why it scored what
    it did."""
    if config.grader == "official":
        return _score_official(solution_str or "", _ground_truths(ground_truth), config)
    result = _unscored(config)
    deadline = time.monotonic() + config.timeout_s
    try:
        pred = extract_answer(solution_str or "", config.extract)
        if pred is None:
            result["no_answer"] = True
            return result
        result["pred"] = pred[:MAX_ANSWER_CHARS]
        for truth in _ground_truths(ground_truth):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result["timeout"] = True
                break
            outcome = grade(pred, truth, timeout_s=remaining, float_rounding=config.float_rounding)
            result["timeout"] = result["timeout"] or outcome.timeout
            result["grader_error"] = result["grader_error"] or outcome.error is not None
            if outcome.correct:
                result.update(score=config.correct_score, acc=True, timeout=False, grader_error=False)
                break
    except Exception:
        logger.exception("simpletir.reward: grading raised; scored as incorrect with grader_error=True")
        result["grader_error"] = True
    return result


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's per-sample reward: ``{score, acc, pred, no_answer, timeout, grader_error}`` (all scalars,
    ``pred`` cut to 2,048 characters);
    ``kwargs`` are :meth:`RewardConfig.from_kwargs` options (``grader="official"``: the paper's code's grader);
    ``data_source``/``extra_info`` are unused."""
    return score_response(solution_str, ground_truth, RewardConfig.from_kwargs(**kwargs))


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's batch reward (``reward_manager=batch``): one :func:`compute_score` dict per response,
    graded concurrently, in input order."""
    if not len(solution_strs) == len(ground_truths) == len(data_sources):
        raise ValueError(
            f"batch lengths differ: {len(data_sources)} data_sources, {len(solution_strs)} solution_strs, "
            f"{len(ground_truths)} ground_truths"
        )
    config = RewardConfig.from_kwargs(**kwargs)
    if len(solution_strs) <= 1:
        return [score_response(s, g, config) for s, g in zip(solution_strs, ground_truths, strict=True)]
    with ThreadPoolExecutor(max_workers=2 * DEFAULT_MAX_WORKERS) as executor:
        return list(
            executor.map(
                lambda pair: score_response(pair[0], pair[1], config),
                zip(solution_strs, ground_truths, strict=True),
            )
        )


start_default_pool()

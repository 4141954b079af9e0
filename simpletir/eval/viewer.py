"""A self-contained static HTML page for reading trajectories (no external assets; data embedded as JSON)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from simpletir.eval.records import EvalResult

DATA_PLACEHOLDER = "__SIMPLETIR_EVAL_DATA__"

_SCRIPT_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def embed_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` or line
    separators appear literally, so model text such as ``</script>`` cannot end the element."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    for char, escaped in _SCRIPT_SAFE.items():
        text = text.replace(char, escaped)
    return text


def viewer_data(result: EvalResult, samples_per_problem: int | None = None) -> dict[str, Any]:
    """The page's data: run info and, per trajectory, what a reader needs (first ``samples_per_problem``
    samples of each problem when given)."""
    trajectories = []
    for r in result.trajectories:
        if samples_per_problem is not None and r.sample_index >= samples_per_problem:
            continue
        trajectories.append(
            {
                "benchmark": r.benchmark,
                "problem_id": r.problem_id,
                "sample": r.sample_index,
                "question": r.question,
                "ground_truth": r.ground_truth
                if isinstance(r.ground_truth, str)
                else json.dumps(r.ground_truth),
                "answer": r.answer,
                "correct": r.correct,
                "void": r.void,
                "end_reason": r.end_reason,
                "response_tokens": r.response_tokens,
                "error": r.error,
                "turns": [
                    {
                        "text": t.text,
                        "kind": t.kind,
                        "finish_reason": t.finish_reason,
                        "tokens": t.completion_tokens,
                        "code": t.code,
                        "exec_status": t.exec_status,
                        "observation": t.observation,
                        "stderr": t.stderr,
                    }
                    for t in r.turns
                ],
            }
        )
    metrics = {
        name: {"avg": m.avg, "maj": m.maj, "n": m.samples_per_problem} for name, m in result.metrics.items()
    }
    return {"label": result.label, "model": result.model, "metrics": metrics, "trajectories": trajectories}


def viewer_html(result: EvalResult, samples_per_problem: int | None = None) -> str:
    """The complete HTML page for ``result``."""
    template = resources.files("simpletir.eval").joinpath("templates/viewer.html").read_text(encoding="utf-8")
    head, sep, tail = template.partition(DATA_PLACEHOLDER)
    if not sep:
        raise RuntimeError("viewer template has no data placeholder")
    return head + embed_json(viewer_data(result, samples_per_problem)) + tail


def write_viewer(result: EvalResult, path: Path, samples_per_problem: int | None = None) -> None:
    """Write the viewer page for ``result`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(viewer_html(result, samples_per_problem), encoding="utf-8")

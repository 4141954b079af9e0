"""Reward grading benchmark: simpletir.reward vs math-verify's ``parse`` + ``verify``, in the same run.

Four measurements, each on identical inputs for both graders:

1. throughput on a realistic mix of TIR responses (mostly AIME/AMC/MATH500-style integers and
   fractions, some symbolic answers; half correct, half wrong): graded responses per second, the
   accuracy against the known labels, and the slowest single call;
2. accuracy on ``grader_cases.py`` (pairs modelled on public math-grader tests);
3. pathological inputs (huge powers, deep nesting, a 1 MB answer): the slowest call vs the 5 s limit;
4. optional, when ``../shared/data`` exists: MATH500/AIME ground truths graded against themselves,
   against reformatted versions of themselves (must be equal), and against the next problem's answer
   (must differ; pairs whose normalised strings coincide, e.g. ``5`` and ``x=5``, are left out).

Usage: ``python benchmarks/reward_bench.py [--n 2000] [--seed 0]``. math-verify runs in the main
thread with its own (signal-based) 5 s timeouts, the way its README uses it.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from simpletir.reward import compute_score, grade_answer
from simpletir.reward.isolation import default_pool
from simpletir.reward.normalize import normalize_answer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grader_cases import CASES

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGETS = (LatexExtractionConfig(), ExprExtractionConfig())

SYMBOLIC = [
    ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{2}}{2}"),
    ("2\\sqrt{2}", "\\sqrt{8}", "\\sqrt{6}"),
    ("(x+1)^2", "x^2+2x+1", "x^2+1"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", "(3, \\pi)"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", "(-\\infty,2]\\cup(3,\\infty)"),
    ("\\frac{\\pi}{3}", "\\pi/3", "\\frac{\\pi}{6}"),
    ("5+2\\sqrt{6}", "2\\sqrt{6}+5", "5-2\\sqrt{6}"),
    (
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
        "\\begin{pmatrix}2\\\\1\\end{pmatrix}",
    ),
]


PATHOLOGICAL = [
    ("5", "10^{10^{10^{10}}}", False),
    ("3", "2^{2^{2^{2^{2^{2}}}}}", False),
    ("1", "{" * 5000 + "1" + "}" * 5000, False),
    ("1", "(" * 1000 + "1" + ")" * 1000, False),
    ("1", "1" * (1 << 20), False),
]


def _response(answer: str, rng: random.Random) -> str:
    """A short multi-turn TIR response whose final answer is ``answer``."""
    code = "```python\nimport math\nprint(math.comb(10, 3))\n```\nCode execution result: 120\n"
    if rng.random() < 0.3:
        return f"Let me compute.\n```python\nfinal_answer({answer!r})\n```\nCode execution result: \\boxed{{{answer}}}\n"
    return f"We set up the count.\n{code}So the total follows, and the answer is $\\boxed{{{answer}}}$."


def realistic_mix(n: int, seed: int) -> list[tuple[str, str, bool]]:
    """(response, ground truth, is_correct) triples: 70% integers, 15% fractions/decimals, 15% symbolic."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        correct = rng.random() < 0.5
        kind = rng.random()
        if kind < 0.70:
            value = rng.randint(0, 999)
            truth = f"{value:03d}" if rng.random() < 0.3 else str(value)
            given = str(value) if correct else str(value + rng.choice([-2, -1, 1, 10]))
        elif kind < 0.85:
            p, q = rng.randint(1, 50), rng.randint(2, 60)
            truth = f"\\frac{{{p}}}{{{q}}}"
            if correct:
                given = rng.choice([f"\\dfrac{{{p}}}{{{q}}}", f"{p}/{q}", f"\\frac{{{2 * p}}}{{{2 * q}}}"])
            else:
                given = f"\\frac{{{p + 1}}}{{{q}}}"
        else:
            truth, good, bad = rng.choice(SYMBOLIC)
            given = good if correct else bad
        items.append((_response(given, rng), truth, truth == given or correct))
    return items


def ours_response(response: str, truth: str) -> bool:
    """simpletir.reward on a whole response."""
    return compute_score("math", response, truth)["acc"]


def math_verify_response(response: str, truth: str) -> bool:
    """math-verify's README usage on a whole response."""
    return verify(parse(f"${truth}$", TARGETS), parse(response, TARGETS))


def ours_pair(truth: str, given: str) -> bool:
    """simpletir.reward on an answer pair."""
    return grade_answer(given, truth)


def math_verify_pair(truth: str, given: str) -> bool:
    """math-verify on an answer pair, both wrapped in ``$…$``."""
    return verify(parse(f"${truth}$", TARGETS), parse(f"${given}$", TARGETS))


def run(fn: Callable[[str, str], bool], pairs: list[tuple[str, str, bool]]) -> dict[str, float]:
    """Grade every pair with ``fn``; throughput, accuracy against the labels and the slowest call."""
    correct = 0
    slowest = 0.0
    start = time.perf_counter()
    for a, b, expected in pairs:
        t0 = time.perf_counter()
        try:
            got = bool(fn(a, b))
        except Exception:
            got = False
        slowest = max(slowest, time.perf_counter() - t0)
        correct += got is expected
    elapsed = time.perf_counter() - start
    return {
        "per_s": len(pairs) / elapsed,
        "accuracy": correct / len(pairs),
        "slowest_s": slowest,
        "n": len(pairs),
    }


def reformat(answer: str, rng: random.Random) -> str:
    """The same answer written differently (wrappers, spacing, \\dfrac, \\left/\\right)."""
    out = answer.replace("\\frac", rng.choice(["\\frac", "\\dfrac"]))
    if out.startswith("(") and out.endswith(")") and rng.random() < 0.5:
        out = "\\left" + out[:-1] + "\\right)"
    return rng.choice([f"\\boxed{{{out}}}", f"${out}$", f"\\( {out} \\)", f" {out} "])


def shared_data_pairs(seed: int) -> dict[str, list[tuple[str, str, bool]]] | None:
    """Ground-truth pairs from ../shared/data (None when absent)."""
    truths = []
    for name in ("math500.jsonl", "aime24.jsonl", "aime25.jsonl", "amc23.jsonl"):
        path = SHARED_DATA / name
        if path.is_file():
            truths += [
                str(json.loads(line)["answer"]) for line in path.read_text().splitlines() if line.strip()
            ]
    if not truths:
        return None
    rng = random.Random(seed)
    shifted = truths[1:] + truths[:1]
    return {
        "self": [(t, t, True) for t in truths],
        "reformatted": [(t, reformat(t, rng), True) for t in truths],
        "other_problem": [
            (t, s, False)
            for t, s in zip(truths, shifted, strict=True)
            if normalize_answer(t) != normalize_answer(s)
        ],
    }


def main() -> None:
    """Run the measurements and print a Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="responses in the realistic mix")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    pool = default_pool()
    pool.warm()
    grade_answer("\\sqrt{8}", "2\\sqrt{2}")

    mix = realistic_mix(args.n, args.seed)
    suites = {"realistic mix (whole responses)": (mix, ours_response, math_verify_response)}
    suites["grader cases (answer pairs)"] = (CASES, ours_pair, math_verify_pair)
    suites["pathological inputs (limit 5 s)"] = (PATHOLOGICAL, ours_pair, math_verify_pair)
    shared = shared_data_pairs(args.seed)
    for name, pairs in (shared or {}).items():
        suites[f"shared data: {name}"] = (pairs, ours_pair, math_verify_pair)

    print(
        "| suite | n | ours/s | math-verify/s | speed-up | ours acc | math-verify acc | ours slowest s | mv slowest s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (pairs, ours, baseline) in suites.items():
        a, b = run(ours, pairs), run(baseline, pairs)
        print(
            f"| {name} | {a['n']} | {a['per_s']:.4g} | {b['per_s']:.4g} | {a['per_s'] / b['per_s']:.1f}x | "
            f"{a['accuracy']:.3f} | {b['accuracy']:.3f} | {a['slowest_s']:.3f} | {b['slowest_s']:.3f} |"
        )
    if shared is None:
        print(f"\n(shared data not found at {SHARED_DATA}; skipped those suites)")
    print(f"\nworker restarts (timeouts/crashes) during the run: {pool.restarts}")
    failures = [(g, p, e) for g, p, e in CASES if ours_pair(g, p) is not e]
    mv_failures = [(g, p, e) for g, p, e in CASES if math_verify_pair(g, p) is not e]
    print(f"grader cases ours got wrong: {failures}")
    print(f"grader cases math-verify got wrong: {mv_failures}")


if __name__ == "__main__":
    main()

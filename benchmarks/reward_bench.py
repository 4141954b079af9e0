"""Reward grading benchmark: simpletir.reward vs math-verify's ``parse`` + ``verify``, in the same run.

Four measurements, each on identical inputs for both graders:

1. throughput on a realistic mix of TIR responses (mostly AIME/AMC/MATH500-style integers and
   fractions, some symbolic answers; half correct, half wrong): graded responses per second, the
   accuracy against the known labels, and the slowest single call;
2. accuracy on ``grader_cases.py`` (pairs modelled on public math-grader tests);
3. pathological inputs (huge powers, deep nesting, a 1 MB answer): the slowest call vs the 5 s limit,
   and answer extraction on hostile responses (``tests/reward/test_extract.py``'s ``HOSTILE``): CPU
   seconds vs a realistic response of the same length (target: within 10x, i.e. linear);
4. the metamorphic suite (``tests/reward/metamorphic.py``) generated from every gold answer in
   ``../shared/data`` (the fixture golds when it is absent): rewrites that must stay equal and near
   misses that must not (issue 22's set rules and their must-differ twins included), as answer pairs
   and as whole responses, with a per-rule breakdown; every case where the graders disagree can be
   written out with ``--disagreements FILE`` (JSON lines).

Usage: ``python benchmarks/reward_bench.py [--n 2000] [--seed 0] [--disagreements FILE]``. math-verify
runs in the main thread with its own (signal-based) 5 s timeouts, the way its README uses it.
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

from simpletir.reward import compute_score, extract_answer, grade_answer
from simpletir.reward.equivalence import DEFAULT_TIMEOUT_S
from simpletir.reward.grader_pool import default_pool

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from grader_cases import CASES

from tests.reward.metamorphic import Case, fixture_golds, generate, load_golds
from tests.reward.test_extract import (
    ANSWER_PHRASE,
    FINAL_ANSWER_TURN,
    HOSTILE,
    LATEX_TUPLE_BOX,
    OUTPUT_FENCE,
    TWO_TURNS_THEN_BOX,
    cpu_timed,
)

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
    ("(0,1)", "(" * 1000 + "x<1", False),
    ("y = 2x + 1", "y = " + "x+" * 900 + "1", False),
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


def run(fn: Callable[[str, str], bool], pairs: list[tuple[str, str, bool]]) -> dict[str, object]:
    """Grade every pair with ``fn``: throughput, accuracy against the labels, the slowest call, how many
    calls ran past the 5 s limit, and each verdict."""
    verdicts = []
    slowest = 0.0
    over_limit = 0
    start = time.perf_counter()
    for a, b, _ in pairs:
        t0 = time.perf_counter()
        try:
            got = bool(fn(a, b))
        except Exception:
            got = False
        elapsed = time.perf_counter() - t0
        slowest = max(slowest, elapsed)
        over_limit += elapsed > DEFAULT_TIMEOUT_S
        verdicts.append(got)
    elapsed = time.perf_counter() - start
    correct = sum(got is expected for got, (_, _, expected) in zip(verdicts, pairs, strict=True))
    return {
        "per_s": len(pairs) / elapsed,
        "accuracy": correct / len(pairs),
        "slowest_s": slowest,
        "over_limit": over_limit,
        "n": len(pairs),
        "verdicts": verdicts,
    }


def print_rules(cases: list[Case], verdicts: dict[Case, tuple[bool, bool]]) -> None:
    """One Markdown row per metamorphic rule: how many cases each grader got right."""
    print("\n| metamorphic rule | must be | n | ours right | math-verify right |")
    print("|---|---|---|---|---|")
    for rule in dict.fromkeys(case.rule for case in cases):
        group = [case for case in cases if case.rule == rule]
        ours_right = sum(verdicts[case][0] is case.expected for case in group)
        mv_right = sum(verdicts[case][1] is case.expected for case in group)
        must = "equal" if group[0].expected else "different"
        print(f"| {rule} | {must} | {len(group)} | {ours_right} | {mv_right} |")


def write_disagreements(path: Path, verdicts: dict[Case, tuple[bool, bool]]) -> None:
    """Every case where the graders disagree or either is wrong, one JSON object per line."""
    with path.open("w", encoding="utf-8") as out:
        for case, (ours, mv) in verdicts.items():
            if ours is not mv or ours is not case.expected:
                row = {
                    "rule": case.rule,
                    "gold": case.gold,
                    "variant": case.variant,
                    "expected": case.expected,
                }
                out.write(json.dumps({**row, "ours": ours, "math_verify": mv}) + "\n")


def realistic_text(length: int) -> str:
    """Multi-turn TIR responses (code, output, boxes, phrases, math) repeated to ``length`` characters."""
    unit = TWO_TURNS_THEN_BOX + FINAL_ANSWER_TURN + OUTPUT_FENCE + ANSWER_PHRASE + LATEX_TUPLE_BOX
    return (unit * (length // len(unit) + 1))[:length]


def print_hostile_extraction(repeats: int = 3) -> None:
    """Print each hostile text's extraction CPU time (best of ``repeats``) vs a realistic text's."""
    print("\n| hostile text | chars | extraction CPU s | realistic same length s | ratio (target <= 10x) |")
    print("|---|---|---|---|---|")
    for i, text in enumerate(HOSTILE):
        realistic = realistic_text(len(text))
        hostile_s = min(cpu_timed(extract_answer, text)[1] for _ in range(repeats))
        realistic_s = min(cpu_timed(extract_answer, realistic)[1] for _ in range(repeats))
        print(
            f"| hostile{i} | {len(text)} | {hostile_s:.3f} | {realistic_s:.3f} | {hostile_s / realistic_s:.1f}x |"
        )


def main() -> None:
    """Run the measurements and print a Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="responses in the realistic mix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--disagreements", type=Path, help="write the metamorphic cases the graders disagree on"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    pool = default_pool()
    pool.wait_ready()
    grade_answer("\\sqrt{8}", "2\\sqrt{2}")

    golds = load_golds(SHARED_DATA)
    source = f"the {len(golds)} golds of ../shared/data ({len(set(golds))} distinct)"
    if not golds:
        golds = fixture_golds()
        source = f"the {len(golds)} fixture golds (../shared/data is absent)"
    cases = generate(golds)
    answers = [case for case in cases if not case.response]
    responses = [case for case in cases if case.response]

    suites = {
        "realistic mix (whole responses)": (
            realistic_mix(args.n, args.seed),
            ours_response,
            math_verify_response,
        ),
        "grader cases (answer pairs)": (CASES, ours_pair, math_verify_pair),
        "pathological inputs (limit 5 s)": (PATHOLOGICAL, ours_pair, math_verify_pair),
        "metamorphic: answer pairs": (
            [(c.gold, c.variant, c.expected) for c in answers],
            ours_pair,
            math_verify_pair,
        ),
        "metamorphic: whole responses": (
            [(c.variant, c.gold, c.expected) for c in responses],
            ours_response,
            math_verify_response,
        ),
    }
    print(f"Metamorphic suite: {len(cases)} cases generated from {source}.\n")
    print(
        "| suite | n | ours/s | math-verify/s | speed-up | ours acc | math-verify acc | ours slowest s "
        "| mv slowest s | ours calls over 5 s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    verdicts: dict[Case, tuple[bool, bool]] = {}
    for name, (pairs, ours, baseline) in suites.items():
        a, b = run(ours, pairs), run(baseline, pairs)
        print(
            f"| {name} | {a['n']} | {a['per_s']:.4g} | {b['per_s']:.4g} | {a['per_s'] / b['per_s']:.1f}x | "
            f"{a['accuracy']:.4f} | {b['accuracy']:.4f} | {a['slowest_s']:.3f} | {b['slowest_s']:.3f} | "
            f"{a['over_limit']} |"
        )
        group = (
            answers
            if name == "metamorphic: answer pairs"
            else responses
            if name.startswith("metamorphic")
            else []
        )
        verdicts.update(zip(group, zip(a["verdicts"], b["verdicts"], strict=True), strict=False))
    print_rules(cases, verdicts)
    print_hostile_extraction()
    if args.disagreements:
        write_disagreements(args.disagreements, verdicts)
    print(f"\nworker restarts (timeouts/crashes) during the run: {pool.restarts}")
    failures = [(g, p, e) for g, p, e in CASES if ours_pair(g, p) is not e]
    mv_failures = [(g, p, e) for g, p, e in CASES if math_verify_pair(g, p) is not e]
    print(f"grader cases ours got wrong: {failures}")
    print(f"grader cases math-verify got wrong: {mv_failures}")


if __name__ == "__main__":
    main()

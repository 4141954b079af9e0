"""The metamorphic suite: grading cases generated from gold answers (rules in ``metamorphic.py``).

Rewrites of each gold must stay equal to it and near misses must not. The fixture golds always run;
with ``../shared/data`` present, a deterministic tenth of its ~5,000 distinct golds (from ~27,000
rows) runs too. ``benchmarks/reward_bench.py`` runs all of them against math-verify as well.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from simpletir.reward import compute_score, grade_answer
from tests.reward.metamorphic import (
    NEAR_MISSES,
    REWRITES,
    Case,
    decimal,
    dropped,
    fixture_golds,
    frac_slash,
    generate,
    load_golds,
    off_by_one,
    other_root,
    primed,
    reordered,
    sign,
    spacing,
    swapped,
)

SAMPLE_MODULUS = 10
"""One distinct shared gold in this many (by CRC-32 of its text) runs by default."""

RESPONSE_RULES = {"boxed_in_prose", "final_answer_print", "after_output_block", "answer_changed_after_output"}


def graded(case: Case) -> bool:
    """Our verdict on one case: ``compute_score`` for a whole response, ``grade_answer`` for an answer."""
    if case.response:
        return compute_score("math", case.variant, case.gold)["acc"]
    return grade_answer(case.variant, case.gold)


def failures(cases: list[Case]) -> list[str]:
    """The cases whose verdict is not the expected one, described."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(graded, cases))
    return [
        f"{case.rule}: {case.variant!r} vs gold {case.gold!r} should be {case.expected}"
        for case, verdict in zip(cases, verdicts, strict=True)
        if verdict is not case.expected
    ]


RULE_EXAMPLES = [
    (frac_slash, "-\\frac{8}{5}", "-8/5"),
    (frac_slash, "3/4", "\\frac{3}{4}"),
    (decimal, "\\frac{3}{8}", "0.375"),
    (decimal, "\\frac{1}{3}", None),
    (decimal, "\\frac{4}{2}", None),
    (spacing, "(1,-2)", "\\left( 1, -2 \\right)"),
    (reordered, "\\{1, 2, 3\\}", "\\{3, 2, 1\\}"),
    (reordered, "34,\\!560", None),
    (reordered, "\\$115,000", None),
    (reordered, "2, 3, \\text{ and } 4", "4, 3, 2"),
    (sign, "-\\frac{8}{5}", "\\frac{8}{5}"),
    (sign, "0", None),
    (sign, "(1,2)", None),
    (off_by_one, "1,000", "1,001"),
    (off_by_one, "864 \\mbox{ inches}^2", "865 \\mbox{ inches}^2"),
    (off_by_one, ".0000672", None),
    (swapped, "(1, 1)", None),
    (swapped, "\\left( 3, \\frac{\\pi}{2} \\right)", "(\\frac{\\pi}{2}, 3)"),
    (dropped, "\\{1, 2, 3\\}", "\\{1, 2\\}"),
    (dropped, "(1, 2)", None),
    (primed, "x^2+1", "x'^2+1"),
    (primed, "\\text{May}", None),
    (other_root, "\\frac{1-\\sqrt{5}}{2}", "\\frac{1+\\sqrt{5}}{2}"),
    (other_root, "-\\sqrt{5}", None),
]


@pytest.mark.parametrize(("rule", "gold", "variant"), RULE_EXAMPLES)
def test_rule_examples(rule: Callable[[str], str | None], gold: str, variant: str | None) -> None:
    assert rule(gold) == variant


def test_every_rule_applies_to_the_fixture() -> None:
    rules = {case.rule for case in generate(fixture_golds())}
    assert rules == set(REWRITES) | set(NEAR_MISSES) | RESPONSE_RULES


def test_fixture_suite() -> None:
    cases = generate(fixture_golds())
    assert sum(not case.expected for case in cases) >= 100
    assert failures(cases) == []


def test_shared_data_sample(shared_data: Path) -> None:
    golds = load_golds(shared_data)
    assert len(golds) > 20_000
    sample = [gold for gold in dict.fromkeys(golds) if zlib.crc32(gold.encode()) % SAMPLE_MODULUS == 0]
    cases = generate(sample)
    assert len(cases) > 3_000
    assert failures(cases) == []

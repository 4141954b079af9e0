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
    DERIVED_RULES,
    NEAR_MISSES,
    RESPONSE_SET_RULES,
    REWRITES,
    SET_RULES,
    Case,
    abs_band,
    abs_union,
    as_inequality,
    choice_letter,
    choice_other_letter,
    congruence,
    decimal,
    dropped,
    end_moved,
    fixture_golds,
    frac_slash,
    generate,
    latex_debris,
    line_general_form,
    line_other_slope,
    load_golds,
    membership,
    mod_statement,
    negated_variable,
    off_by_one,
    other_root,
    piece_dropped,
    primed,
    ray_negated,
    reordered,
    scaled_inequality,
    sign,
    solution_changed,
    solutions_joined,
    spacing,
    strictness_flipped,
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
    (as_inequality, "[3,\\infty)", "x \\ge 3"),
    (as_inequality, "(1, 2)", None),
    (as_inequality, "[a +b, b]", None),
    (as_inequality, "(-\\infty, 0) \\cup (1, \\infty)", "x < 0 \\text{ or } x > 1"),
    (strictness_flipped, "(-\\infty, 0) \\cup (1, \\infty)", "x \\le 0 \\text{ or } x > 1"),
    (end_moved, "(-\\infty, 0) \\cup (1, \\infty)", "x < 0 \\text{ or } x > 1 + 1"),
    (piece_dropped, "(-\\infty, 0) \\cup (1, \\infty)", "x < 0"),
    (piece_dropped, "[3,\\infty)", None),
    (
        negated_variable,
        "\\left(\\frac{3}{5},\\frac{8}{3}\\right]",
        "-\\frac{8}{3} \\le -x < -\\frac{3}{5}",
    ),
    (negated_variable, "(1-\\sqrt{5}, 3]", "-3 \\le -x < -\\left(1-\\sqrt{5}\\right)"),
    (scaled_inequality, "[3,\\infty)", "3x - 1 \\ge 3 \\cdot 3 - 1"),
    (membership, "x \\in [-2,7]", None),
    (membership, "[-2,7]", "x \\in [-2,7]"),
    (choice_letter, "\\text{(C)}", "Answer: C"),
    (choice_other_letter, "\\text{(C)}", "Answer: D"),
    (choice_letter, "CD", None),
    (mod_statement, "3", "33 \\bmod 10 = 3"),
    (mod_statement, "-1", None),
    (congruence, "3", "19 \\equiv 3 \\pmod{8}"),
    (latex_debris, "7", "7\\\\"),
]


@pytest.mark.parametrize(("rule", "gold", "variant"), RULE_EXAMPLES)
def test_rule_examples(rule: Callable[[str], str | None], gold: str, variant: str | None) -> None:
    assert rule(gold) == variant


DERIVED_EXAMPLES = [
    (abs_union, "-3", ("(-\\infty,-3)\\cup(3,\\infty)", "|x| > 3")),
    (abs_union, "0", None),
    (abs_band, "2", ("[-4,-2]\\cup[2,4]", "2 \\le |z| \\le 4")),
    (ray_negated, "\\frac{1}{2}", ("[\\frac{1}{2},\\infty)", "-x \\le -\\frac{1}{2}")),
    (line_general_form, "7", ("y = 7x - 3", "14x - 2y - 6 = 0")),
    (line_other_slope, "-1", ("y = -x - 3", "-4x - 2y - 6 = 0")),
    (line_general_form, "y = 2x + 5", ("y = 2x + 5", "4 x - 2 y + 10 = 0")),
    (line_general_form, "x = 1", None),
    (solutions_joined, "(1,-2)", ("\\{(1,-2),(-2,1)\\}", "(1, -2) \\quad\\text{and}\\quad (-2, 1)")),
    (solutions_joined, "1", None),
    (solution_changed, "7", ("\\{(7,1),(1,7)\\}", "p = 7, q = 1; p = 1, q = 8")),
]


@pytest.mark.parametrize(("rule", "gold", "derived"), DERIVED_EXAMPLES)
def test_derived_rule_examples(
    rule: Callable[[str], tuple[str, str] | None], gold: str, derived: tuple[str, str] | None
) -> None:
    assert rule(gold) == derived


def test_every_rule_applies_to_the_fixture() -> None:
    rules = {case.rule for case in generate(fixture_golds())}
    set_rules = set(SET_RULES) | set(DERIVED_RULES) | set(RESPONSE_SET_RULES)
    assert rules == set(REWRITES) | set(NEAR_MISSES) | RESPONSE_RULES | set_rules


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

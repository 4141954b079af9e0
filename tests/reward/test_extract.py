"""Answer extraction from realistic multi-turn TIR responses, and its fallbacks and bounds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from simpletir.reward import ExtractConfig, extract_answer
from simpletir.reward.extract import last_boxed, mask_code_source

T = TypeVar("T")

FINAL_ANSWER_TURN = (
    "Let me compute the number of lattice points directly.\n"
    "```python\n"
    "count = sum(1 for x in range(-10, 11) for y in range(-10, 11) if x*x + y*y <= 100)\n"
    "final_answer(count)\n"
    "```\n"
    "Code execution result: \\boxed{317}\n"
)

TWO_TURNS_THEN_BOX = (
    "First, factor the quadratic.\n"
    "```py\n"
    "import sympy as sp\n"
    "x = sp.symbols('x')\n"
    "print(sp.solve(x**2 - 5*x + 6, x))\n"
    "```\n"
    "Code execution result: [2, 3]\n"
    "So the roots are 2 and 3. Let me double-check the sum.\n"
    "```python\n"
    "print(2 + 3)\n"
    "```\n"
    "Code execution result: 5\n"
    "The sum of the roots is $5$, so the answer is \\boxed{5}."
)

BOX_IN_CODE_SOURCE_ONLY = (
    "I will print the answer.\n"
    "```python\n"
    'print("\\\\boxed{x}")\n'
    "```\n"
    "Code execution result: 12\n"
    "Hence the result is 12."
)

BOX_IN_SOURCE_AND_OUTPUT = (
    '```python\nans = 7 * 6\nprint(f"\\\\boxed{{{ans}}}")\n```\nCode execution result: \\boxed{42}\n'
)

NESTED_BOX = "Simplifying, we get \\boxed{\\frac{\\sqrt{3}}{2}} as the final value."

LAST_BOX_WINS = "Initially I thought \\boxed{12}. But rechecking, the count is \\boxed{14}."

EMPTY_LAST_BOX = "The answer is \\boxed{9}. As a template: \\boxed{}"

TRUNCATED_CODE = "The final step is easy.\n\\boxed{3}\nLet me verify with code.\n```python\nprint(\\boxed{4}\nfor i in range("

OUTPUT_FENCE = "```python\nfinal_answer(8)\n```\n```output\n\\boxed{8}\n```\n"

ANSWER_PHRASE = "After simplification, the answer is $\\frac{7}{2}$. Done."
FINAL_ANSWER_COLON = "Work shown above.\nFinal Answer: 27\nThanks."
ANSWER_PHRASE_DECIMAL = "Therefore the answer is 3.75."
LAST_NUMBER = "We get 3 apples, then 4 more, for a total of 7"
LAST_NUMBER_IGNORES_CODE = "The total is 11.\n```python\nprint(sum(range(100)))\n```\n"
NOTHING = "I am not sure how to proceed with this problem."
FBOX = "So it is \\fbox{64}."
BOXED_NO_BRACES = "so the result is \\boxed 5 and we are done"
LATEX_TUPLE_BOX = "Thus the point is $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$."
BOX_WITH_TEXT = "\\boxed{\\text{(C)}}"
MULTI_TURN_FINAL_ANSWER_CALL = (
    "Let's search for n.\n```python\nfor n in range(1, 1000):\n    if n % 7 == 3 and n % 11 == 5:\n"
    "        final_answer(n)\n        break\n```\nCode execution result: \\boxed{38}\n"
)

CASES = [
    (FINAL_ANSWER_TURN, "317"),
    (TWO_TURNS_THEN_BOX, "5"),
    (BOX_IN_CODE_SOURCE_ONLY, "12"),
    (BOX_IN_SOURCE_AND_OUTPUT, "42"),
    (NESTED_BOX, "\\frac{\\sqrt{3}}{2}"),
    (LAST_BOX_WINS, "14"),
    (EMPTY_LAST_BOX, "9"),
    (TRUNCATED_CODE, "3"),
    (OUTPUT_FENCE, "8"),
    (ANSWER_PHRASE, "\\frac{7}{2}"),
    (FINAL_ANSWER_COLON, "27"),
    (ANSWER_PHRASE_DECIMAL, "3.75"),
    (LAST_NUMBER, "7"),
    (LAST_NUMBER_IGNORES_CODE, "11"),
    (NOTHING, None),
    ("", None),
    (FBOX, "64"),
    (BOXED_NO_BRACES, "5"),
    (LATEX_TUPLE_BOX, "\\left( 3, \\frac{\\pi}{2} \\right)"),
    (BOX_WITH_TEXT, "\\text{(C)}"),
    (MULTI_TURN_FINAL_ANSWER_CALL, "38"),
    ("Unclosed \\boxed{12 and then nothing", "12"),
    ("\\boxed{a{b}c}", "a{b}c"),
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("The answer is: 1,000 people.", "1,000 people"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


# Answers a reader sees that the first version missed: after a ```output block (its closing fence was
# read as the opening of a code block), and without a box (the last digit run was taken instead).
AFTER_OUTPUT_BLOCK = (
    "First guess \\boxed{3}.\n```python\nprint(2 + 2)\n```\n```output\n4\n```\n"
    "The computation confirms it, so the answer is \\boxed{4}."
)
AFTER_TEXT_BLOCK = "Try \\boxed{1}.\n```text\n2\n```\nThen \\boxed{2}."
AFTER_BARE_OUTPUT = "Guess \\boxed{7}.\n```python\nprint(8)\n```\n```\n8\n```\nSo it is \\boxed{8}."
INLINE_OUTPUT_BLOCK = "First guess \\boxed{3} ```output 4``` so the answer is \\boxed{4}"
STATEMENT_AFTER_OUTPUT = "```python\nprint(3*4)\n```\n```output\n12\n```\nSo the final answer is 12."
BOX_INSIDE_OUTPUT = "```python\nfinal_answer(9)\n```\n```output\n\\boxed{9}\n```\nDone."
CODE_AFTER_OUTPUT = "```output\n5\n```\n```python\nprint('\\\\boxed{6}')\n```\nThe value is \\boxed{5}."
ISSUE_CASES = [
    (AFTER_OUTPUT_BLOCK, "4"),
    (AFTER_TEXT_BLOCK, "2"),
    (AFTER_BARE_OUTPUT, "8"),
    (INLINE_OUTPUT_BLOCK, "4"),
    (STATEMENT_AFTER_OUTPUT, "12"),
    (BOX_INSIDE_OUTPUT, "9"),
    (CODE_AFTER_OUTPUT, "5"),
    ("Hence the count is $10^3$", "10^3"),
    ("So $x=\\frac{2}{3}$", "x=\\frac{2}{3}"),
    ("The root is [$\\sqrt{4}$]", "\\sqrt{4}"),
    ("Therefore $x \\geq 5$ is the solution", "x \\geq 5"),
    (
        "The product is $\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$.",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
    ),
    ("Final Answer: The largest $n$ is 34.", "34"),
    ("Checking each option, only one fits.\nAnswer: B", "B"),
    ("Partial sum \\boxed{255}, then the rest.\nFinal Answer: $10,455$", "10,455"),
    ("**Final Answer:**\n\n$\\frac{1}{2}$", "\\frac{1}{2}"),
    ("We get $x=2$, and so the total is 14.", "14"),
    ("\\boxed{12}. The answer is consistent with $x^2=25$.", "12"),
    ("Thus the answer is $x=3$ and $y=2$.", "x=3, y=2"),
    ("The primes are $\\boxed{3}$, $\\boxed{5}$, and $\\boxed{7}$.", "3, 5, 7"),
    ("First \\boxed{3}, but after checking again: \\boxed{4}", "4"),
    ("It costs $\\$5$ or so, and then $$x^2$$", "x^2"),
    ("Costs are \\$5 and \\$7.", "7"),
]


@pytest.mark.parametrize(("text", "expected"), ISSUE_CASES)
def test_extract_answer_issue_cases(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


# Issue 22: several boxes joined by spacing and one "and"/"or" (and the gaps that keep them apart), and
# final-answer statements in other languages, without a box.
SEVERAL_BOXES_AND_LANGUAGES = [
    ("So \\boxed{(5,2)} \\quad \\text{and} \\quad \\boxed{(7,2)}.", "(5,2), (7,2)"),
    ("So $\\boxed{p=5,q=2}$ \\qquad or \\qquad $\\boxed{p=7,q=2}$", "p=5,q=2, p=7,q=2"),
    ("Roots: \\boxed{1},\\, \\boxed{2}\\; and~\\boxed{3}", "1, 2, 3"),
    ("\\boxed{(5,2)} \\quad \\text{not} \\quad \\boxed{(7,2)}", "(7,2)"),
    ("\\boxed{3} \\quad and \\quad or \\quad \\boxed{5}", "5"),
    ("\\boxed{(5,2)} fails the check; the solution is \\boxed{(7,2)}.", "(7,2)"),
    ("Por lo tanto, la respuesta es $\\frac{1}{2}$ cuando n = 3.", "\\frac{1}{2}"),
    ("Donc la réponse est $\\frac{1}{2}$ pour n = 3.", "\\frac{1}{2}"),
    ("Die Antwort ist $\\frac{1}{2}$ für n = 3.", "\\frac{1}{2}"),
    ("Portanto, a resposta é 12.", "12"),
    ("所以答案是 $\\frac{1}{2}$，其中 n = 3。", "\\frac{1}{2}"),
    ("答案：12（n = 3 时）", "12"),
    ("Ответ: $\\frac{1}{2}$ при n = 3.", "\\frac{1}{2}"),
    ("La respuesta parecía $4$, pero al revisar, la respuesta es $5$ para n = 3.", "5"),
    ("Primero \\boxed{4}. Después de revisar, la respuesta es 5.", "5"),
    ("所以答案是 $\\$347$，其中 $n = 3$。", "\\$347"),
    ("So the answer is $\\$347$ for $n = 3$.", "\\$347"),
]


@pytest.mark.parametrize(("text", "expected"), SEVERAL_BOXES_AND_LANGUAGES)
def test_several_boxes_and_other_languages(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


OPTION_CASES = [
    (ANSWER_PHRASE, ExtractConfig(answer_phrase=False), "\\frac{7}{2}"),
    (ANSWER_PHRASE, ExtractConfig(answer_phrase=False, last_math=False), "2"),
    (ANSWER_PHRASE, ExtractConfig(answer_phrase=False, last_math=False, last_number=False), None),
    (LAST_NUMBER, ExtractConfig(last_number=False), None),
    (BOX_IN_CODE_SOURCE_ONLY, ExtractConfig(skip_code_source=False), "x"),
    (LAST_NUMBER_IGNORES_CODE, ExtractConfig(skip_code_source=False), "100"),
    ("\\boxed{" + "9" * 50 + "}", ExtractConfig(max_answer_chars=10, last_number=False), None),
]


@pytest.mark.parametrize(("text", "config", "expected"), OPTION_CASES)
def test_extract_options(text: str, config: ExtractConfig, expected: str | None) -> None:
    assert extract_answer(text, config) == expected


def test_mask_code_source_keeps_output_and_prose() -> None:
    masked = mask_code_source(BOX_IN_SOURCE_AND_OUTPUT)
    assert "ans = 7" not in masked
    assert "Code execution result: \\boxed{42}" in masked
    assert mask_code_source("no code here") == "no code here"


def test_extract_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        ExtractConfig().last_number = False  # type: ignore[misc]


def timed(fn: Callable[..., T], *args: object, **kwargs: object) -> tuple[T, float]:
    """``fn(*args, **kwargs)`` and the seconds it took."""
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start


HOSTILE = [
    "\\boxed{" * 5000 + "x" * (1 << 20),
    "{" * 5000 + "\\boxed{" + "{" * 5000,
    ("\\boxed{1" + "{" * 50) * 20000,
    "```python\n" * 50000,
    "1" * (1 << 20),
    "the answer is " * 50000,
]


# CPU seconds one extraction of a HOSTILE text may take. Linear extraction takes 0.002-0.2 s (a quiet
# 2-core VM); anything super-linear in the 20,000 boxes or the 1 MB takes minutes. The ratio to a realistic
# response of the same length is measured by ``benchmarks/reward_bench.py`` (timing belongs there).
HOSTILE_CPU_S = 10.0


def cpu_timed(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    """``fn(*args)`` and the CPU seconds this process spent on it (other processes' load does not count)."""
    start = time.process_time()
    result = fn(*args)
    return result, time.process_time() - start


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_extraction_is_bounded_on_hostile_text(text: str) -> None:
    answer, seconds = cpu_timed(extract_answer, text)
    assert seconds < HOSTILE_CPU_S
    assert answer is None or len(answer) <= ExtractConfig().max_answer_chars + 100 or answer.isdigit()


def test_last_boxed_tries_only_recent_boxes() -> None:
    text = "\\boxed{1}" + "\\boxed{" * 100
    assert last_boxed(text) is None
    assert last_boxed(text, ExtractConfig(max_boxes_tried=1000)) == "1"

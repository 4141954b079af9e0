"""Metamorphic grading cases generated from gold answers: rewrites that must stay equal, near misses that
must not.

Each rule applies to the gold shapes it is sound for (an off-by-one needs a digit, a reordering needs a
set) and returns ``None`` otherwise. Answer cases are graded as ``(variant, gold)`` pairs; response cases
put the variant in a whole TIR response and are graded through ``compute_score``. Nothing here is
random: the same golds give the same cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

GOLD_FILES = (
    "aime24.jsonl",
    "aime25.jsonl",
    "amc23.jsonl",
    "math500.jsonl",
    "math_train_simplelr35.jsonl",
    "dapo_math_17k.jsonl",
)
"""The files of ``../shared/data`` whose ``answer`` fields are the golds (train_sample and the MathArena
copy of AIME 2025 repeat rows of these)."""

FIXTURE = Path(__file__).with_name("fixtures") / "golds.txt"
"""A few dozen golds of every shape, one per line, so that the suite runs without ``../shared``."""

_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d*\.\d+$")
_FRACTION = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
_LAST_DIGITS = re.compile(r"\d+(?!.*\d)", re.DOTALL)
_UNIT = re.compile(r"\\(?:text|mbox)\{[^{}]*\}(?:\^\{?\d+\}?)?")
_SURD_SIGN = re.compile(r"(?<=[\w}])\s*([+-])\s*(?=(?:\d+\s*)?\\sqrt)")
_FIRST_LETTER = re.compile(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])")
_NOT_PLAIN = re.compile(r"\\text|\\mbox|\\mathrm|\\approx|\\pm|\\mp|\\in\b|\\cup|\\infty|[<>=_:|!']|\\[lg]e")


@dataclass(frozen=True)
class Case:
    """One generated check: ``variant`` graded against ``gold`` must give ``expected``."""

    gold: str
    variant: str
    rule: str
    expected: bool
    response: bool = False


def _top_level_items(text: str) -> list[str] | None:
    """The comma-separated parts of ``text`` outside brackets and braces, or ``None`` if unbalanced."""
    items: list[str] = []
    depth = 0
    current = ""
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return None
        if ch == "," and depth == 0 and not text[:i].endswith("\\"):
            items.append(current)
            current = ""
        else:
            current += ch
    return [*items, current] if depth == 0 else None


def _is_number(gold: str) -> bool:
    return bool(_INTEGER.match(gold) or _DECIMAL.match(gold))


def _is_single(gold: str) -> bool:
    """A single plain expression: no list, relation, text, set or interval."""
    balanced = _top_level_items(gold) is not None
    return (
        balanced and "," not in gold.replace("{,}", "") and not _NOT_PLAIN.search(gold) and "\\{" not in gold
    )


def _set_items(gold: str) -> list[str] | None:
    """The elements of ``\\{a, b, …\\}`` or of a bare list ``a, b`` (no assignments), else ``None``."""
    inner = gold[2:-2] if gold.startswith("\\{") and gold.endswith("\\}") else gold
    items = _top_level_items(inner)
    if items is None or len(items) < 2 or any(not item.strip() or "=" in item for item in items):
        return None
    if inner is gold and (gold[0] in "([" or re.search(r",\\!|\{,\}|\d,\d{3}(?!\d)", gold)):
        return None
    return [re.sub(r"^(?:\\text\{\s*and\s*\}|and\b)\s*", "", item.strip()) for item in items]


def _tuple_items(gold: str) -> list[str] | None:
    """The elements of an ordered pair/triple ``(a, b)`` (``\\left``/``\\right`` allowed), else ``None``."""
    text = gold.replace("\\left", "").replace("\\right", "").strip()
    if not (text.startswith("(") and text.endswith(")")) or "\\cup" in text:
        return None
    items = _top_level_items(text[1:-1])
    if items is None or len(items) < 2:
        return None
    return [item.strip() for item in items]


# -- rewrites that must stay equal ------------------------------------------------------------------


def frac_slash(gold: str) -> str | None:
    """``\\frac{a}{b}`` ↔ ``a/b`` for a gold that is one plain fraction."""
    match = _FRACTION.match(gold)
    if match:
        return f"{match.group(1)}{match.group(2)}/{match.group(3)}"
    slash = re.fullmatch(r"(-?)(\d+)/(\d+)", gold)
    return f"{slash.group(1)}\\frac{{{slash.group(2)}}}{{{slash.group(3)}}}" if slash else None


def dfrac(gold: str) -> str | None:
    """``\\frac`` ↔ ``\\dfrac``."""
    if "\\dfrac" in gold or "\\tfrac" in gold:
        return re.sub(r"\\[dt]frac", r"\\frac", gold)
    return gold.replace("\\frac", "\\dfrac") if "\\frac" in gold else None


def spacing(gold: str) -> str | None:
    """Spaces around ``+``, ``-``, ``=``, commas, and ``\\left(``/``\\right)`` around parentheses."""
    if "\\text" in gold or "\\mbox" in gold or ",\\!" in gold or "{,}" in gold or "\\left" in gold:
        return None
    spaced = re.sub(r"(?<=[\w}])([+=]|-(?!\\infty))", r" \1 ", gold)
    if _top_level_items(gold) is not None and not re.search(r"\d,\d{3}", gold):
        spaced = re.sub(r",\s*", ", ", spaced)
    if gold.count("(") == gold.count(")") and "\\sqrt(" not in gold:
        spaced = re.sub(r"(?<![\\a-zA-Z])\(", r"\\left( ", spaced).replace(")", " \\right)")
    return spaced if spaced != gold else None


def assignment(gold: str) -> str | None:
    """``x = gold`` (``(x, y) = gold`` for a pair or triple)."""
    if "=" in gold or "[" in gold or "]" in gold or _NOT_PLAIN.search(gold):
        return None
    pair = _tuple_items(gold)
    if pair is not None:
        if len(pair) > 3:
            return None
        return f"({', '.join('xyz'[: len(pair)])}) = {gold}"
    return f"x = {gold}" if _top_level_items(gold) == [gold] and "\\{" not in gold else None


def unit(gold: str) -> str | None:
    """A unit in ``\\text{}`` after a plain number."""
    return f"{gold}\\text{{ cm}}" if _is_number(gold) else None


def degrees(gold: str) -> str | None:
    """``^\\circ`` after a plain number."""
    return f"{gold}^\\circ" if _is_number(gold) else None


def percent(gold: str) -> str | None:
    """``\\%`` after a plain number (a percentage also matches its value, as in the paper's grader)."""
    return f"{gold}\\%" if _is_number(gold) else None


def thousands(gold: str) -> str | None:
    """Thousands separators in an integer of four digits or more."""
    return f"{int(gold):,}" if _INTEGER.match(gold) and abs(int(gold)) >= 1000 else None


def decimal(gold: str) -> str | None:
    """The decimal of a fraction whose denominator has no prime factor but 2 and 5."""
    match = _FRACTION.match(gold) or re.fullmatch(r"(-?)(\d+)/(\d+)", gold)
    if not match or int(match.group(3)) == 0:
        return None
    value = Fraction(int(match.group(2)), int(match.group(3)))
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1 or value.denominator == 1:
        return None
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    return f"{match.group(1)}{float(value):.{places}f}"


def reordered(gold: str) -> str | None:
    """The elements of a set or a bare list in reverse order."""
    items = _set_items(gold)
    if items is None or items == items[::-1]:
        return None
    joined = ", ".join(reversed(items))
    return f"\\{{{joined}\\}}" if gold.startswith("\\{") else joined


# -- near misses that must not be equal ---------------------------------------------------------------


def sign(gold: str) -> str | None:
    """The opposite sign of a nonzero single value."""
    if not _is_single(gold) or not re.search(r"[1-9]|\\pi|\\sqrt", gold) or "\\begin" in gold:
        return None
    if gold.startswith("-") and _top_level_items(gold) == [gold] and not re.search(r"(?<=.)[+-]", gold):
        return gold[1:]
    return f"-\\left({gold}\\right)"


def off_by_one(gold: str) -> str | None:
    """The last integer of the gold's value plus one (same width: ``000`` → ``001``); not in a unit, and
    not past the 6th decimal place (decimals are compared rounded to 6 places, as in the paper)."""
    if "_" in gold or "\\approx" in gold or re.search(r"\^\{?0\}?|(?<![\d.])[01]\^", gold):
        return None
    value = _UNIT.sub(lambda unit: "#" * len(unit.group(0)), gold)
    match = _LAST_DIGITS.search(value)
    if match is None or (value[: match.start()].endswith(".") and len(match.group(0)) > 6):
        return None
    digits = match.group(0)
    bumped = str(int(digits) + 1).zfill(len(digits))
    return gold[: match.start()] + bumped + gold[match.end() :]


def swapped(gold: str) -> str | None:
    """The first two elements of an ordered pair/triple swapped, when they differ."""
    items = _tuple_items(gold)
    if items is None or items[0] == items[1] or _values_equal(items[0], items[1]):
        return None
    items[0], items[1] = items[1], items[0]
    return f"({', '.join(items)})"


def dropped(gold: str) -> str | None:
    """A set, list or tuple without its last element."""
    items = _set_items(gold)
    if items is not None and len(set(items)) == len(items):
        joined = ", ".join(items[:-1])
        return f"\\{{{joined}\\}}" if gold.startswith("\\{") else joined
    pair = _tuple_items(gold)
    if pair is not None and len(pair) > 2:
        return f"({', '.join(pair[:-1])})"
    return None


def primed(gold: str) -> str | None:
    """A prime on the first variable letter of the gold."""
    if "\\text" in gold or "\\mbox" in gold or "\\begin" in gold:
        return None
    match = _FIRST_LETTER.search(gold)
    if match is None or gold[match.end() :].startswith("'"):
        return None
    return gold[: match.end()] + "'" + gold[match.end() :]


def other_root(gold: str) -> str | None:
    """The conjugate root: the sign in front of the gold's first surd flipped (``5+2\\sqrt{6}`` → ``5-2\\sqrt{6}``)."""
    if not _is_single(gold):
        return None
    match = _SURD_SIGN.search(gold)
    if match is None:
        return None
    flipped = "-" if match.group(1) == "+" else "+"
    return gold[: match.start(1)] + flipped + gold[match.end(1) :]


def _values_equal(a: str, b: str) -> bool:
    """Cheap check that two plain numbers are the same value (``2`` and ``2.0``)."""
    try:
        return Fraction(a) == Fraction(b)
    except (ValueError, ZeroDivisionError):
        return False


# -- whole responses --------------------------------------------------------------------------------


def boxed_in_prose(answer: str) -> str:
    """A response that states the answer in a box inside a sentence."""
    return f"Checking every case, the count is consistent.\nTherefore, the final answer is $\\boxed{{{answer}}}$."


def after_output_block(answer: str, decoy: str) -> str:
    """A response that boxes ``decoy`` first, runs code, and gives ``answer`` after the output block."""
    return (
        f"First guess: $\\boxed{{{decoy}}}$.\n```python\nprint(check())\n```\n```output\n{decoy}\n```\n"
        f"The check fails, so the guess was wrong. Correcting it, the answer is $\\boxed{{{answer}}}$."
    )


def final_answer_print(answer: str) -> str:
    """A TIR turn that ends with ``final_answer(...)`` and its printed, boxed result."""
    return f"```python\nfinal_answer(solve())\n```\nCode execution result: \\boxed{{{answer}}}\n"


REWRITES: dict[str, Callable[[str], str | None]] = {
    "frac_slash": frac_slash,
    "dfrac": dfrac,
    "spacing": spacing,
    "assignment": assignment,
    "unit": unit,
    "degrees": degrees,
    "percent": percent,
    "thousands": thousands,
    "decimal": decimal,
    "reordered": reordered,
}
"""Answer rewrites that must stay equal to the gold."""

NEAR_MISSES: dict[str, Callable[[str], str | None]] = {
    "sign": sign,
    "off_by_one": off_by_one,
    "swapped": swapped,
    "dropped": dropped,
    "primed": primed,
    "other_root": other_root,
}
"""Answer changes that must not be equal to the gold."""


def cases_for(gold: str) -> list[Case]:
    """Every case the rules generate for one gold."""
    cases: list[Case] = []
    for rules, expected in ((REWRITES, True), (NEAR_MISSES, False)):
        for name, rule in rules.items():
            variant = rule(gold)
            if variant is not None and variant != gold:
                cases.append(Case(gold, variant, name, expected))
    decoy = off_by_one(gold)
    cases.append(Case(gold, boxed_in_prose(gold), "boxed_in_prose", True, response=True))
    cases.append(Case(gold, final_answer_print(gold), "final_answer_print", True, response=True))
    if decoy is not None:
        cases.append(Case(gold, after_output_block(gold, decoy), "after_output_block", True, response=True))
        cases.append(Case(gold, after_output_block(decoy, gold), "answer_changed_after_output", False, True))
    return cases


def generate(golds: Iterable[str]) -> list[Case]:
    """The cases of every distinct gold, in first-seen order."""
    return [case for gold in dict.fromkeys(golds) for case in cases_for(gold)]


def load_golds(data_dir: Path) -> list[str]:
    """Every ``answer`` in the gold files of ``data_dir`` (repeats kept), as strings."""
    golds: list[str] = []
    for name in GOLD_FILES:
        path = data_dir / name
        if path.is_file():
            with path.open(encoding="utf-8") as lines:
                golds += [str(json.loads(line)["answer"]).strip() for line in lines if line.strip()]
    return golds


def fixture_golds() -> list[str]:
    """The golds of the fixture file (blank lines and ``#`` comments skipped)."""
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]

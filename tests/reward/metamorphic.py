"""Metamorphic grading cases generated from gold answers: rewrites that must stay equal, near misses that
must not.

Each rule applies to the gold shapes it is sound for (an off-by-one needs a digit, a reordering needs a
set) and returns ``None`` otherwise. Answer cases are graded as ``(variant, gold)`` pairs; response cases
put the variant in a whole TIR response and are graded through ``compute_score``. Nothing here is
random: the same golds give the same cases.

The set rules (issue 22) come in pairs, a rewrite that must stay equal and its "must differ" twin. Some
apply to golds of their shape (intervals and unions, equations, pairs, lists, choice letters); the
others build a gold of that shape from a number gold ``v`` (``[v,\\infty)``, ``|x| > v`` against its
union, the line ``y = vx - 3``, the solutions ``\\{(v,1),(1,v)\\}``, ``… \\bmod m = v``), so that they
run on the thousands of number golds too.
"""

from __future__ import annotations

import json
import re
import zlib
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


# -- sets, equations, solutions, letters, statements (issue 22) --------------------------------------

_PLAIN_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d+)?|\.\d+|\\[dt]?frac\{\d+\}\{\d+\}|\d+/\d+)$")
_SIMPLE_TERM = re.compile(r"^-?(?:\d*\.?\d+|\\[dt]?frac\{[^{}]*\}\{[^{}]*\}|\\sqrt\{[^{}]*\}|\\pi|\\infty)$")
_LETTER = re.compile(r"^(?:\\text\{|\\textbf\{|\\mathrm\{)?\(?([A-E])\)?\}?$")
_DEBRIS = (" \\\\", "\\\\", " \\", " \\nonumber", " &")
_LANGUAGES = (
    (
        "Por lo tanto, la respuesta es ${}$ para $n = 3$.",
        "La respuesta parecía ${}$, pero al revisar, la respuesta es ${}$ para $n = 3$.",
    ),
    ("Donc la réponse est ${}$ pour $n = 3$.", "On croyait ${}$, mais la réponse est ${}$ pour $n = 3$."),
    ("Die Antwort ist ${}$ für $n = 3$.", "Zuerst ${}$, aber die Antwort ist ${}$ für $n = 3$."),
    ("所以答案是 ${}$，其中 $n = 3$。", "起初是 ${}$，但答案是 ${}$，其中 $n = 3$。"),
    ("Ответ: ${}$ при $n = 3$.", "Сначала ${}$.\nОтвет: ${}$ при $n = 3$."),
    ("Portanto, a resposta é ${}$ para $n = 3$.", "Parecia ${}$, mas a resposta é ${}$ para $n = 3$."),
)
"""Final-answer statements without a box (a number follows the answer, so only the statement finds it),
and the same with a first guess corrected: (statement, corrected) templates."""


def _intervals(gold: str) -> list[tuple[bool, str, str, bool]] | None:
    """The intervals of an interval or a union of intervals, ``(left_closed, low, high, right_closed)``,
    when the gold is one unambiguously (an infinite end, a square bracket or a union: ``(1, 2)`` alone
    is a pair)."""
    text = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", gold).strip()
    text = re.sub(r"^[a-z]\s*\\in\s*", "", text)
    if not ("\\infty" in text or "[" in text or "]" in text or "\\cup" in text) or "\\{" in text:
        return None
    out = []
    for piece in text.split("\\cup"):
        piece = piece.strip()
        items = _top_level_items(piece[1:-1]) if len(piece) > 2 else None
        if piece[:1] not in "([" or piece[-1:] not in ")]" or items is None or len(items) != 2:
            return None
        low, high = (item.strip() for item in items)
        if not low or not high or (low == "-\\infty" and high == "\\infty"):
            return None
        if any(re.search(r"[A-Za-z]", re.sub(r"\\[a-zA-Z]+", "", end)) for end in (low, high)):
            return None
        out.append((piece[0] == "[", low, high, piece[-1] == "]"))
    return out


def _neg(value: str) -> str:
    """``-value``, with parentheses unless ``value`` is one simple term."""
    if value == "-\\infty":
        return "\\infty"
    if _SIMPLE_TERM.match(value):
        return value[1:] if value.startswith("-") else f"-{value}"
    return f"-\\left({value}\\right)"


def _inequality(interval: tuple[bool, str, str, bool], term: str = "x", flip_first: bool = False) -> str:
    """The interval as an inequality in ``term`` (``a < x \\le b``, ``x > a``); ``flip_first`` makes its
    first finite end's sign the other strictness."""
    left_closed, low, high, right_closed = interval
    less, greater = {True: "\\le", False: "<"}, {True: "\\ge", False: ">"}
    if low == "-\\infty":
        return f"{term} {less[right_closed != flip_first]} {high}"
    if high == "\\infty":
        return f"{term} {greater[left_closed != flip_first]} {low}"
    return f"{low} {less[left_closed != flip_first]} {term} {less[right_closed]} {high}"


def _negated(interval: tuple[bool, str, str, bool]) -> tuple[bool, str, str, bool]:
    """The interval of ``-x`` (ends negated and swapped)."""
    left_closed, low, high, right_closed = interval
    return right_closed, _neg(high), _neg(low), left_closed


def as_inequality(gold: str) -> str | None:
    """An interval or union as inequalities in ``x`` joined by "or"."""
    intervals = _intervals(gold)
    return None if intervals is None else " \\text{ or } ".join(_inequality(i) for i in intervals)


def negated_variable(gold: str) -> str | None:
    """An interval or union as inequalities in ``-x`` (``-b \\le -x < -a``)."""
    intervals = _intervals(gold)
    if intervals is None:
        return None
    return " \\text{ or } ".join(_inequality(_negated(i), "-x") for i in intervals)


def membership(gold: str) -> str | None:
    """``x \\in gold`` for an interval or union."""
    if _intervals(gold) is None or re.match(r"^[a-z]\s*\\in", gold):
        return None
    return f"x \\in {gold}"


def _scaled(intervals: list[tuple[bool, str, str, bool]]) -> str:
    """Intervals as inequalities in ``3x - 1``, joined by "or"."""

    def scale(value: str) -> str:
        if "infty" in value:
            return value
        return (
            f"3 \\cdot {value} - 1" if _SIMPLE_TERM.match(value) else f"3 \\cdot \\left({value}\\right) - 1"
        )

    return " \\text{ or } ".join(
        _inequality((lc, scale(low), scale(high), rc), "3x - 1") for lc, low, high, rc in intervals
    )


def scaled_inequality(gold: str) -> str | None:
    """An interval or union as inequalities in ``3x - 1`` (solved by sympy, not in-process)."""
    intervals = _intervals(gold)
    return None if intervals is None else _scaled(intervals)


def strictness_flipped(gold: str) -> str | None:
    """The inequalities of an interval or union with one end's strictness changed."""
    intervals = _intervals(gold)
    if intervals is None:
        return None
    forms = [_inequality(i) for i in intervals]
    forms[0] = _inequality(intervals[0], flip_first=True)
    return " \\text{ or } ".join(forms)


def scaled_strictness_flipped(gold: str) -> str | None:
    """:func:`scaled_inequality` with one end's strictness changed."""
    intervals = _intervals(gold)
    if intervals is None:
        return None
    left_closed, low, high, right_closed = intervals[0]
    if low != "-\\infty":
        return _scaled([(not left_closed, low, high, right_closed), *intervals[1:]])
    return _scaled([(left_closed, low, high, not right_closed), *intervals[1:]])


def end_moved(gold: str) -> str | None:
    """The inequalities of an interval or union with its last finite end one more."""
    intervals = _intervals(gold)
    if intervals is None:
        return None
    left_closed, low, high, right_closed = intervals[-1]
    moved = (
        (left_closed, low, f"{high} + 1", right_closed)
        if high != "\\infty"
        else (left_closed, f"{low} + 1", high, right_closed)
    )
    return " \\text{ or } ".join(_inequality(i) for i in [*intervals[:-1], moved])


def piece_dropped(gold: str) -> str | None:
    """The inequalities of a union without its last interval."""
    intervals = _intervals(gold)
    if intervals is None or len(intervals) < 2:
        return None
    return " \\text{ or } ".join(_inequality(i) for i in intervals[:-1])


def _number(gold: str) -> str | None:
    """The gold when it is one plain number (integer, decimal, fraction)."""
    return gold if _PLAIN_NUMBER.match(gold) and re.search(r"[1-9]", gold) else None


def ray_negated(gold: str) -> tuple[str, str] | None:
    """From a number ``v``: the gold ``[v,\\infty)`` and ``-x \\le -v``."""
    value = _number(gold)
    return None if value is None else (f"[{value},\\infty)", f"-x \\le {_neg(value)}")


def ray_negated_strict(gold: str) -> tuple[str, str] | None:
    """From a number ``v``: the gold ``[v,\\infty)`` and ``-x < -v``."""
    value = _number(gold)
    return None if value is None else (f"[{value},\\infty)", f"-x < {_neg(value)}")


def abs_union(gold: str) -> tuple[str, str] | None:
    """From a number ``v``: the gold ``(-\\infty,-|v|)\\cup(|v|,\\infty)`` and ``|x| > |v|``."""
    value = _number(gold)
    if value is None:
        return None
    size = value.removeprefix("-")
    return f"(-\\infty,-{size})\\cup({size},\\infty)", f"|x| > {size}"


def abs_union_closed(gold: str) -> tuple[str, str] | None:
    """From a number ``v``: the gold ``(-\\infty,-|v|)\\cup(|v|,\\infty)`` and ``|x| \\ge |v|``."""
    value = _number(gold)
    if value is None:
        return None
    size = value.removeprefix("-")
    return f"(-\\infty,-{size})\\cup({size},\\infty)", f"|x| \\ge {size}"


def abs_band(gold: str) -> tuple[str, str] | None:
    """From an integer ``n``: the gold ``[-(m+2),-m]\\cup[m,m+2]`` (``m = |n|``) and ``m \\le |z| \\le m+2``."""
    if not _INTEGER.match(gold) or int(gold) == 0:
        return None
    m = abs(int(gold))
    return f"[-{m + 2},-{m}]\\cup[{m},{m + 2}]", f"{m} \\le |z| \\le {m + 2}"


def abs_band_strict(gold: str) -> tuple[str, str] | None:
    """From an integer ``n``: the gold of :func:`abs_band` and ``m < |z| \\le m+2``."""
    if not _INTEGER.match(gold) or int(gold) == 0:
        return None
    m = abs(int(gold))
    return f"[-{m + 2},-{m}]\\cup[{m},{m + 2}]", f"{m} < |z| \\le {m + 2}"


def _equation_difference(gold: str) -> object | None:
    """``lhs - rhs`` of a gold that is one polynomial equation in two or more variables (sympy), else ``None``."""
    if gold.count("=") != 1 or "\\text" in gold or re.search(r"[<>,]|\\[lg]e", gold):
        return None
    import sympy
    from math_verify import LatexExtractionConfig, parse

    parsed = parse(f"${gold}$", (LatexExtractionConfig(),), parsing_timeout=None, raise_on_error=False)
    if not parsed or not isinstance(parsed[0], sympy.Eq):
        return None
    difference = parsed[0].lhs - parsed[0].rhs
    if len(difference.free_symbols) < 2 or not difference.is_polynomial(*difference.free_symbols):
        return None
    return difference


def _line(gold: str) -> str | None:
    """From an integer slope ``n`` (``|n| <= 100``, not 0): the line ``y = nx - 3``."""
    if not _INTEGER.match(gold) or not 0 < abs(int(gold)) <= 100:
        return None
    n = int(gold)
    slope = {1: "", -1: "-"}.get(n, str(n))
    return f"y = {slope}x - 3"


def line_general_form(gold: str) -> tuple[str, str] | None:
    """An equation gold times ``-2`` (``ax + by + c = 0``); from an integer ``n``: ``y = nx - 3`` and
    ``2nx - 2y - 6 = 0``."""
    line = _line(gold)
    if line is not None:
        return line, f"{2 * int(gold)}x - 2y - 6 = 0"
    difference = _equation_difference(gold)
    if difference is None:
        return None
    import sympy

    return gold, f"{sympy.latex(sympy.expand(-2 * difference))} = 0"


def line_other_slope(gold: str) -> tuple[str, str] | None:
    """:func:`line_general_form` with another line: a slope one more, or the constant term one more."""
    line = _line(gold)
    if line is not None:
        return line, f"{2 * int(gold) + (2 if int(gold) != -1 else -2)}x - 2y - 6 = 0"
    difference = _equation_difference(gold)
    if difference is None:
        return None
    import sympy

    return gold, f"{sympy.latex(sympy.expand(-2 * difference + 1))} = 0"


def _solutions(gold: str) -> tuple[str, str, str, str] | None:
    """Two solutions ``(a, b)`` and ``(b, a)``: from a pair gold with ``a != b``, or from an integer
    ``n != 1`` as ``(n, 1)`` and ``(1, n)``; ``(a, b, b, a)`` as text."""
    pair = _tuple_items(gold)
    if pair is not None and len(pair) == 2 and pair[0] != pair[1] and not _values_equal(*pair):
        if not any("=" in item or "\\infty" in item for item in pair):
            return pair[0], pair[1], pair[1], pair[0]
        return None
    if _INTEGER.match(gold) and int(gold) != 1:
        return str(int(gold)), "1", "1", str(int(gold))
    return None


_SOLUTION_SEPARATORS = ("; ", " \\text{ or } ", " \\quad\\text{and}\\quad ", " and ")


def solutions_joined(gold: str) -> tuple[str, str] | None:
    """The gold ``\\{(a,b),(b,a)\\}`` and its solutions as assignments (or pairs) joined by ``;``, "or",
    ``\\quad\\text{and}\\quad`` or "and"."""
    solutions = _solutions(gold)
    if solutions is None:
        return None
    a, b, c, d = solutions
    separator = _SOLUTION_SEPARATORS[len(gold) % len(_SOLUTION_SEPARATORS)]
    if len(gold) % 3 == 0:
        return f"\\{{({a},{b}),({c},{d})\\}}", f"({a}, {b}){separator}({c}, {d})"
    return f"\\{{({a},{b}),({c},{d})\\}}", f"p = {a}, q = {b}{separator}p = {c}, q = {d}"


def solution_missing(gold: str) -> tuple[str, str] | None:
    """The gold of :func:`solutions_joined` and only its first solution."""
    solutions = _solutions(gold)
    if solutions is None:
        return None
    a, b, c, d = solutions
    return f"\\{{({a},{b}),({c},{d})\\}}", f"p = {a}, q = {b}"


def solution_changed(gold: str) -> tuple[str, str] | None:
    """The gold of :func:`solutions_joined` and its solutions with the last value one more."""
    solutions = _solutions(gold)
    if solutions is None:
        return None
    a, b, c, d = solutions
    bumped = off_by_one(d)
    if bumped is None:
        return None
    return f"\\{{({a},{b}),({c},{d})\\}}", f"p = {a}, q = {b}; p = {c}, q = {bumped}"


def choice_letter(gold: str) -> str | None:
    """A choice-letter gold written another way: ``Answer: B``, ``(B)``, ``\\text{(B)}``, ``\\textbf{(B)}``."""
    match = _LETTER.match(gold)
    if match is None:
        return None
    forms = ("Answer: {}", "({})", "\\text{{({})}}", "\\textbf{{({})}}", "\\text{{Answer: ({})}}")
    return forms[len(gold) % len(forms)].format(match.group(1))


def choice_other_letter(gold: str) -> str | None:
    """:func:`choice_letter` with the next letter."""
    match = _LETTER.match(gold)
    if match is None:
        return None
    other = "ABCDE"[("ABCDE".index(match.group(1)) + 1) % 5]
    return choice_letter(gold.replace(match.group(1), other))


def _residue(gold: str) -> int | None:
    """A non-negative integer gold's value."""
    return int(gold) if _INTEGER.match(gold) and not gold.startswith("-") else None


def mod_statement(gold: str) -> str | None:
    """``N \\bmod m = n`` for a non-negative integer ``n`` (``m = n + 7``, ``N = n + 3m``)."""
    n = _residue(gold)
    return None if n is None else f"{n + 3 * (n + 7)} \\bmod {n + 7} = {gold}"


def mod_statement_wrong(gold: str) -> str | None:
    """:func:`mod_statement` stating the residue plus one."""
    n = _residue(gold)
    return None if n is None else f"{n + 3 * (n + 7)} \\bmod {n + 7} = {n + 1}"


def congruence(gold: str) -> str | None:
    """``N \\equiv n \\pmod{m}`` for a non-negative integer ``n``."""
    n = _residue(gold)
    return None if n is None else f"{n + 2 * (n + 5)} \\equiv {gold} \\pmod{{{n + 5}}}"


def congruence_wrong(gold: str) -> str | None:
    """:func:`congruence` with the residue plus one."""
    n = _residue(gold)
    return None if n is None else f"{n + 2 * (n + 5)} \\equiv {n + 1} \\pmod{{{n + 5}}}"


def latex_debris(gold: str) -> str | None:
    """The gold followed by a stray ``\\\\``, ``\\``, ``\\nonumber`` or ``&``."""
    if gold.endswith("\\"):
        return None
    return gold + _DEBRIS[len(gold) % len(_DEBRIS)]


def latex_debris_near_miss(gold: str) -> str | None:
    """:func:`off_by_one` followed by the same debris."""
    bumped = off_by_one(gold)
    return None if bumped is None or gold.endswith("\\") else bumped + _DEBRIS[len(gold) % len(_DEBRIS)]


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


def boxes_split(items: list[str]) -> str:
    """A response that boxes each solution, the boxes joined by ``\\quad\\text{and}\\quad`` or commas."""
    if len(items) == 2:
        return f"Both satisfy the system: $\\boxed{{{items[0]}}} \\quad\\text{{and}}\\quad \\boxed{{{items[1]}}}$."
    boxes = [f"$\\boxed{{{item}}}$" for item in items]
    return f"The values are {', '.join(boxes[:-1])}, and {boxes[-1]}."


def boxes_corrected(items: list[str]) -> str:
    """A response that boxes the first solution, rejects it, and boxes the last one alone."""
    return f"First $\\boxed{{{items[0]}}}$, but it fails the check; the solution is $\\boxed{{{items[-1]}}}$."


def non_english(answer: str, index: int) -> str:
    """A final-answer statement in another language, no box, a number after the answer."""
    return _LANGUAGES[index % len(_LANGUAGES)][0].format(answer)


def non_english_corrected(answer: str, decoy: str, index: int) -> str:
    """A first guess ``decoy`` then the final-answer statement of ``answer``, in another language."""
    return _LANGUAGES[index % len(_LANGUAGES)][1].format(decoy, answer)


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

SET_RULES: dict[str, tuple[Callable[[str], str | None], bool]] = {
    "as_inequality": (as_inequality, True),
    "strictness_flipped": (strictness_flipped, False),
    "end_moved": (end_moved, False),
    "negated_variable": (negated_variable, True),
    "membership": (membership, True),
    "piece_dropped": (piece_dropped, False),
    "scaled_inequality": (scaled_inequality, True),
    "scaled_strictness_flipped": (scaled_strictness_flipped, False),
    "choice_letter": (choice_letter, True),
    "choice_other_letter": (choice_other_letter, False),
    "mod_statement": (mod_statement, True),
    "mod_statement_wrong": (mod_statement_wrong, False),
    "congruence": (congruence, True),
    "congruence_wrong": (congruence_wrong, False),
    "latex_debris": (latex_debris, True),
    "latex_debris_near_miss": (latex_debris_near_miss, False),
}
"""Issue 22's rules on the gold itself: (rule, whether the variant must be equal)."""

DERIVED_RULES: dict[str, tuple[Callable[[str], tuple[str, str] | None], bool]] = {
    "ray_negated": (ray_negated, True),
    "ray_negated_strict": (ray_negated_strict, False),
    "abs_union": (abs_union, True),
    "abs_union_closed": (abs_union_closed, False),
    "abs_band": (abs_band, True),
    "abs_band_strict": (abs_band_strict, False),
    "line_general_form": (line_general_form, True),
    "line_other_slope": (line_other_slope, False),
    "solutions_joined": (solutions_joined, True),
    "solution_missing": (solution_missing, False),
    "solution_changed": (solution_changed, False),
}
"""Issue 22's rules that grade against a gold of their shape (the gold itself, or one built from it):
(rule returning ``(gold, variant)``, whether they must be equal)."""

RESPONSE_SET_RULES = ("boxes_split", "boxes_corrected", "non_english", "non_english_corrected")
"""Issue 22's whole-response rules (several boxes, a statement in another language)."""


def cases_for(gold: str) -> list[Case]:
    """Every case the rules generate for one gold."""
    cases: list[Case] = []
    for rules, expected in ((REWRITES, True), (NEAR_MISSES, False)):
        for name, rule in rules.items():
            variant = rule(gold)
            if variant is not None and variant != gold:
                cases.append(Case(gold, variant, name, expected))
    for name, (set_rule, expected) in SET_RULES.items():
        variant = set_rule(gold)
        if variant is not None and variant != gold:
            cases.append(Case(gold, variant, name, expected))
    for name, (derived_rule, expected) in DERIVED_RULES.items():
        derived = derived_rule(gold)
        if derived is not None:
            cases.append(Case(derived[0], derived[1], name, expected))
    cases += _response_set_cases(gold)
    decoy = off_by_one(gold)
    cases.append(Case(gold, boxed_in_prose(gold), "boxed_in_prose", True, response=True))
    cases.append(Case(gold, final_answer_print(gold), "final_answer_print", True, response=True))
    if decoy is not None:
        cases.append(Case(gold, after_output_block(gold, decoy), "after_output_block", True, response=True))
        cases.append(Case(gold, after_output_block(decoy, gold), "answer_changed_after_output", False, True))
    return cases


def _response_set_cases(gold: str) -> list[Case]:
    """The whole-response cases of issue 22 for one gold: its solutions or list items boxed one by one
    (and a response that keeps only the last box), its statement in another language (and one
    corrected to a near miss)."""
    cases: list[Case] = []
    solutions = _solutions(gold)
    items = _set_items(gold)
    if solutions is not None:
        target, boxed = (
            f"\\{{({solutions[0]},{solutions[1]}),({solutions[2]},{solutions[3]})\\}}",
            [
                f"({solutions[0]}, {solutions[1]})",
                f"({solutions[2]}, {solutions[3]})",
            ],
        )
    elif items is not None and len(set(items)) == len(items):
        target, boxed = gold, items
    else:
        target, boxed = "", []
    if boxed:
        cases.append(Case(target, boxes_split(boxed), "boxes_split", True, response=True))
        cases.append(Case(target, boxes_corrected(boxed), "boxes_corrected", False, response=True))
    index = zlib.crc32(gold.encode())
    cases.append(Case(gold, non_english(gold, index), "non_english", True, response=True))
    decoy = off_by_one(gold)
    if decoy is not None:
        cases.append(
            Case(gold, non_english_corrected(decoy, gold, index), "non_english_corrected", False, True)
        )
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

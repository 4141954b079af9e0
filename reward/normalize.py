"""LaTeX/string normalisation of a single answer, and an exact parser for plain numbers.

Every function here is linear in its input (no nested quantifiers, no recursion), so it is safe to run
in-process on hostile text; anything that needs sympy lives in :mod:`simpletir.reward.equivalence`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_NUMBER_CHARS = 200
"""Longest string :func:`parse_number` will look at; longer numbers go to the symbolic path."""

MAX_EXPONENT = 400
"""Largest ``|exponent|`` the fast path expands in scientific notation (``1.5e3``, ``2\\times10^{4}``)."""

_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_BOX_COMMANDS = ("\\boxed", "\\fbox", "\\displaystyle")

_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|biggl|biggr)(?![a-zA-Z])\s*\.?")
_THOUSANDS_THIN = re.compile(r"(?<=\d)(?:,?\\[,! ]|\{,\}|~)(?=\d{3}(?!\d))")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad(?![a-zA-Z])|~")
_DFRAC = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_FRAC_ARGUMENT = r"(\\[a-zA-Z]+|[0-9a-zA-Z]|\{[^{}]{0,50}\})"
_FRAC_SHORT = re.compile(rf"\\frac(?![a-zA-Z])\s*{_FRAC_ARGUMENT}\s*{_FRAC_ARGUMENT}")
_PHANTOM = re.compile(r"\\[hv]?phantom\s*(?:\{[^{}]{0,50}\}|\\[a-zA-Z]+|.)")
_SQRT_PARENS = re.compile(r"\\sqrt\s*\(([^(){}]{1,50})\)")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-zA-Z])|\\circ\s*$")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|mbox|mathrm|mathbf|mathit|operatorname)\s*\{([^{}]*)\}"
)
_UNIT_TEXT = re.compile(
    r"(?<=[\d}.])\s*\\(?:text|textrm|mbox|mathrm)\s*\{\s*[A-Za-z][A-Za-z .]*\}(?:\^\{?\d\}?)?"
)
_CONJUNCTION = re.compile(r"\s*\\(?:text|textrm|mbox)\s*\{\s*(?:and|or)\s*\}\s*|\s+(?:and|or)\s+")
_UNIT_WORDS = re.compile(
    r"^([-+]?[\d.,/]*\d)\s+(?!(?:pi|sqrt|root|log|ln|sin|cos|tan|cot|sec|csc|exp|inf|infinity|i)\b)"
    r"[A-Za-z]{2,}(?:\s+[A-Za-z]+)*\.?$"
)
_VARIABLE = r"[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?"
_ASSIGNMENT = re.compile(rf"^\s*(?:{_VARIABLE}|\(\s*{_VARIABLE}(?:\s*,\s*{_VARIABLE})+\s*\))\s*=(?![=<>])\s*")
_ASSIGNED_NAME = re.compile(rf"^\s*({_VARIABLE})\s*=(?![=<>])")
_MEMBERSHIP = re.compile(rf"^\s*{_VARIABLE}\s*\\in(?![a-zA-Z])\s*")
_PRIME_POWER = re.compile(r"\^\s*\{\s*((?:\\prime\s*)+)\}|\^\s*\\prime(?![a-zA-Z])")
_PRIME_MARKS = re.compile(r"([A-Za-z0-9})\]])\s*('+)")
_CHOICE = re.compile(r"^\(([A-Ea-e])\)$")
_CHOICE_LABEL = re.compile(r"^\(([A-E])\)\s*(.*)$")
_RELATION = re.compile(r"\\(?:leqslant|geqslant|leq|geq|le|ge|lt|gt)(?![a-zA-Z])|<=|>=|[<>≤≥]")
_LESS = ("<", "\\lt")
_LESS_EQUAL = ("<=", "≤", "\\le", "\\leq", "\\leqslant")
_GREATER_EQUAL = (">=", "≥", "\\ge", "\\geq", "\\geqslant")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")
_VARIABLE_ONLY = re.compile(rf"^{_VARIABLE}$")
_THOUSANDS_COMMAS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_WS = re.compile(r"\s+")
_SPACE_AROUND_SYMBOL = re.compile(r" ?([^\w\s\\]) ?")

_INT = r"[-+]?\d+"
_DECIMAL = r"[-+]?(?:\d+\.\d*|\.\d+)"
_NUMBER_RES = {
    "int": re.compile(rf"^{_INT}$"),
    "decimal": re.compile(rf"^{_DECIMAL}$"),
    "slash": re.compile(r"^([-+]?\d+)/(\d+)$"),
    "frac": re.compile(r"^([-+]?)\\frac\{([-+]?\d+)\}\{(\d+)\}$"),
    "sci_e": re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+))[eE]([-+]?\d{1,4})$"),
    "sci_times": re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+))(?:\\times|\\cdot|\*)10\^\{?([-+]?\d{1,4})\}?$"),
}


@dataclass(frozen=True)
class Number:
    """An exactly parsed number: its value, whether it was written exactly, and whether it had a ``%``."""

    value: Fraction
    exact: bool
    percent: bool


def match_brace(text: str, open_index: int, limit: int | None = None) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_index`` (a backslash escapes the next character),
    or -1 when it is not closed before ``limit`` (default: the end); iterative and linear."""
    depth = 0
    i = open_index
    end = len(text) if limit is None else min(len(text), limit)
    while i < end:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def strip_wrappers(answer: str) -> str:
    """Remove math delimiters (``$…$``, ``\\(…\\)``, ``\\[…\\]``) and whole-answer ``\\boxed{…}`` layers."""
    text = answer.strip()
    changed = True
    while changed and text:
        changed = False
        for left, right in _WRAPPERS:
            if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text = text[len(left) : len(text) - len(right)].strip()
                changed = True
                break
        for command in _BOX_COMMANDS:
            if not text.startswith(command):
                continue
            rest = text[len(command) :].lstrip()
            if command == "\\displaystyle":
                text, changed = rest, True
                break
            if rest.startswith("{") and match_brace(rest, 0) == len(rest) - 1:
                text, changed = rest[1:-1].strip(), True
                break
    return text


def _braced_fraction(match: re.Match[str]) -> str:
    """``\\frac`` with both arguments braced (``\\frac12``, ``\\frac\\pi 2``, ``\\frac 9{20}``)."""
    numerator, denominator = (arg[1:-1] if arg.startswith("{") else arg for arg in match.groups())
    return f"\\frac{{{numerator}}}{{{denominator}}}"


def _unwrap_text(text: str) -> str:
    """Drop unit ``\\text{…}`` after a number and unwrap the remaining text commands to their content."""
    text = _CONJUNCTION.sub(",", text)
    text = _UNIT_TEXT.sub("", text)
    previous = None
    while previous != text:
        previous = text
        text = _TEXT_CMD.sub(r"\1", text)
    return text


def normalize_answer(answer: str) -> str:
    """Canonical string form of one answer: wrappers, spacing, ``\\left``/``\\right``, units, degrees and
    ``x =`` removed; ``\\dfrac``/``\\tfrac`` → ``\\frac``; thousands separators dropped."""
    text = strip_wrappers(answer)
    text = _THOUSANDS_THIN.sub("", text)
    text = _LEFT_RIGHT.sub("", text)
    text = text.replace("{,}", ",")
    text = _SPACING.sub(" ", text)
    text = _DFRAC.sub(r"\\frac", text)
    text = _FRAC_SHORT.sub(_braced_fraction, text)
    text = _PHANTOM.sub("", text)
    text = _SQRT_PARENS.sub(r"\\sqrt{\1}", text)
    text = _PRIME_POWER.sub(lambda m: "'" * max(1, m.group(0).count("\\prime")), text)
    text = _DEGREES.sub("", text)
    text = _unwrap_text(text)
    text = text.replace("\\%", "%").replace("\\$", "").replace("$", "")
    text = _WS.sub(" ", text).strip()
    text = text.rstrip(".").rstrip()
    if text.count("=") == 1:
        text = _ASSIGNMENT.sub("", text, count=1)
    text = _MEMBERSHIP.sub("", text, count=1)
    text = _UNIT_WORDS.sub(r"\1", text)
    thousands = _THOUSANDS_COMMAS.match(text)
    text = _SPACE_AROUND_SYMBOL.sub(r"\1", text).strip()
    choice = _CHOICE.match(text)
    if choice:
        text = choice.group(1).upper()
    if thousands:
        text = text.replace(",", "")
    return inequality_interval(text) or text


def _is_value(text: str) -> bool:
    """True for a constant bound: no variable letters outside LaTeX commands (``\\pi``, ``\\sqrt`` …)."""
    return bool(text) and not any(ch.isalpha() for ch in _LATEX_COMMAND.sub("", text))


def inequality_interval(text: str) -> str | None:
    """The interval a one-variable inequality describes (``-3<x\\le 5`` → ``(-3,5]``, ``x>2`` →
    ``(2,\\infty)``), or ``None`` when ``text`` is not such an inequality."""
    operators = _RELATION.findall(text)
    if not 1 <= len(operators) <= 2 or "=" in _RELATION.sub("", text):
        return None
    parts = [p.strip().removeprefix("+") for p in _RELATION.split(text)]
    increasing = [op in _LESS or op in _LESS_EQUAL for op in operators]
    closed = [op in _LESS_EQUAL or op in _GREATER_EQUAL for op in operators]
    if len(parts) == 3:
        low, variable, high = parts
        if increasing[0] != increasing[1] or not _VARIABLE_ONLY.match(variable):
            return None
        if not (_is_value(low) and _is_value(high)):
            return None
        if not increasing[0]:
            low, high, closed = high, low, closed[::-1]
    elif _VARIABLE_ONLY.match(parts[0]) and _is_value(parts[1]):
        low, high = ("-\\infty", parts[1]) if increasing[0] else (parts[1], "\\infty")
        closed = [False, closed[0]] if increasing[0] else [closed[0], False]
    elif _VARIABLE_ONLY.match(parts[1]) and _is_value(parts[0]):
        low, high = (parts[0], "\\infty") if increasing[0] else ("-\\infty", parts[0])
        closed = [closed[0], False] if increasing[0] else [False, closed[0]]
    else:
        return None
    return ("[" if closed[0] else "(") + f"{low},{high}" + ("]" if closed[1] else ")")


def prime_marks(text: str) -> list[tuple[str, int]]:
    """The primed symbols (letter, digit or closing bracket) of a normalised answer and their prime
    counts (``f''(x)+g'`` → f: 2, g: 1), sorted: two answers that differ here are different, whatever
    sympy says (math-verify drops primes)."""
    return sorted((m.group(1), len(m.group(2))) for m in _PRIME_MARKS.finditer(text))


def choice_label(text: str) -> tuple[str, str] | None:
    """``(letter, rest)`` for a normalised answer that starts with a choice label (``(B) 12``), else ``None``."""
    match = _CHOICE_LABEL.match(text)
    return (match.group(1), match.group(2).strip()) if match else None


def assigned_name(text: str) -> str | None:
    """The variable of an assignment such as ``x = 3`` or ``a_1=5`` (before normalisation), else ``None``."""
    match = _ASSIGNED_NAME.match(text)
    return match.group(1).replace("{", "").replace("}", "") if match else None


def parse_number(text: str) -> Number | None:
    """Parse a normalised plain number (integer, decimal, ``a/b``, ``\\frac{a}{b}``, scientific, ``%``)
    exactly; ``None`` for anything else (including strings longer than :data:`MAX_NUMBER_CHARS`)."""
    if not text or len(text) > MAX_NUMBER_CHARS:
        return None
    percent = text.endswith("%")
    if percent:
        text = text[:-1].rstrip()
    text = text.replace(" ", "")
    if _NUMBER_RES["int"].match(text):
        return Number(Fraction(int(text)), True, percent)
    if _NUMBER_RES["decimal"].match(text):
        return Number(Fraction(text), False, percent)
    match = _NUMBER_RES["slash"].match(text)
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        return Number(Fraction(numerator, denominator), True, percent) if denominator else None
    match = _NUMBER_RES["frac"].match(text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        numerator, denominator = int(match.group(2)), int(match.group(3))
        return Number(sign * Fraction(numerator, denominator), True, percent) if denominator else None
    for key in ("sci_e", "sci_times"):
        match = _NUMBER_RES[key].match(text)
        if match:
            exponent = int(match.group(2))
            if abs(exponent) > MAX_EXPONENT:
                return None
            return Number(Fraction(match.group(1)) * Fraction(10) ** exponent, False, percent)
    return None

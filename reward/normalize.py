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
_THOUSANDS_THIN = re.compile(r"(?<=\d)(?:\\,|\\!|\\ |\{,\}|~)(?=\d{3}(?!\d))")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad(?![a-zA-Z])|~")
_DFRAC = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_FRAC_SHORT = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_HALF_SHORT = re.compile(r"\\frac\s*\{([^{}]{1,50})\}\s*(\d)")
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
_ASSIGNMENT = re.compile(r"^\s*[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*=(?![=<>])\s*")
_CHOICE = re.compile(r"^\(([A-Ea-e])\)$")
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
    text = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_HALF_SHORT.sub(r"\\frac{\1}{\2}", text)
    text = _SQRT_PARENS.sub(r"\\sqrt{\1}", text)
    text = _DEGREES.sub("", text)
    text = _unwrap_text(text)
    text = text.replace("\\%", "%").replace("\\$", "").replace("$", "")
    text = _WS.sub(" ", text).strip()
    text = text.rstrip(".").rstrip()
    if text.count("=") == 1:
        text = _ASSIGNMENT.sub("", text, count=1)
    text = _UNIT_WORDS.sub(r"\1", text)
    text = _SPACE_AROUND_SYMBOL.sub(r"\1", text).strip()
    choice = _CHOICE.match(text)
    if choice:
        text = choice.group(1).upper()
    if _THOUSANDS_COMMAS.match(text):
        text = text.replace(",", "")
    return text


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

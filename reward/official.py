"""The official SimpleTIR grader, re-implemented: ``grader="official"`` scores on the paper's scale.

A faithful re-implementation (not a copy) of what the paper's code computes for a math reward, read from:

- ``ltzheng/SimpleTIR`` ``recipe/simpletir/utils/reward_score/hf_math_verify.py`` (``compute_score``,
  ``extract_solution``, ``hf_verify_with_try``, ``verify_without_timeout``) and its reward manager
  ``recipe/simpletir/workers/reward_manager/math_verify.py``. The index we read holds these two files of
  ltzheng/SimpleTIR only in the fork ``yuninxia/SimpleTIR`` (commits 52e0abad and b5369241, identical apart
  from an unused argument), which follows upstream up to ba4f6c6;
- the Qwen2.5-Math toolkit that file imports, ``qwen_math_eval_toolkit/parser.py`` (``extract_answer`` with
  ``data_name="math"``, ``strip_string``, ``_fix_fracs``, ``_fix_a_slash_b``, ``_fix_sqrt``), the same text as
  ``QwenLM/Qwen2.5-Math`` ``evaluation/parser.py`` (commit 005449c);
- ``word2number`` 1.1 ``w2n.word_to_num``, which ``strip_string`` calls on every answer.

What it does, and where that is odd (kept on purpose, since matching the paper's numbers is the point):

1. The whole response is searched, the *source* of code blocks included (our grader skips it): a
   ``print("\\boxed{...}")`` or a word such as ``unboxed`` in code counts.
2. The answer is what follows the last occurrence of the bare word ``boxed`` (not ``\\boxed{``): a braced group
   read to its matching brace (an unclosed one runs to the end), else everything up to the next ``$``; without
   ``boxed``: the text after the last "he answer is" / "final answer is" (the rest of the response), else the
   last number. No ``\\fbox``, no list of boxes.
3. ``strip_string`` then rewrites it: it deletes units and words from a fixed list wherever they stand
   (``"a"``, ``"t"``, ``"s"``, ``"m"``, ``"and"``… so ``\\text{cats and dogs}`` loses letters), turns a
   number word into digits (``"one"`` → ``1``), drops ``x=``, ``%``, ``\\left``/``\\right``, trailing
   ``\\text{…}``, ``.0`` endings, spaces, and writes ``a/b`` and ``\\frac12`` as ``\\frac{a}{b}``.
4. Answer and ground truth are each put in ``\\boxed{…}`` (unless they contain ``\\boxed``) and parsed with
   math-verify's default ``parse`` (LaTeX and plain expressions, first match); every pair of parsed values is
   compared with ``sympy_expr_eq`` (float rounding 6, numeric precision 15, strict), and two parsed strings by
   equality. No multiple ground truths upstream: here each one is tried (any counts).

Upstream runs this under ``signal.alarm`` timeouts (5 s per comparison, and 5 s per response in its reward
manager). Here the whole of it (extraction included: ``strip_string``'s regexes are quadratic on hostile input)
runs in the grader's worker process, whose hard limit is the caller's ``timeout_s``; no signal is used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import product
from typing import Any

OFFICIAL_FLOAT_ROUNDING = 6
"""``verify_without_timeout``'s ``float_rounding``."""
OFFICIAL_NUMERIC_PRECISION = 15
"""``verify_without_timeout``'s ``numeric_precision``."""
OFFICIAL_SET_RELATION_COMP = True
"""Upstream calls ``sympy_expr_eq(gold, target, float_rounding, numeric_precision, strict)`` positionally; on
the math-verify this project installs (>= 0.8) the fifth parameter is ``allow_set_relation_comp``, so its
``strict=True`` lands there (a predicted inequality is compared as a set with a gold interval) and ``strict``
keeps its default, True. This reproduces that call."""

STOP_WORDS = ("</s>", "<|im_end|>", "<|endoftext|>", "[END]")
"""``extract_solution`` cuts the response at the first of these (each in turn) and strips it."""

_ASSISTANT_RE = re.compile(r"^.*?<\|im_start\|>assistant", re.DOTALL)

UNIT_TEXTS = (
    "east", "degree", "mph", "kmph", "ft", "m sqaure", " m east", "sq m", "deg", "mile", "q .", "monkey",
    "prime", "ratio", "profit of rs", "rd", "o", "gm", "p . m", "lb", "tile", "per", "dm", "lt", "gain", "ab",
    "way", "west", "a .", "b .", "c .", "d .", "e .", "f .", "g .", "h .", "t", "a", "h", "no change", "men",
    "soldier", "pie", "bc", "excess", "st", "inches", "noon", "percent", "by", "gal", "kmh", "c", "acre",
    "rise", "a . m", "th", "π r 2", "sq", "mark", "l", "toy", "coin", "sq . m", "gallon", "° f", "profit",
    "minw", "yr", "women", "feet", "am", "pm", "hr", "cu cm", "square", "v â € ™", "are", "rupee", "rounds",
    "cubic", "cc", "mtr", "s", "ohm", "number", "kmph", "day", "hour", "minute", "min", "second", "man",
    "woman", "sec", "cube", "mt", "sq inch", "mp", "∏ cm ³", "hectare", "more", "sec", "unit", "cu . m",
    "cm 2", "rs .", "rs", "kg", "g", "month", "km", "m", "cm", "mm", "apple", "liter", "loss", "yard", "pure",
    "year", "increase", "decrease", "d", "less", "Surface", "litre", "pi sq m", "s .", "metre", "meter", "inch",
)  # fmt: skip
"""The toolkit's unit list ("mainly from MathQA"), in its order; each is also removed with an ``s`` appended."""

_UNIT_RES = tuple(
    re.compile(r"(^|\W)" + unit + r"($|\W)") for unit in (*UNIT_TEXTS, *(u + "s" for u in UNIT_TEXTS))
)
_WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "million": 1000000, "billion": 1000000000,
}  # fmt: skip
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_LAST_NUMBER_RE = re.compile(r"-?\d*\.?\d+")


def _number_formation(words: Sequence[str]) -> int | None:
    """``w2n.number_formation``: the value of up to four number words (``None`` where w2n fails on none)."""
    numbers = [_WORD_NUMBERS[w] for w in words]
    if not numbers:
        return None
    if len(numbers) == 4:
        return numbers[0] * numbers[1] + numbers[2] + numbers[3]
    if len(numbers) == 3:
        return numbers[0] * numbers[1] + numbers[2]
    if len(numbers) == 2:
        return numbers[0] * numbers[1] if 100 in numbers else numbers[0] + numbers[1]
    return numbers[0]


def word_to_num(text: str) -> int | float | None:
    """``w2n.word_to_num``: the number that the number words in ``text`` spell (other words ignored, as w2n
    does), or ``None`` where w2n raises (no number word, a repeated scale word, a malformed order)."""
    sentence = text.replace("-", " ").lower()
    if sentence.isdigit():
        try:
            return int(sentence)
        except ValueError:
            return None
    words = [w for w in sentence.strip().split() if w in _WORD_NUMBERS or w == "point"]
    if not words or any(words.count(w) > 1 for w in ("thousand", "million", "billion", "point")):
        return None
    decimals: list[str] = []
    if "point" in words:
        point = words.index("point")
        words, decimals = words[:point], words[point + 1 :]
    index = {
        scale: (words.index(scale) if scale in words else -1) for scale in ("billion", "million", "thousand")
    }
    billion, million, thousand = index["billion"], index["million"], index["thousand"]
    if (thousand > -1 and (thousand < million or thousand < billion)) or (-1 < million < billion):
        return None
    total: int | float = 0
    if len(words) == 1:
        total += _WORD_NUMBERS[words[0]]
    elif words:
        parts: list[tuple[Sequence[str], int]] = []
        if billion > -1:
            parts.append((words[:billion], 1000000000))
        if million > -1:
            parts.append((words[billion + 1 : million], 1000000))
        if thousand > -1:
            parts.append((words[max(million, billion) + 1 : thousand], 1000))
        end = len(words) - 1
        rest = next((i for i in (thousand, million, billion) if -1 < i != end), None)
        if rest is not None:
            parts.append((words[rest + 1 :], 1))  # w2n's quirk: after the last scale word that is not last
        elif thousand == million == billion == -1:
            parts.append((words, 1))
        for part, scale in parts:
            value = _number_formation(part)
            if value is None:
                return None
            total += value * scale
    if decimals:
        total += _decimal_sum(decimals)
    return total


def _decimal_sum(words: Sequence[str]) -> float:
    """``w2n.get_decimal_sum``: ``0.<digits>`` of digit words after "point"; 0 when one is not a digit word."""
    if any(w not in _DIGIT_WORDS for w in words):
        return 0
    return float("0." + "".join(str(_WORD_NUMBERS[w]) for w in words))


def _fix_fracs(string: str) -> str:
    """``\\frac12`` → ``\\frac{1}{2}``, ``\\frac1{72}`` → ``\\frac{1}{72}``; unchanged when a ``\\frac`` is
    followed by fewer than two characters."""
    head, *rest = string.split("\\frac")
    out = head
    for substr in rest:
        out += "\\frac"
        if substr[:1] == "{":
            out += substr
            continue
        if len(substr) < 2:
            return string
        a, b, post = substr[0], substr[1], substr[2:]
        out += "{" + a + "}{" + b + "}" + post if b != "{" else "{" + a + "}" + b + post
    return out


def _fix_a_slash_b(string: str) -> str:
    """``a/b`` of two plain integers (or ``sqrt`` terms) → ``\\frac{a}{b}``; anything else unchanged."""
    parts = string.split("/")
    if len(parts) != 2:
        return string
    a, b = parts
    try:
        x: Any = a if "sqrt" in a else int(a)
        y: Any = b if "sqrt" in b else int(b)
    except ValueError:
        return string
    if string != f"{x}/{y}":
        return string
    return "\\frac{" + str(x) + "}{" + str(y) + "}"


def strip_string(string: str, skip_unit: bool = False) -> str:
    """The Qwen2.5-Math toolkit's answer normalisation, step for step (its no-op steps left out: a quote
    removal whose result it discards, and a bracket unwrapping whose ``isalnum`` test never holds)."""
    string = str(string).strip().replace("\n", "").rstrip(".").replace("\\!", "")
    string = re.sub(r"\\begin\{array\}\{.*?\}", r"\\begin{pmatrix}", string)
    string = re.sub(r"\\end\{array\}", r"\\end{pmatrix}", string)
    string = string.replace("bmatrix", "pmatrix").replace("tfrac", "frac").replace("dfrac", "frac")
    string = string.replace("\\neq", "\\ne").replace("\\leq", "\\le").replace("\\geq", "\\ge")
    string = string.replace("\\left", "").replace("\\right", "").replace("\\{", "{").replace("\\}", "}")
    without_unit = re.sub(r"\\text{.*?}$", "", string).strip()
    if without_unit != "" and without_unit != string:
        string = without_unit
    if not skip_unit:
        for _ in range(2):
            for unit in _UNIT_RES:
                without_unit = unit.sub(r"\1\2", string)
                if without_unit != "":
                    string = without_unit
    string = string.replace("^{\\circ}", "").replace("^\\circ", "")
    string = string.replace("\\$", "").replace("$", "").replace("\\(", "").replace("\\)", "")
    number = word_to_num(string)
    if number is not None:
        string = str(number)
    string = re.sub(r"\\text\{(.*?)\}", r"\1", string)
    for key in ("x=", "y=", "z=", "x\\in", "y\\in", "z\\in", "x\\to", "y\\to", "z\\to"):
        string = string.replace(key, "")
    string = string.replace("\\emptyset", "{}").replace("(-\\infty,\\infty)", "\\mathbb{R}")
    string = string.replace("\\%", "").replace("%", "")
    string = string.replace(" .", " 0.").replace("{.", "{0.")
    string = string.replace("infinity", "\\infty")
    if "\\infty" not in string:
        string = string.replace("inf", "\\infty")
    string = string.replace("+\\inity", "\\infty")
    string = string.replace("and", "").replace("\\mathbf", "")
    string = re.sub(r"\\mbox{.*?}", "", string)
    if "j" in string and "i" not in string:
        string = string.replace("j", "i")
    string = re.sub(r"(\d+)\.0*([^\d])", r"\1\2", string)
    string = re.sub(r"(\d+)\.0*$", r"\1", string)
    if not string:
        return string
    if string[0] == ".":
        string = "0" + string
    sides = string.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        string = sides[1]
    string = re.sub(r"\\sqrt(\w+)", r"\\sqrt{\1}", string)
    string = string.replace(" ", "")
    return _fix_a_slash_b(_fix_fracs(string))


def _after_last_boxed(text: str) -> str | None:
    """What the toolkit takes after the last ``boxed``: a braced group to its matching brace (or the end),
    else the text up to the next ``$``; ``None`` when nothing follows the word."""
    after = text.split("boxed")[-1]
    if not after:
        return None
    if after[0] != "{":
        return after.split("$")[0].strip()
    depth = 1
    for i in range(1, len(after)):
        if after[i] == "{":
            depth += 1
        elif after[i] == "}":
            depth -= 1
            if depth == 0:
                return after[1:i]
    return after[1:]


def extract_answer(text: str) -> str:
    """The toolkit's ``extract_answer(text, "math")``: the answer it reads from the whole of ``text`` (code
    source included), normalised by :func:`strip_string`; ``""`` when it finds none."""
    text = text.replace("\u043a\u0438", "")
    if "final answer is $" in text and "$. I hope" in text:
        pred = text.split("final answer is $", 1)[1].split("$. I hope", 1)[0].strip()
    elif "boxed" in text:
        boxed = _after_last_boxed(text)
        if boxed is None:
            return ""
        pred = boxed
    elif "he answer is" in text:
        pred = text.split("he answer is")[-1].strip()
    elif "final answer is" in text:
        pred = text.split("final answer is")[-1].strip()
    elif "答案是" in text:
        pred = text.split("答案是")[1].strip().split("\n\n")[0].strip()
    else:
        numbers = _LAST_NUMBER_RE.findall(text.replace(",", ""))
        pred = numbers[-1] if numbers else ""
    pred = re.sub(r"\n\s*", "", pred)
    if pred[:1] == ":":
        pred = pred[1:]
    if pred[-1:] == ".":
        pred = pred[:-1]
    if pred[-1:] == "/":
        pred = pred[:-1]
    return strip_string(pred)


def model_output(solution_str: str) -> str:
    """``extract_solution``'s view of a response: from its first ``<|im_start|>assistant`` on (when there is
    one), cut at each :data:`STOP_WORDS` entry it contains and stripped."""
    output = _ASSISTANT_RE.sub("<|im_start|>assistant", solution_str, count=1)
    for stop in STOP_WORDS:
        if stop in output:
            output = output.split(stop)[0].strip()
    return output


def boxed(answer: str) -> str:
    """``answer`` as upstream hands it to math-verify: wrapped in ``\\boxed{…}`` unless it contains ``\\boxed``."""
    return answer if "\\boxed" in answer else f"\\boxed{{{answer}}}"


def verify(truth: str, answer: str) -> bool:
    """``hf_verify_with_try(gold=truth, target=answer)``: math-verify's default ``parse`` of both, then any
    pair of parsed values equal (``sympy_expr_eq``, or string equality of two strings); False on any error.
    No time limit: call it only where the caller enforces one (the grader's worker process)."""
    from math_verify import parse
    from math_verify.grader import sympy_expr_eq
    from sympy import Basic, MatrixBase

    try:
        target = parse(answer, parsing_timeout=None)
        gold = parse(truth, parsing_timeout=None)
    except Exception:
        return False
    for g, t in product(gold, target):
        try:
            if isinstance(g, (Basic, MatrixBase)) and isinstance(t, (Basic, MatrixBase)):
                equal = sympy_expr_eq(
                    g,
                    t,
                    OFFICIAL_FLOAT_ROUNDING,
                    OFFICIAL_NUMERIC_PRECISION,
                    OFFICIAL_SET_RELATION_COMP,
                )
            elif isinstance(g, str) and isinstance(t, str):
                equal = bool(g.strip()) and g.strip() == t.strip()
            else:
                equal = False
        except Exception:
            equal = False
        if equal:
            return True
    return False


def grade_response(response: str, truths: Sequence[str]) -> dict[str, Any]:
    """The official grading of one response against its accepted answers: ``{"pred": str, "equal": bool}``
    (``pred`` is ``""`` when nothing was extracted). No time limit: it runs in the grader's worker process."""
    pred = extract_answer(model_output(response))
    target = boxed(pred)
    return {"pred": pred, "equal": any(verify(boxed(truth), target) for truth in truths)}

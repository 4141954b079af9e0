"""Table-driven equivalence cases: (given, ground_truth, expected) across every answer form."""

from __future__ import annotations

import pytest

from simpletir.reward import grade, grade_answer
from simpletir.reward.normalize import inequality_interval, normalize_answer, parse_number

INTEGERS = [
    ("25", "25", True),
    ("025", "25", True),
    ("25", "025", True),
    ("007", "7", True),
    ("0", "000", True),
    ("-5", "-5", True),
    ("+5", "5", True),
    ("-5", "5", False),
    ("24", "25", False),
    ("250", "25", False),
    ("1000", "1,000", True),
    ("1,000", "1000", True),
    ("1{,}000", "1000", True),
    ("1\\,000", "1000", True),
    ("1\\!000", "1000", True),
    ("1,000,000", "1000000", True),
    ("1{,}234{,}567", "1234567", True),
    ("1 000", "1000", True),
    ("1,001", "1000", False),
    ("12345678901234567890", "12345678901234567890", True),
    ("12345678901234567890", "12345678901234567891", False),
    ("204", "\\boxed{204}", True),
    ("\\boxed{204}", "204", True),
    ("$204$", "204", True),
    ("\\(204\\)", "204", True),
    ("\\[204\\]", "204", True),
    ("$$204$$", "204", True),
    ("\\boxed{\\boxed{7}}", "7", True),
    ("\\fbox{7}", "7", True),
    ("7.", "7", True),
    ("7", "8", False),
    ("\\boxed{73}", "\\boxed{37}", False),
    ("{7}", "7", True),
    ("\\$7", "7", True),
    ("\\$1{,}000", "1000", True),
]

DECIMALS = [
    ("0.5", "0.5", True),
    ("0.50", "0.5", True),
    (".5", "0.5", True),
    ("3.0", "3", True),
    ("3.", "3", True),
    ("3.14", "3.14", True),
    ("3.14", "3.15", False),
    ("3.1", "3.14", False),
    ("0.333333", "\\frac{1}{3}", True),
    ("0.3333333", "1/3", True),
    ("0.333", "\\frac{1}{3}", False),
    ("0.33", "1/3", False),
    ("2.5", "\\frac{5}{2}", True),
    ("-2.5", "-\\frac{5}{2}", True),
    ("2.5", "-\\frac{5}{2}", False),
    ("1.000001", "1", False),
    ("1.0000001", "1", True),
    ("0.1", "0.01", False),
    ("-0.75", "-3/4", True),
    ("0.125", "1/8", True),
]

FRACTIONS = [
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac12", "\\frac{1}{2}", True),
    ("\\dfrac{1}{2}", "\\frac{1}{2}", True),
    ("\\tfrac{3}{4}", "3/4", True),
    ("\\frac{2}{4}", "\\frac{1}{2}", True),
    ("1/2", "\\frac{1}{2}", True),
    ("1/2", "2", False),
    ("2", "1/2", False),
    ("1/2", "1/3", False),
    ("\\frac{1}{2}", "\\frac{2}{1}", False),
    ("-\\frac{1}{2}", "\\frac{-1}{2}", True),
    ("-\\frac{1}{2}", "\\frac{1}{2}", False),
    ("\\frac{7}{3}", "7/3", True),
    ("\\frac{14}{6}", "7/3", True),
    ("\\frac{3}{2}", "1.5", True),
    ("\\frac{9}{10}", "0.9", True),
    ("\\frac{1}{3}", "0.3", False),
    ("\\frac{10}{5}", "2", True),
    ("\\frac{10}{4}", "2", False),
    ("\\frac {1} {2}", "1/2", True),
    ("\\frac{1}2", "1/2", True),
    ("\\dfrac{\\sqrt{3}}{2}", "\\frac{\\sqrt{3}}{2}", True),
    ("\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2}", True),
    ("\\frac{a}{b}", "a/b", True),
    ("\\frac{a}{b}", "b/a", False),
    ("2\\frac{1}{2}", "5/2", True),
    ("\\frac{1}{0}", "1", False),
    ("0/5", "0", True),
]

PERCENT_SCI = [
    ("50\\%", "50", True),
    ("50%", "50", True),
    ("50\\%", "0.5", True),
    ("50", "50\\%", True),
    ("0.5", "50\\%", True),
    ("50\\%", "51", False),
    ("12.5\\%", "\\frac{1}{8}", True),
    ("25\\%", "25\\%", True),
    ("25\\%", "30\\%", False),
    ("1e3", "1000", True),
    ("1.5e3", "1500", True),
    ("1.5E3", "1500", True),
    ("1.5\\times10^{3}", "1500", True),
    ("1.5 \\times 10^3", "1500", True),
    ("2\\times10^{-3}", "0.002", True),
    ("2\\times10^{-3}", "0.003", False),
    ("6.02\\times10^{23}", "602000000000000000000000", True),
    ("1e3", "100", False),
    ("3\\cdot10^{2}", "300", True),
    ("10^{3}", "1000", True),
    ("2^{10}", "1024", True),
    ("2^{10}", "1000", False),
]

RADICALS_PI = [
    ("\\sqrt{2}", "\\sqrt{2}", True),
    ("\\sqrt2", "\\sqrt{2}", True),
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", True),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}", True),
    ("\\sqrt{3}", "\\sqrt{2}", False),
    ("2\\sqrt{3}", "\\sqrt{12}", True),
    ("3\\sqrt{3}", "\\sqrt{12}", False),
    ("\\sqrt{4}", "2", True),
    ("\\sqrt[3]{8}", "2", True),
    ("\\sqrt[3]{2}", "2^{1/3}", True),
    ("5+2\\sqrt{6}", "2\\sqrt{6}+5", True),
    ("5-2\\sqrt{6}", "5+2\\sqrt{6}", False),
    ("\\pi", "\\pi", True),
    ("2\\pi", "2 \\pi", True),
    ("2\\pi", "\\pi", False),
    ("\\frac{\\pi}{2}", "\\pi/2", True),
    ("\\frac{\\pi}{3}", "\\frac{\\pi}{6}", False),
    ("4\\pi", "12.566371", True),
    ("\\pi", "3.14", False),
    ("16\\pi", "16 \\pi", True),
    ("\\frac{16\\pi}{3}", "\\frac{16}{3}\\pi", True),
    ("\\pi r^2", "r^2\\pi", True),
    ("e^{2}", "e^2", True),
    ("\\ln 2", "\\ln{2}", True),
    ("\\infty", "\\infty", True),
    ("-\\infty", "\\infty", False),
    ("3+4i", "4i+3", True),
    ("3+4i", "3-4i", False),
    ("\\frac{3\\sqrt{5}}{5}", "\\frac{3}{\\sqrt{5}}", True),
]

DEGREES_UNITS_TEXT = [
    ("106^\\circ", "106", True),
    ("106^{\\circ}", "106", True),
    ("106°", "106", True),
    ("106", "106^\\circ", True),
    ("106^\\circ", "107", False),
    ("90^\\circ", "\\frac{\\pi}{2}", False),
    ("5\\text{ cm}", "5", True),
    ("5 \\text{cm}", "5", True),
    ("5\\text{ cm}^2", "5", True),
    ("5\\mbox{ inches}", "5", True),
    ("10 apples", "10", True),
    ("10\\text{ apples}", "10", True),
    ("10\\text{ apples}", "11", False),
    ("\\$5.50", "5.5", True),
    ("\\text{(A)}", "A", True),
    ("(B)", "B", True),
    ("\\text{(A)}", "B", False),
    ("\\textbf{(C)}", "C", True),
    ("\\text{Monday}", "Monday", True),
    ("\\text{monday}", "\\text{Monday}", True),
    ("\\text{Tuesday}", "\\text{Monday}", False),
    ("\\text{even}", "\\text{odd}", False),
    ("\\mathrm{12}", "12", True),
    ("\\text{12}", "12", True),
    ("12\\text{ dollars}", "12", True),
    ("45 degrees", "45", True),
    ("2 pi", "2", False),
    ("5 sqrt 2", "5", False),
    ("3 log 2", "3", False),
    ("45^\\circ \\text{C}", "45", True),
]

ASSIGNMENTS_SPACING = [
    ("x = 3", "3", True),
    ("x=3", "3", True),
    ("3", "x = 3", True),
    ("y = 3", "x = 3", True),
    ("x = 4", "3", False),
    ("k = 12", "12", True),
    ("a_1 = 5", "5", True),
    ("x_{1} = 5", "5", True),
    ("y = 2x + 1", "2x+1", True),
    ("y = 2x + 1", "2x-1", False),
    ("x \\ge 3", "x \\geq 3", True),
    ("\\left( 1, 2 \\right)", "(1,2)", True),
    ("\\left(3, \\frac{\\pi}{2}\\right)", "(3,\\frac{\\pi}{2})", True),
    ("\\left[ 0, 1 \\right]", "[0,1]", True),
    ("\\!\\!12", "12", True),
    ("1\\;000", "1000", True),
    ("\\quad 7", "7", True),
    ("7~", "7", True),
    ("\\displaystyle\\frac{1}{2}", "0.5", True),
    ("\\displaystyle \\frac{3}{4}", "3/4", True),
    ("  42  ", "42", True),
    ("42\n", "42", True),
    ("\\frac{1}{2}.", "\\frac12", True),
    ("\\bigl(1,2\\bigr)", "(1,2)", True),
]

TUPLES_INTERVALS = [
    ("(1,2)", "(1,2)", True),
    ("(1, 2)", "(1,2)", True),
    ("(1,2)", "[1,2]", False),
    ("[1,2]", "(1,2)", False),
    ("(1,2]", "(1,2)", False),
    ("(1,2]", "(1,2]", True),
    ("[1,2)", "[1,2)", True),
    ("(2,1)", "(1,2)", False),
    ("(1,2,3)", "(1,2)", False),
    ("(1,2)", "(1,2,3)", False),
    ("(0.5, 2)", "(\\frac{1}{2}, 2)", True),
    ("(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{4} \\right)", False),
    ("(-\\infty, 2)", "(-\\infty,2)", True),
    ("(-\\infty, 2]", "(-\\infty,2)", False),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", True),
    ("(3, \\infty) \\cup (-\\infty, 2)", "(-\\infty,2)\\cup(3,\\infty)", True),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2)", False),
    ("(-\\infty, 2] \\cup [3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", False),
    ("[0,1) \\cup (2,3]", "[0,1)\\cup(2,3]", True),
    ("(1,2)", "1,2", False),
    ("1,2", "(1,2)", False),
    ("(1,-2)", "(1,-2)", True),
    ("(1,-2)", "(-1,2)", False),
    ("(2,3,4)", "(2, 3, 4)", True),
    ("(2,3,4)", "(2,4,3)", False),
    ("(\\sqrt{2}, 1)", "(\\sqrt2, 1)", True),
    ("\\langle 1, 2 \\rangle", "\\langle 1,2\\rangle", True),
    ("\\langle 1, 2 \\rangle", "\\langle 2,1\\rangle", False),
    ("(1,(2,3))", "(1,(2,3))", True),
    ("(1,(2,3))", "(1,(3,2))", False),
    ("((1,2),(3,4))", "((1,2),(3,4))", True),
    ("(x, y) = (1, 2)", "(1,2)", True),
    ("[-1, 1]", "[-1,1]", True),
    ("[-1, 1]", "[-1,2]", False),
    ("(0, 1000)", "(0, 1{,}000)", True),
]

SETS_LISTS = [
    ("1, 2", "2, 1", True),
    ("1,2,3", "3, 2, 1", True),
    ("1, 2", "1, 2, 3", False),
    ("1, 2, 3", "1, 2", False),
    ("1", "1, 2", False),
    ("1, 2", "1", False),
    ("\\{1, 2\\}", "\\{2, 1\\}", True),
    ("\\{1,2\\}", "\\{1,2,3\\}", False),
    ("\\{1,2,3\\}", "\\{1,2\\}", False),
    ("\\{1, 2\\}", "1, 2", True),
    ("1, 2", "\\{1, 2\\}", True),
    ("\\{5\\}", "5", True),
    ("5", "\\{5\\}", True),
    ("\\{5\\}", "6", False),
    ("x = 1, x = 2", "1, 2", True),
    ("1 \\text{ and } 2", "1, 2", True),
    ("1 \\text{ or } 2", "2, 1", True),
    ("-1, 1", "1, -1", True),
    ("-1, 1", "1, 1", False),
    ("1, 1, 2", "1, 2, 2", False),
    ("1, 1, 2", "2, 1, 1", True),
    ("\\frac{1}{2}, 3", "3, 0.5", True),
    ("\\sqrt{2}, -\\sqrt{2}", "\\pm\\sqrt{2}", True),
    ("1 \\pm \\sqrt{2}", "1-\\sqrt{2}, 1+\\sqrt{2}", True),
    ("1 \\pm \\sqrt{2}", "1+\\sqrt{2}", False),
    ("\\pm 3", "3", False),
    ("-\\sqrt{2}, \\sqrt{2}", "\\sqrt{2}, -\\sqrt{2}", True),
    ("2, 3", "2, 4", False),
    ("1,000, 2", "1000, 2", False),
    ("A, C", "C, A", True),
    ("A, C", "A, B", False),
    ("\\{(1,2), (3,4)\\}", "\\{(3,4), (1,2)\\}", True),
    ("\\{(1,2), (3,4)\\}", "\\{(1,2), (4,3)\\}", False),
    ("(1,2), (3,4)", "(3,4), (1,2)", True),
    ("\\{\\}", "\\{1\\}", False),
]

MATRICES = [
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}2\\\\1\\end{pmatrix}", False),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}", False),
    ("\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
    ("\\begin{pmatrix} 1/2 \\\\ 0 \\end{pmatrix}", "\\begin{pmatrix}\\frac{1}{2}\\\\0\\end{pmatrix}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\\\ 3 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", False),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1,2)", False),
]

SYMBOLIC = [
    ("x^2+2x+1", "(x+1)^2", True),
    ("(x+1)^2", "x^2+2x+1", True),
    ("x^2+2x+1", "(x-1)^2", False),
    ("2x+3", "3+2x", True),
    ("2x+3", "2x+4", False),
    ("2(x+1)", "2x+2", True),
    ("\\frac{x}{2}", "0.5x", True),
    ("\\frac{x+1}{x-1}", "\\frac{1+x}{x-1}", True),
    ("\\frac{x+1}{x-1}", "\\frac{x-1}{x+1}", False),
    ("a+b", "b+a", True),
    ("ab", "ba", True),
    ("a-b", "b-a", False),
    ("x", "y", False),
    ("\\sin^2 x + \\cos^2 x", "1", True),
    ("\\sin x", "\\cos x", False),
    ("n(n+1)/2", "\\frac{n^2+n}{2}", True),
    ("2^{n}", "2^n", True),
    ("2^{n+1}", "2\\cdot 2^n", True),
    ("2^{n+1}", "2^n", False),
    ("\\binom{5}{2}", "10", True),
    ("5!", "120", True),
    ("\\log_2 8", "3", True),
    ("|{-3}|", "3", True),
    ("x^3 - 1", "(x-1)(x^2+x+1)", True),
    ("\\frac{1}{x}+\\frac{1}{y}", "\\frac{x+y}{xy}", True),
    ("\\sqrt{x^2}", "x", False),
    ("3x^2 - 2", "3x^2-2", True),
    ("-\\frac{1}{2}x + 3", "3 - \\frac{x}{2}", True),
    ("\\frac{1}{2}(a+b)h", "\\frac{(a+b)h}{2}", True),
    ("2i", "2i", True),
    ("\\frac{9}{4}\\pi", "\\frac{9\\pi}{4}", True),
    ("4\\sqrt{2}+2", "2+4\\sqrt{2}", True),
    ("4\\sqrt{2}+2", "2+2\\sqrt{2}", False),
]

MALFORMED = [
    ("", "5", False),
    ("5", "", False),
    ("   ", "5", False),
    ("$$", "5", False),
    ("\\boxed{}", "5", False),
    ("\\frac{1}{", "\\frac{1}{2}", False),
    ("((((1", "1", False),
    ("}}}}", "1", False),
    ("\\", "1", False),
    ("abc", "5", False),
    ("5", "abc", False),
    ("None", "5", False),
    ("nan", "5", False),
    ("inf", "5", False),
]

MATH_VERIFY_PITFALLS = [
    ("\\frac{1}{2006!}", "\\frac{1}{2004!}", False),
    ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}", False),
    ("2^{-99}", "\\frac{1}{2^{99}}", True),
    ("\\frac{1}{3 \\cdot 2^{2006}}", "\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}", False),
    ("\\frac{1}{2006 \\cdot 2005 \\cdot 2004!}", "\\frac{1}{2006!}", True),
    ("1 + \\frac{1}{\\mathrm{e}}", "1 - \\frac{1}{\\mathrm{e}}", False),
    ("n=1, 2, 3", "n=2, 3, 4", False),
    ("D = (0, 1.5)", "D = (0, 1)", False),
    ("19, 46, 82", "19, 46, \\text{ and } 82", True),
    ("21, 36, and 82", "19, 46, \\text{ and } 82", False),
    ("2021", "\\pm 2021", False),
    ("4\\sqrt(2)", "4", False),
    ("4\\sqrt(2)", "4\\sqrt{2}", True),
    ("1.414214", "\\sqrt{2}", True),
]

# Several answers and their shapes, each with near misses that must stay wrong.
MULTI_ANSWER = [
    ("(p,q)=(3,2)", "(3,2)", True),
    ("(p, q) = (3, 2)", "(2,3)", False),
    ("x = 3, y = 2", "(3,2)", True),
    ("x = 3, y = 2", "(2,3)", False),
    ("a=2, b=3", "(2,3)", True),
    ("a=2, b=3", "[2,3]", False),
    ("y = 2, x = 3", "x = 3, y = 2", True),
    ("y = 3, x = 2", "x = 3, y = 2", False),
    ("x = 3, y = 2", "(3,2,1)", False),
    ("x = 3, y = 2", "3, 2", True),
    ("-793<a<10", "(-793,10)", True),
    ("-793<a\\le 10", "(-793,10)", False),
    ("-793 < a < 10", "[-793,10]", False),
    ("x > 2", "(2,\\infty)", True),
    ("2 < x", "(2,\\infty)", True),
    ("x \\geq 2", "(2,\\infty)", False),
    ("x \\geq 2", "[2,\\infty)", True),
    ("x \\le -1", "(-\\infty,-1]", True),
    ("x < -1", "(-\\infty,1)", False),
    ("3 > x > -1", "-1 < x < 3", True),
    ("x \\in [0, 1)", "[0,1)", True),
    ("\\pm 2021", "\\{-2021, 2021\\}", True),
    ("\\pm 2021", "\\{2021\\}", False),
    ("3 \\text{ or } 5", "\\{3, 5\\}", True),
    ("x = 3 \\text{ or } x = 5", "3, 5", True),
    ("3 and 5", "3, 7", False),
    ("{1, 2, 3}", "\\{3, 2, 1\\}", True),
    ("{1, 2, 3}", "\\{1, 2\\}", False),
    ("\\{1, 1, 2\\}", "\\{1, 2\\}", True),
    ("\\{2, 1, 2\\}", "\\{1, 2, 3\\}", False),
]

# Primes are part of an answer (math-verify drops them); a choice label meets a letter gold.
PRIMES_CHOICES = [
    ("E'", "E", False),
    ("f'(x)", "f(x)", False),
    ("f''(x)", "f'(x)", False),
    ("A'B", "AB'", False),
    ("f'(x)", "f^{\\prime}(x)", True),
    ("E'", "E'", True),
    ("(B) 12", "B", True),
    ("(B) 12", "C", False),
    ("\\text{(B) } 12", "12", True),
]

# Found by the metamorphic suite (test_metamorphic.py) on the golds of ../shared/data.
FOUND_BY_METAMORPHIC = [
    ("\\text{4:31 p.m.}", "\\text{4:30 p.m.}", False),
    ("\\text{4:30 p.m.}", "\\text{4:30 p.m.}", True),
    ("-\\left(2007 + \\frac\\pi 2\\right)", "2007 + \\frac\\pi 2", False),
    ("2007 + \\frac{\\pi}{2}", "2007 + \\frac\\pi 2", True),
    ("135^\\circ, 45^\\circ", "45^\\circ, 135^\\circ", True),
    ("45, 135", "45135", False),
    (
        "\\begin{pmatrix} 1 & -1 \\\\ 1 & \\phantom -2 \\end{pmatrix}",
        "\\begin{pmatrix} 1 & -1 \\\\ 1 & \\phantom -1 \\end{pmatrix}",
        False,
    ),
    (
        "\\begin{pmatrix} 1 & -1 \\\\ 1 & 1 \\end{pmatrix}",
        "\\begin{pmatrix} 1 & -1 \\\\ 1 & \\phantom -1 \\end{pmatrix}",
        True,
    ),
    ("\\frac1b'", "\\frac1b", False),
    ("12000085", "12,\\!000,\\!085", True),
    ("\\$115{,}000", "\\$115,000", True),
    (".0000673", ".0000672", True),
]

# Where math-verify disagreed with the metamorphic suite's label (benchmarks/reward_bench.py
# --disagreements), one case per kind; the label was right each time.
MATH_VERIFY_DISAGREEMENTS = [
    ("p' - q", "p - q", False),
    ("6 - 5i'", "6 - 5i", False),
    ("x = 2{,}016{,}532", "2{,}016{,}532", True),
    ("x = a + b + c", "a + b + c", True),
    ("x = \\sin^2 t", "\\sin^2 t", True),
    ("x = \\mathbf{2340}", "\\mathbf{2340}", True),
    ("\\left( a + b \\right)\\left( a + c \\right)\\left( b + c \\right)", "(a + b)(a + c)(b + c)", True),
    ("\\text{ and } 4, 3, 2", "2, 3, \\text{ and } 4", True),
    ("\\frac{1}{2005!}", "\\frac{1}{2004!}", False),
    ("-\\left(\\frac{1}{2^{98}}\\right)", "\\frac{1}{2^{98}}", False),
    ("\\frac \\pi4 + 2 + \\sqrt2", "\\frac \\pi4 + 2 - \\sqrt2", False),
    ("\\frac \\pi4 + 2 - \\sqrt3", "\\frac \\pi4 + 2 - \\sqrt2", False),
]

# Issue 22: classes of equivalent answers graded wrong before, each rule with "must differ" twins
# (another end, strict vs non-strict, a missing solution, another letter, another slope).
INTERVALS_INEQUALITIES = [
    ("-x > -1", "x < 1", True),
    ("-x \\ge -1", "x < 1", False),
    ("-x > -2", "x < 1", False),
    ("-\\frac{8}{3} \\le -x < -\\frac{3}{5}", "\\left(\\frac{3}{5},\\frac{8}{3}\\right]", True),
    ("-\\frac{8}{3} < -x < -\\frac{3}{5}", "\\left(\\frac{3}{5},\\frac{8}{3}\\right]", False),
    ("x \\in [-2, 7]", "-2 \\le x \\le 7", True),
    ("x \\in [-2, 7)", "-2 \\le x \\le 7", False),
    ("x \\in [-2, 8]", "-2 \\le x \\le 7", False),
    ("|z| > 2", "(-\\infty,-2)\\cup(2,\\infty)", True),
    ("|z| \\ge 2", "(-\\infty,-2)\\cup(2,\\infty)", False),
    ("|z| > 3", "(-\\infty,-2)\\cup(2,\\infty)", False),
    ("1 \\le |z| \\le 3", "[-3,-1]\\cup[1,3]", True),
    ("1 < |z| \\le 3", "[-3,-1]\\cup[1,3]", False),
    ("|x| < 3", "(-3,3)", True),
    ("|x| < 3", "(-3,3]", False),
    ("x < -2 \\text{ or } x > 2", "(-\\infty,-2)\\cup(2,\\infty)", True),
    ("x < -2 \\text{ or } x \\ge 2", "(-\\infty,-2)\\cup(2,\\infty)", False),
    ("x < -2 \\text{ or } x > 3", "(-\\infty,-2)\\cup(2,\\infty)", False),
    ("x < -2", "(-\\infty,-2)\\cup(2,\\infty)", False),
    ("x \\le 0 or x > 1", "x \\in (-\\infty, 0] \\cup (1, \\infty)", True),
    # solved by sympy in a worker: any algebraic inequality in one variable
    ("2x + 1 > 5", "(2, \\infty)", True),
    ("2x + 1 \\ge 5", "(2, \\infty)", False),
    ("3x - 1 \\le 7", "x \\le \\frac{8}{3}", True),
    ("3x - 1 \\le 8", "x \\le \\frac{8}{3}", False),
    ("|2z - 1| < 3", "(-1, 2)", True),
    ("|2z - 1| \\le 3", "(-1, 2)", False),
    ("x^2 \\ge 4", "(-\\infty,-2]\\cup[2,\\infty)", True),
    ("x^2 > 4", "(-\\infty,-2]\\cup[2,\\infty)", False),
    ("|x| > \\sqrt{2}", "(-\\infty,-\\sqrt{2})\\cup(\\sqrt{2},\\infty)", True),
    ("|x| \\ge \\sqrt{2}", "(-\\infty,-\\sqrt{2})\\cup(\\sqrt{2},\\infty)", False),
    ("2x > 1", "(0.5, \\infty)", True),
    ("2x > 1", "(0.6, \\infty)", False),
    ("x < 1 \\text{ or } 2x > 6", "(-\\infty,1)\\cup(3,\\infty)", True),
    ("x < 1 \\text{ or } 2x > 6", "(-\\infty,1)\\cup(2,\\infty)", False),
    # not sets of the reals: a function's range (the question decides), a trigonometric inequality
    # (sympy's solveset returns one period), several variables
    ("0 < f(x) < 1", "(0, 1)", False),
    ("(0, 1)", "0 < f(x) < 1", False),
    ("[-80, 82]", "-80\\leq g(x)\\leq 82", False),
    ("(0, \\pi)", "\\sin x > 0", False),
    ("(0, 1)", "x + y < 1", False),
]

EQUATIONS = [
    ("2x - y + 3 = 0", "y = 2x + 3", True),
    ("4x - 2y + 6 = 0", "y = 2x + 3", True),
    ("3x - y + 3 = 0", "y = 2x + 3", False),
    ("2x - y - 3 = 0", "y = 2x + 3", False),
    ("x = \\frac{y - 3}{2}", "y = 2x + 3", True),
    ("x = \\frac{y - 3}{3}", "y = 2x + 3", False),
    ("-4x + 2y - 4z + 36 = 0", "2x - y + 2z - 18 = 0", True),
    ("-4x + 2y - 4z + 35 = 0", "2x - y + 2z - 18 = 0", False),
    ("2x^2 + 2y^2 = 8", "x^2 + y^2 = 4", True),
    ("2x^2 + 2y^2 = 4", "x^2 + y^2 = 4", False),
    ("y = 3x + 3", "y = 2x + 3", False),
    ("2x - y + 3 = 0", "2x + 3", False),
]

SOLUTIONS_IN_PROSE = [
    ("p=5,q=2;p=7,q=2", "(5,2),(7,2)", True),
    ("p=5,q=2;p=7,q=3", "(5,2),(7,2)", False),
    ("p=5,q=2", "(5,2),(7,2)", False),
    ("p=5, q=2 \\text{ or } p=7, q=2", "\\{(5,2),(7,2)\\}", True),
    ("p=5, q=2 \\text{ or } p=7, q=2", "\\{(5,2),(2,7)\\}", False),
    ("p=5, q=2 \\quad\\text{and}\\quad p=7, q=2", "(7,2),(5,2)", True),
    ("(5,2); (7,2)", "\\{(5,2),(7,2)\\}", True),
    ("(5,2); (7,2); (9,2)", "\\{(5,2),(7,2)\\}", False),
    ("(5,2) \\quad\\text{and}\\quad (7,2)", "(5,2),(7,2)", True),
    ("x = 1, y = 2, x = 3, y = 4", "(1,2),(3,4)", True),
    ("x = 1, y = 2, y = 3, x = 4", "(1,2),(4,3)", False),
    ("x = 1; x = 2", "1, 2", True),
    ("x = 1; x = 3", "1, 2", False),
]

LETTERS_MODULAR_DEBRIS = [
    ("Answer: B", "B", True),
    ("Answer: C", "B", False),
    ("\\text{Answer: (B)}", "B", True),
    ("The answer is B", "B", True),
    ("Final answer: \\text{(B)}", "\\text{(B)}", True),
    ("(D)", "\\text{(B)}", False),
    ("17 \\bmod 5 = 2", "2", True),
    ("17 \\bmod 5 = 3", "2", False),
    ("17 \\equiv 2 \\pmod{5}", "2", True),
    ("17 \\equiv 2 \\pmod{5}", "3", False),
    ("n \\equiv 2 \\pmod 5", "2", True),
    ("x \\equiv 2 \\pmod 5", "x \\equiv 2 \\pmod{5}", True),
    ("x \\equiv 2 \\pmod 7", "x \\equiv 2 \\pmod{5}", False),
    ("2 \\pmod{7}", "x \\equiv 2 \\pmod{5}", False),
    ("2^{10} = 1024", "1024", True),
    ("2^{10} = 1000", "1024", False),
    ("x = 12/4 = 3", "3", True),
    ("5 \\", "5", True),
    ("5 \\\\", "5", True),
    ("6 \\\\", "5", False),
    ("\\frac{1}{2} \\nonumber", "\\frac12", True),
    ("&= 12", "12", True),
    ("12}", "12", True),
    ("13}", "12", False),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} \\\\", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
]

CASES = (
    INTERVALS_INEQUALITIES
    + EQUATIONS
    + SOLUTIONS_IN_PROSE
    + LETTERS_MODULAR_DEBRIS
    + FOUND_BY_METAMORPHIC
    + MATH_VERIFY_DISAGREEMENTS
    + MULTI_ANSWER
    + PRIMES_CHOICES
    + MATH_VERIFY_PITFALLS
    + INTEGERS
    + DECIMALS
    + FRACTIONS
    + PERCENT_SCI
    + RADICALS_PI
    + DEGREES_UNITS_TEXT
    + ASSIGNMENTS_SPACING
    + TUPLES_INTERVALS
    + SETS_LISTS
    + MATRICES
    + SYMBOLIC
    + MALFORMED
)


def test_table_is_large_and_balanced() -> None:
    assert len(CASES) >= 300
    assert sum(1 for *_, expected in CASES if not expected) >= 100


@pytest.mark.parametrize(("given", "truth", "expected"), CASES)
def test_grade_answer(given: str, truth: str, expected: bool) -> None:
    outcome = grade(given, truth)
    assert outcome.timeout is False and outcome.error is None, outcome
    assert outcome.correct is expected


@pytest.mark.parametrize(
    ("given", "truth"),
    [(g, t) for g, t, expected in CASES if expected and g.strip() and t.strip()],
)
def test_true_pairs_are_symmetric(given: str, truth: str) -> None:
    assert grade_answer(truth, given) is True


# float_rounding: 6 is the paper's grader (math-verify's sympy_expr_eq(..., float_rounding=6)); None
# accepts a decimal only for the exact value it writes.
FLOAT_ROUNDING_CASES = [
    ("1.41421356", "\\sqrt{2}", 6, True),
    ("1.41421356", "\\sqrt{2}", None, False),
    ("0.5", "\\frac{1}{2}", None, True),
    ("0.333333", "\\frac{1}{3}", 6, True),
    ("0.333333", "\\frac{1}{3}", None, False),
    ("3.1416", "\\pi", 4, True),
    ("3.1416", "\\pi", 6, False),
    ("1.0000001", "1", None, False),
    ("(0.5, 1.414214)", "(\\frac12, \\sqrt2)", None, False),
    ("(0.5, 1.414214)", "(\\frac12, \\sqrt2)", 6, True),
    ("2.5\\%", "0.025", None, True),
    (".0000673", ".0000672", None, False),
    (".0000673", ".0000672", 7, False),
]


@pytest.mark.parametrize(("given", "truth", "rounding", "expected"), FLOAT_ROUNDING_CASES)
def test_float_rounding_option(given: str, truth: str, rounding: int | None, expected: bool) -> None:
    outcome = grade(given, truth, float_rounding=rounding)
    assert outcome.timeout is False and outcome.error is None, outcome
    assert outcome.correct is expected


NORMALIZED = [
    ("$\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}"),
    ("\\left( 1, 2 \\right)", "(1,2)"),
    ("x = 3", "3"),
    ("1{,}000", "1000"),
    ("1,000,000", "1000000"),
    ("106^{\\circ}", "106"),
    ("5\\text{ cm}", "5"),
    ("\\text{(A)}", "A"),
    ("12.", "12"),
    ("\\frac12", "\\frac{1}{2}"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZED)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


@pytest.mark.parametrize(
    ("text", "value", "exact"),
    [
        ("025", 25, True),
        ("-3/4", -0.75, True),
        ("\\frac{7}{2}", 3.5, True),
        ("2.50", 2.5, False),
        ("1e-2", 0.01, False),
    ],
)
def test_parse_number(text: str, value: float, exact: bool) -> None:
    number = parse_number(text)
    assert number is not None and float(number.value) == value and number.exact is exact


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("x>2", "(2,\\infty)"),
        ("-3<x\\le 5", "(-3,5]"),
        ("5\\geq y", "(-\\infty,5]"),
        ("3>x>-1", "(-1,3)"),
        ("x<y", None),
        ("1<2", None),
        ("x<2<y", None),
        ("x\\le 2\\ge 1", None),
    ],
)
def test_inequality_interval(text: str, interval: str | None) -> None:
    assert inequality_interval(text) == interval


@pytest.mark.parametrize("text", ["10^{10^{10}}", "1e99999", "x", "1/0", "9" * 300, "\\frac{1}{0}"])
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None

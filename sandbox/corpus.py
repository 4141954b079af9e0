"""A realistic corpus of TIR programs for benchmarks: what models write in math tool calls."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Program:
    """One benchmark program: its code, its kind and whether it imports sympy/numpy/scipy."""

    name: str
    code: str
    heavy: bool
    timeout: float = 5.0


CORPUS: tuple[Program, ...] = (
    Program(
        "sympy_solve", "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - 5*x + 6, x))", True
    ),
    Program("sympy_factor", "from sympy import factorint\nprint(factorint(2**32 - 1))", True),
    Program(
        "sympy_simplify",
        "import sympy as sp\nx = sp.symbols('x')\nprint(sp.simplify((x**3 - 1)/(x - 1)))",
        True,
    ),
    Program(
        "sympy_integrate",
        "from sympy import symbols, integrate, sin\nx = symbols('x')\nprint(integrate(x*sin(x), x))",
        True,
    ),
    Program(
        "sympy_rational",
        "from sympy import Rational\nprint(sum(Rational(1, k*(k+1)) for k in range(1, 100)))",
        True,
    ),
    Program(
        "numpy_linalg",
        "import numpy as np\nA = np.array([[2, 1], [1, 3]])\nprint(np.linalg.solve(A, [3, 5]))",
        True,
    ),
    Program(
        "numpy_stats",
        "import numpy as np\nv = np.arange(1, 1001)\nprint(v.mean(), v.std(), (v % 7 == 0).sum())",
        True,
    ),
    Program(
        "scipy_optimize",
        "from scipy.optimize import minimize_scalar\nr = minimize_scalar(lambda t: (t - 2)**2 + 1)\nprint(round(r.x, 4))",
        True,
    ),
    Program(
        "final_answer",
        'def final_answer(result):\n    print(f"\\\\boxed{{{result}}}")\n\nfrom sympy import binomial\nfinal_answer(binomial(10, 3))',
        True,
    ),
    Program(
        "brute_force_loop",
        "count = 0\nfor a in range(1, 200):\n    for b in range(a, 200):\n        if (a*a + b*b) % 13 == 0:\n"
        "            count += 1\nprint(count)",
        False,
    ),
    Program(
        "itertools",
        "from itertools import permutations\nprint(sum(1 for p in permutations(range(7)) if p[0] < p[-1]))",
        False,
    ),
    Program(
        "fractions", "from fractions import Fraction\nprint(sum(Fraction(1, n) for n in range(1, 30)))", False
    ),
    Program("trivial_print", "print(6 * 7)", False),
    Program("name_error", "print(undefined_variable)", False),
    Program("zero_division", "x = 1 / 0", False),
    Program("infinite_loop", "while True:\n    pass", False, timeout=1.0),
)


def program(name: str) -> Program:
    """The corpus program called ``name``."""
    return next(p for p in CORPUS if p.name == name)


def corpus(kind: str = "all") -> list[Program]:
    """Programs of ``kind``: ``all``, ``heavy`` (sympy/numpy/scipy), ``sympy`` (those using sympy) or ``light``."""
    if kind == "heavy":
        return [p for p in CORPUS if p.heavy]
    if kind == "sympy":
        return [p for p in CORPUS if p.heavy and "sympy" in p.code]
    if kind == "light":
        return [p for p in CORPUS if not p.heavy]
    if kind != "all":
        raise ValueError(f"unknown corpus kind {kind!r}; choose all, heavy, sympy or light")
    return list(CORPUS)

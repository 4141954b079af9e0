"""The warm heap every program is forked from: preloaded libraries, warm-up, and a heap ready for forking.

Children share the worker's heap copy-on-write, so what matters is what it holds (libraries imported and
their lazy first-call set-up done once) and that forking it copies as little as possible.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import re

from .libc import libc

PRELOAD = (
    "math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "re",
    "random", "statistics", "string", "heapq", "bisect", "json", "numpy", "sympy", "mpmath",
)  # fmt: skip
# Loaded only in the worker's extras template (see extras.py): their ~400 shared-library mappings
# would make every fork ~1 ms dearer, for the few programs that use them.
EXTRA_PRELOAD = ("scipy", "scipy.special", "scipy.optimize", "scipy.integrate", "scipy.linalg", "networkx")
EXTRA_NAMES = re.compile(r"\b(?:scipy|networkx)\b")  # a program that names one runs from the extras template
# Run once in the worker so that lazy imports and first-call set-up of common calls are paid once, not in
# every forked program. It must not compute what the benchmark corpus computes (sympy memoises results,
# and children inherit that cache): tests/sandbox/test_corpus.py checks that the two share no call.
WARMUP = """
import sympy as sp, numpy as np
a, b, n = sp.symbols('a b n')
sp.solve(a**2 + 3*a - 10, a); sp.solve([2*a - b - 1, a + b - 5], [a, b]); sp.solveset(a**3 - a, a)
sp.simplify((a**2 - 4)/(a + 2)); sp.factor(a**3 - 8); sp.expand((a - 2)**4); sp.cancel((a**2 - 1)/(a + 1))
sp.apart(1/(a*(a + 1))); sp.trigsimp(sp.sin(a)**2 + sp.cos(a)**2)
sp.integrate(a**2*sp.cos(a), a); sp.integrate(sp.exp(-a), (a, 0, sp.oo)); sp.diff(sp.log(a)*a**2, a)
sp.limit((1 - sp.cos(a))/a**2, a, 0); sp.summation(1/n**2, (n, 1, sp.oo)); sp.series(sp.sin(a), a, 0, 4)
sp.factorint(1001); sp.isprime(101); sp.divisors(84); sp.Rational(2, 5) + sp.Rational(1, 7); sp.nsimplify(0.25)
sp.sqrt(12); sp.N(sp.E, 15); sp.Matrix([[2, 0], [1, 3]]).det(); sp.Matrix([[1, 1], [0, 1]]).inv()
sp.binomial(12, 5); sp.latex(a**3); sp.Poly(a**3 - 2*a + 1, a).all_coeffs(); sp.nroots(a**3 - 2*a + 1)
np.linalg.solve(np.eye(3), [1, 2, 3]); np.linalg.eig(np.eye(3)); np.polyfit([0, 1, 2], [2, 4, 7], 2)
np.roots([1, 0, -2])
"""
EXTRA_WARMUP = """
from scipy.optimize import minimize_scalar, brentq
minimize_scalar(lambda t: (t + 1)**2); brentq(lambda t: t**3 - 2, 0, 2)
"""


def preload(modules: tuple[str, ...], warmup: str) -> list[str]:
    """Import ``modules`` (skipping those that fail) and run ``warmup``; the names that imported."""
    loaded = []
    for name in modules:
        try:
            __import__(name)
        except Exception:
            continue
        loaded.append(name)
    with contextlib.suppress(Exception):
        exec(warmup, {})
    return loaded


def freeze_heap(plain_malloc: bool) -> None:
    """Prepare the warm heap for forking: children inherit it copy-on-write.

    Keeps the collector from touching (copying) it, and, on glibc's malloc, children's first allocations
    from landing in free chunks scattered over shared pages.
    """
    gc.collect()
    gc.freeze()
    if plain_malloc:
        plug_heap_holes()


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")
    ]  # fmt: skip


def plug_heap_holes(limit: int = 64 * 1024 * 1024) -> int:
    """Allocate, and never free, every free chunk inside glibc's heap; the bytes taken (0 without glibc).

    A forked program's first allocations would otherwise land in free chunks spread over pages it
    shares with the worker, each costing a copy-on-write fault (~25% of a child's faults here); with
    the holes taken they come from fresh memory at the top of the heap. Done once, after the warm-up:
    the worker's later allocations come from the top and are reused run after run.
    """
    c = libc()
    if not hasattr(c, "mallinfo2"):
        return 0
    c.mallinfo2.restype = MallInfo2
    c.malloc.restype = ctypes.c_void_p
    taken = 0
    for size in range(8, 1040, 16):  # glibc's per-thread cache keeps up to 7 chunks of each small size
        for _ in range(7):
            c.malloc(size)
            taken += size
    while taken < limit:
        info = c.mallinfo2()
        if info.fordblks - info.keepcost < 64 and info.fsmblks == 0:
            break
        for _ in range(2048):
            c.malloc(8)  # the smallest chunk: carves any free chunk up completely
        taken += 2048 * 32
    return taken

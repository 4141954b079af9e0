"""The benchmark corpus and the worker's warm-up: the warm-up must not pre-compute what the bench times."""

from __future__ import annotations

import ast
import importlib.util

from simpletir.sandbox.corpus import CORPUS
from simpletir.sandbox.local import ZYGOTE_PATH

NOT_COMPUTATIONS = {"print", "symbols", "Symbol", "final_answer"}
MODULE_PREFIXES = ("sp.", "sympy.", "np.", "numpy.")


def _warmup() -> str:
    """The worker's and its extras template's warm-up code, from zygote.py loaded by path (as the sandbox runs it)."""
    spec = importlib.util.spec_from_file_location("simpletir_zygote", ZYGOTE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WARMUP + module.EXTRA_WARMUP


def _calls(code: str) -> set[str]:
    """Every call in ``code`` (nested ones included) as source text, module prefixes stripped."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and node.args:
            text = ast.unparse(node)
            for prefix in MODULE_PREFIXES:
                text = text.replace(prefix, "")
            if text.split("(", 1)[0] not in NOT_COMPUTATIONS:
                found.add(text)
    return found


def test_warmup_computes_nothing_the_corpus_computes() -> None:
    # sympy memoises results and forked children inherit the cache: a shared call would be timed as a hit
    warm = _calls(_warmup())
    assert len(warm) > 20
    for program in CORPUS:
        assert not _calls(program.code) & warm, program.name


def test_the_check_sees_a_shared_call() -> None:
    corpus_like = "import sympy as sp\nx = sp.symbols('x')\nprint(sp.integrate(x*sp.sin(x), x))"
    warmup_like = "from sympy import *\nintegrate(x*sin(x), x)"
    assert _calls(corpus_like) & _calls(warmup_like) == {"integrate(x * sin(x), x)", "sin(x)"}

"""The benchmark corpus and the worker's warm-up: the warm-up must not pre-compute what the bench times."""

from __future__ import annotations

import ast

import pytest

from simpletir.sandbox import ExecStatus, SyncSandbox
from simpletir.sandbox.corpus import CORPUS, corpus, program
from simpletir.sandbox.zygote.heap import EXTRA_WARMUP, WARMUP

NOT_COMPUTATIONS = {"print", "symbols", "Symbol", "final_answer"}
MODULE_PREFIXES = ("sp.", "sympy.", "np.", "numpy.")


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
    warm = _calls(WARMUP + EXTRA_WARMUP)
    assert len(warm) > 20
    for prog in CORPUS:
        assert not _calls(prog.code) & warm, prog.name


def test_the_check_sees_a_shared_call() -> None:
    corpus_like = "import sympy as sp\nx = sp.symbols('x')\nprint(sp.integrate(x*sp.sin(x), x))"
    warmup_like = "from sympy import *\nintegrate(x*sin(x), x)"
    assert _calls(corpus_like) & _calls(warmup_like) == {"integrate(x * sin(x), x)", "sin(x)"}


def test_corpus_programs_behave_as_labelled() -> None:
    expected_errors = {"name_error", "zero_division"}
    with SyncSandbox(max_workers=2) as sb:
        for prog in corpus():
            result = sb.run(prog.code, timeout=prog.timeout if prog.name == "infinite_loop" else 60)
            if prog.name == "infinite_loop":
                assert result.status is ExecStatus.TIMEOUT
            elif prog.name in expected_errors:
                assert result.status is ExecStatus.ERROR
            else:
                assert result.status is ExecStatus.OK, (prog.name, result.stderr)
    assert program("final_answer").heavy
    assert {p.name for p in corpus("sympy")} < {p.name for p in corpus("heavy")}
    assert all("sympy" in p.code for p in corpus("sympy"))
    with pytest.raises(ValueError, match="unknown corpus kind"):
        corpus("medium")

"""Hard time limits, worker replacement, hostile inputs and concurrent callers (real worker processes)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from simpletir.reward import compute_score, extract_answer, grade
from simpletir.reward.equivalence import GradingError
from simpletir.reward.grader_pool import WorkerPool, default_pool
from tests.reward.test_extract import timed

LIMIT_S = 1.0
# What a call past its limit may take beyond it on a loaded 2-core machine (kill, reap); a hang takes forever.
SLACK_S = 4.0


@pytest.fixture(scope="module", autouse=True)
def warm_pool() -> None:
    pool = default_pool()
    pool.warm()
    assert grade("\\sqrt{8}", "2\\sqrt{2}").correct


PATHOLOGICAL = [
    ("10^{10^{10^{10}}}", "5"),
    ("2^{2^{2^{2^{2^{2}}}}}", "3"),
    ("{" * 5000 + "1" + "}" * 5000, "1"),
    ("{" * 1000 + "1" + "}" * 1000, "1"),
    ("(" * 1000 + "1" + ")" * 1000, "1"),
    ("\\frac{" * 600 + "1" + "}{2}" * 600, "1"),
    ("1" * (1 << 20), "1"),
    ("x" * (1 << 20), "x"),
    ("\\sqrt{" * 1000 + "2" + "}" * 1000, "2"),
    ("(" + "1," * 5000 + "1)", "(1,1)"),
]


@pytest.mark.parametrize(
    ("given", "truth"), PATHOLOGICAL, ids=[f"patho{i}" for i in range(len(PATHOLOGICAL))]
)
def test_pathological_input_returns_within_limit_and_next_call_forks_the_warm_template(
    given: str, truth: str
) -> None:
    pool = default_pool()
    template = pool._template
    outcome, seconds = timed(grade, given, truth, timeout_s=LIMIT_S)
    assert seconds < LIMIT_S + SLACK_S
    assert outcome.correct is False
    # The next call forks the same warm template: it never waits for a start-up (the template's pid).
    assert grade("\\frac{\\sqrt{12}}{2}", "\\sqrt{3}", timeout_s=30.0).correct is True
    assert pool._template is template and template.proc.poll() is None


def test_equation_sympy_tries_to_solve_is_wrong_by_timeout() -> None:
    # The one metamorphic near miss that runs to the limit: math-verify tries to solve tan = linear.
    outcome, seconds = timed(grade, "\\tan \\theta = 3\\theta", "\\tan \\theta = 2\\theta", timeout_s=LIMIT_S)
    assert outcome.timeout is True and outcome.correct is False
    assert seconds < LIMIT_S + SLACK_S
    assert grade("\\tan \\theta = 2\\theta", "\\tan \\theta = 2\\theta", timeout_s=LIMIT_S).correct is True


def test_timeout_kills_and_replaces_the_worker() -> None:
    pool = default_pool()
    restarts = pool.restarts
    outcome = grade("10^{10^{10^{10}}}", "5", timeout_s=0.5)
    assert outcome.timeout is True and outcome.correct is False
    assert pool.restarts == restarts + 1
    assert grade("x^2-1", "(x-1)(x+1)").correct is True


def test_hostile_responses_through_compute_score() -> None:
    for response in ("\\boxed{" * 5000 + "x" * (1 << 20), "\\boxed{10^{10^{10^{10}}}}", "{" * 5000):
        # The limit covers grading; extraction (linear, in-process) is measured here as the baseline.
        _, extraction_s = timed(extract_answer, response)
        result, seconds = timed(compute_score, "math", response, "1", timeout_s=LIMIT_S)
        assert seconds < LIMIT_S + SLACK_S + 2 * extraction_s
        assert result["acc"] is False


def test_dead_worker_is_reported_and_replaced() -> None:
    pool = WorkerPool(max_workers=1)
    try:
        assert pool.compare("\\sqrt{4}", "2", 30.0) is True
        worker = pool._idle[0]
        os.kill(worker.pid, signal.SIGKILL)
        assert select.select([worker.conn], [], [], 30)[0], "the killed worker's socket never closed"
        with pytest.raises(GradingError, match="died"):
            pool.compare("\\sqrt{4}", "2", 5.0)
        assert pool.restarts == 1
        assert pool.compare("\\sqrt{9}", "3", 30.0) is True
    finally:
        pool.close()


def test_worker_that_cannot_start_is_a_clear_error() -> None:
    pool = WorkerPool(max_workers=1, memory_limit_mb=50, startup_timeout_s=120.0)
    start = time.monotonic()
    try:
        with pytest.raises(GradingError, match="did not start"):
            pool.compare("x", "x", 5.0)
    finally:
        pool.close()
    # Its death is noticed at once, not after the start-up timeout.
    assert time.monotonic() - start < 60


def test_closed_pool_refuses_work() -> None:
    pool = WorkerPool(max_workers=1)
    pool.close()
    with pytest.raises(GradingError, match="closed"):
        pool.compare("1", "1", 1.0)


def test_pool_rejects_bad_size() -> None:
    with pytest.raises(ValueError):
        WorkerPool(max_workers=0)


CONCURRENT = [
    ("\\boxed{42}", "42", True),
    ("\\boxed{41}", "42", False),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}", True),
    ("\\boxed{(x+1)^2}", "x^2+2x+1", True),
    ("\\boxed{(x+1)^2}", "x^2+1", False),
    ("the answer is 0.5", "\\frac{1}{2}", True),
    ("\\boxed{(1,2)}", "[1,2]", False),
    ("\\boxed{2\\pi}", "6.283185", True),
]


def test_threads_calling_concurrently_get_correct_results() -> None:
    errors: list[str] = []

    def work(offset: int) -> None:
        for i in range(50):
            response, truth, expected = CONCURRENT[(i + offset) % len(CONCURRENT)]
            # Correctness under contention; the limit is generous so that a busy machine does not time out.
            result = compute_score("math", response, truth, timeout_s=120.0)
            if result["acc"] is not expected or result["timeout"] or result["grader_error"]:
                errors.append(f"{response!r} vs {truth!r}: {result}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


PRESTART_PROBE = """
import json, os, time
from pathlib import Path

def children():
    tasks = Path(f"/proc/{os.getpid()}/task")
    return sum(len((t / "children").read_text().split()) for t in tasks.iterdir())

start = time.monotonic()
import simpletir.reward
after_import = children()
from simpletir.reward import grade
from simpletir.reward.grader_pool import default_pool
assert default_pool().wait_ready()
startup_s = time.monotonic() - start
call = time.monotonic()
assert grade("\\\\sqrt{8}", "2\\\\sqrt{2}").correct
print(json.dumps({"children": after_import, "startup_s": startup_s, "first_call_s": time.monotonic() - call}))
"""


@pytest.mark.parametrize("prestart", ["1", "0"])
def test_grader_starts_on_import_and_the_first_call_does_not_wait(prestart: str) -> None:
    env = dict(os.environ, SIMPLETIR_REWARD_PRESTART=prestart)
    done = subprocess.run(
        [sys.executable, "-c", PRESTART_PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["children"] == (1 if prestart == "1" else 0)
    assert probe["first_call_s"] < probe["startup_s"] / 2, probe

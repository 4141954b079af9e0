"""The README's quick start as a new user runs it: a fresh virtual environment first, CI's exact command."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quick_start() -> list[str]:
    """The command lines of the README's quick-start block, comments removed."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start\n\n```bash\n(.*?)```", readme, re.DOTALL).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_a_virtual_environment_is_created_and_activated_before_any_install() -> None:
    lines = quick_start()
    assert lines[0] == "python3 -m venv .venv && . .venv/bin/activate"
    assert all("pip install" in line for line in lines[1:])


def test_the_cpu_line_is_what_ci_runs_and_the_readme_says_which_torch_it_gets() -> None:
    cpu_line = next(line for line in quick_start() if "pytest" in line)
    assert cpu_line.startswith("pip install torch==2.13.0 ")
    assert cpu_line in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "torch 2.13.0+cpu" in readme and "CUDA build" in readme

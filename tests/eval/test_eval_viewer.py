"""``simpletir-eval view``: safe embedding of hostile text, and rendering in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from results_factory import HOSTILE, make_result

from simpletir.eval.cli import main
from simpletir.eval.records import save_result
from simpletir.eval.viewer import embed_json, viewer_html

CHROMIUM = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.parametrize("text", [HOSTILE, "</SCRIPT >", "<!--<script>", "a\u2028b\u2029c", "&amp; \\u003c"])
def test_embedded_json_round_trips_without_markup(text: str) -> None:
    embedded = embed_json({"t": text})
    assert not set("<>&\u2028\u2029") & set(embedded)
    assert json.loads(embedded) == {"t": text}


def test_page_keeps_hostile_text_inside_the_data_element() -> None:
    page = viewer_html(make_result("r", {"b": [False, True]}))
    assert page.count("</script>") == 2  # the data element's and the code's, nothing from the data
    assert "pwned" in page and "<b>bold" not in page
    data = re.search(r'<script type="application/json" id="eval-data">(.*?)</script>', page, re.DOTALL).group(
        1
    )
    assert HOSTILE in {t["text"] for tr in json.loads(data)["trajectories"] for t in tr["turns"]}


def test_samples_per_problem_limits_the_page() -> None:
    page = viewer_html(make_result("r", {"b": [True] * 4}), samples_per_problem=1)
    data = json.loads(re.search(r'id="eval-data">(.*?)</script>', page, re.DOTALL).group(1))
    assert {t["sample"] for t in data["trajectories"]} == {0}


@pytest.mark.parametrize("target", ["existing", "new/"])
def test_view_into_a_directory_writes_the_page_there(target: str, tmp_path: Path) -> None:
    save_result(make_result("r", {"b": [True]}), tmp_path / "r.json")
    (tmp_path / "existing").mkdir()
    assert main(["view", str(tmp_path / "r.json"), "-o", f"{tmp_path}/{target}"]) == 0
    page = tmp_path / target.rstrip("/") / "trajectories.html"
    assert "SimpleTIR trajectories" in page.read_text()


def test_view_rejects_zero_samples_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_result(make_result("r", {"b": [True]}), tmp_path / "r.json")
    argv = ["view", str(tmp_path / "r.json"), "-o", str(tmp_path / "p.html"), "--samples-per-problem", "0"]
    assert main(argv) == 2
    assert "--samples-per-problem must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "p.html").exists()


def dump_dom(page: Path, fragment: str, tmp_path: Path) -> str:
    """The DOM of ``page#fragment`` after its scripts ran, from headless Chromium."""
    argv = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000", "--dump-dom", f"{page.as_uri()}#{fragment}",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (apt-get install chromium) to render the viewer"
)
def test_viewer_renders_and_filters_in_chromium(tmp_path: Path) -> None:
    # b1: p0 has 1 right + 1 void (hostile text), p1 1 right + 1 wrong; b2: 4 trajectories
    result = make_result("run-x", {"b1": [False, True], "b2": [True, True]})
    save_result(result, tmp_path / "r.json")
    page = tmp_path / "view.html"
    assert main(["view", str(tmp_path / "r.json"), "-o", str(page)]) == 0

    dom = dump_dom(page, "", tmp_path)
    items = re.findall(r'<details class="traj" data-benchmark="(\w+)" data-problem="(\w+)"', dom)
    assert len(items) == 8 and "8 of 8 trajectories" in dom
    assert "SimpleTIR trajectories: run-x" in dom and "pwned" not in dom.split("<script")[0]

    dom = dump_dom(page, "benchmark=b1&correct=no", tmp_path)
    assert "2 of 8 trajectories" in dom
    assert re.findall(
        r'data-benchmark="(\w+)" data-problem="(\w+)" data-sample="(\d)" data-correct="(\w+)"', dom
    ) == [
        ("b1", "p0", "0", "false"),
        ("b1", "p1", "1", "false"),
    ]
    dom = dump_dom(page, "void=yes", tmp_path)
    assert "1 of 8 trajectories" in dom and re.findall(r"data-void=\"(\w+)\"", dom) == ["true"]


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (apt-get install chromium) to render the viewer"
)
def test_expanded_turns_show_hostile_output_as_text(tmp_path: Path) -> None:
    save_result(make_result("run-y", {"b": [False, True]}, turns=2), tmp_path / "r.json")
    page = tmp_path / "view.html"
    assert main(["view", str(tmp_path / "r.json"), "-o", str(page)]) == 0
    dom = dump_dom(page, "void=yes&open=1", tmp_path)
    assert "<title>SimpleTIR trajectories</title>" in dom  # the model's script did not run
    assert "&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "<b>bold</b>" not in dom and "&lt;b&gt;bold&lt;/b&gt;" in dom
    assert "print(0)" in dom and "Code execution result: 0" in dom  # the code turn and its observation

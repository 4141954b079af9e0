#!/usr/bin/env bash
# Smoke test of an install: a few GRPO steps of multi-turn TIR on Qwen2.5-0.5B-Instruct with 1 GPU.
#
# Prepares the data first when $DATA_DIR has none (from ../shared/data when present, else the hub).
# Small batches (16 prompts x 4 samples), 3 turns, 2K response tokens, 5 steps; checks that rollout,
# sandbox, reward, the void-turn filter and the actor update run end to end. Not a reproduction.
# Code runs as in the paper recipes (3 s and SANDBOX_MEMORY_MB per program, 256-token observations: the defaults);
# ROLLOUT_CORR=<preset> adds verl's rollout correction (recipes/rollout_correction.sh).
# Needs: one GPU with 24+ GB and `pip install -e ".[gpu]"`; without them it says what is missing.
#
# Usage: recipes/train_smoke_0.5b.sh [extra hydra overrides...]
# Environment: ASYNC MODEL_PATH DATA_DIR SANDBOX_BACKEND SANDBOX_URL SANDBOX_MEMORY_MB EXPERIMENT_NAME CKPT_DIR
#   ROLLOUT_CORR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-0.5B-Instruct}"
EXPERIMENT_NAME="${EXPERIMENT_NAME:-simpletir_smoke_0.5b}"
source "$HERE/common.sh"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then recipe_help "$0"; exit 0; fi
sandbox_overrides
rollout_correction_overrides

if ! dry_run "$@"; then
  python -m simpletir.main --check-runtime   # a CUDA GPU and vLLM, before preparing any data
  [[ -f "$DATA_DIR/train.parquet" ]] || bash "$HERE/prepare_data.sh"
fi

python -m simpletir.main \
  actor_rollout_ref.model.path="$MODEL_PATH" \
  data.train_files="$DATA_DIR/train.parquet" \
  data.val_files="[$DATA_DIR/aime24.parquet]" \
  data.train_batch_size=16 \
  data.val_batch_size=30 \
  data.max_prompt_length=1024 \
  data.max_response_length=2048 \
  actor_rollout_ref.actor.ppo_mini_batch_size=16 \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.rollout.n=4 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
  actor_rollout_ref.rollout.gpu_memory_utilization=0.5 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4 \
  actor_rollout_ref.rollout.agent.num_workers=2 \
  simpletir.agent.max_turns=3 \
  simpletir.agent.max_tokens_per_turn=1024 \
  simpletir.filter.min_non_overlong=1 \
  "${SANDBOX_ARGS[@]}" \
  "${ROLLOUT_CORR_ARGS[@]}" \
  trainer.v1.trainer_mode="$TRAINER_MODE" \
  trainer.n_gpus_per_node=1 \
  trainer.nnodes=1 \
  trainer.total_training_steps=5 \
  trainer.test_freq=5 \
  trainer.save_freq=-1 \
  trainer.val_before_train=false \
  trainer.project_name="$PROJECT_NAME" \
  trainer.experiment_name="$EXPERIMENT_NAME" \
  trainer.default_local_dir="$CKPT_DIR" \
  "$@"

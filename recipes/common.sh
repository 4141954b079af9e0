#!/usr/bin/env bash
# Shared variables of the training recipes; every one can be set in the environment.
# Sourced by recipes/train_*.sh; not run directly.

MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-7B}"            # HF id or local path of the base model
DATA_DIR="${DATA_DIR:-$HOME/data/simpletir}"           # written by recipes/prepare_data.sh
NNODES="${NNODES:-1}"                                  # nodes in the Ray cluster (ray start on each)
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
SANDBOX_BACKEND="${SANDBOX_BACKEND:-local}"            # local | http | sandbox_fusion | ray
SANDBOX_URL="${SANDBOX_URL:-}"                         # for http / sandbox_fusion (comma-separated fleet for http)
# The servers' bearer token: export SIMPLETIR_SANDBOX_TOKEN (on every node, before `ray start`); each
# sandbox client reads it from its environment. Never pass it as a hydra override: verl prints the config.
EXPERIMENT_NAME="${EXPERIMENT_NAME:-simpletir}"
PROJECT_NAME="${PROJECT_NAME:-simpletir}"
CKPT_DIR="${CKPT_DIR:-checkpoints/$PROJECT_NAME/$EXPERIMENT_NAME}"
ASYNC="${ASYNC:-0}"                                    # 1: verl's colocate_async trainer (rollout overlaps the update)
case "$ASYNC" in
  0) TRAINER_MODE=simpletir ;;                         # verl's sync trainer + the filters (the paper's setting)
  1) TRAINER_MODE=simpletir_colocate_async ;;
  *) echo "ASYNC must be 0 or 1, got '$ASYNC'" >&2; exit 2 ;;
esac
export DATA_DIR

# Set the array SANDBOX_ARGS to the hydra overrides of the sandbox backend chosen above; says what is missing
# and returns 2 when a variable it needs is unset. Call it as a statement (`sandbox_overrides`), so that
# `set -e` stops the recipe on failure: inside $(...) or <(...) bash drops the status and the recipe would go
# on with the wrong sandbox.
sandbox_overrides() {
  SANDBOX_ARGS=("simpletir.sandbox.backend=$SANDBOX_BACKEND")
  case "$SANDBOX_BACKEND" in
    http)
      [ -n "$SANDBOX_URL" ] || { echo "SANDBOX_URL is required for SANDBOX_BACKEND=http" >&2; return 2; }
      SANDBOX_ARGS+=("+simpletir.sandbox.options.url=[${SANDBOX_URL}]") ;;
    sandbox_fusion)
      [ -n "$SANDBOX_URL" ] || { echo "SANDBOX_URL is required for SANDBOX_BACKEND=sandbox_fusion" >&2; return 2; }
      SANDBOX_ARGS+=("+simpletir.sandbox.options.url=${SANDBOX_URL}") ;;
  esac
}

# Print the recipe's header comment as --help.
recipe_help() {
  sed -n '2,/^set -/p' "$1" | sed -e '/^set -/d' -e 's/^# \{0,1\}//'
}

#!/usr/bin/env bash
# Shared variables of the training recipes; every one can be set in the environment.
# Sourced by recipes/train_*.sh; not run directly.

MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-7B}"            # HF id or local path of the base model
DATA_DIR="${DATA_DIR:-$HOME/data/simpletir}"           # written by recipes/prepare_data.sh
NNODES="${NNODES:-1}"                                  # nodes in the Ray cluster (ray start on each)
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
SANDBOX_BACKEND="${SANDBOX_BACKEND:-local}"            # local | http | sandbox_fusion | ray
SANDBOX_URL="${SANDBOX_URL:-}"                         # for http / sandbox_fusion (comma-separated fleet for http)
SANDBOX_MEMORY_MB="${SANDBOX_MEMORY_MB:-512}"          # memory per program (the paper's firejail profile: 512 MB);
                                                       # http: the server's own limit (simpletir-sandbox serve --memory-mb)
# The servers' bearer token: export SIMPLETIR_SANDBOX_TOKEN (on every node, before `ray start`); each
# sandbox client reads it from its environment. Never pass it as a hydra override: verl prints the config.
EXPERIMENT_NAME="${EXPERIMENT_NAME:-simpletir}"
PROJECT_NAME="${PROJECT_NAME:-simpletir}"
CKPT_DIR="${CKPT_DIR:-checkpoints/$PROJECT_NAME/$EXPERIMENT_NAME}"
ASYNC="${ASYNC:-0}"                                    # 1: verl's colocate_async trainer (rollout overlaps the update)
STAGE="${STAGE:-1}"                                    # paper recipes: 1 (5 turns, 16K) or 2 (10 turns, 24K, resumed)
RESUME_FROM="${RESUME_FROM:-}"                         # STAGE=2: the stage-1 checkpoint to resume (.../global_step_N)
BASELINE="${BASELINE:-}"                               # paper recipes: text_only | no_void_filter (unset: SimpleTIR)
TOTAL_STEPS="${TOTAL_STEPS:-1000}"                     # paper recipes: trainer.total_training_steps
SAVE_FREQ="${SAVE_FREQ:-50}"                           # paper recipes: a checkpoint every SAVE_FREQ steps
TEST_FREQ="${TEST_FREQ:-10}"                           # paper recipes: validation every TEST_FREQ steps
BEST_METRIC="${BEST_METRIC:-val-core/aime24/acc/mean@1}"  # the validation metric that names the best checkpoint
LOGGER="${LOGGER:-console,file}"                       # trainer.logger (keep file; e.g. console,file,wandb)
METRICS_DIR="${METRICS_DIR:-$CKPT_DIR/metrics}"        # verl's file logs of the run, one per start
case "$ASYNC" in
  0) TRAINER_MODE=simpletir ;;                         # verl's sync trainer + the filters (the paper's setting)
  1) TRAINER_MODE=simpletir_colocate_async ;;
  *) echo "ASYNC must be 0 or 1, got '$ASYNC'" >&2; exit 2 ;;
esac
export DATA_DIR
source "$HERE/rollout_correction.sh"                   # ROLLOUT_CORR=<preset>: rollout_correction_overrides

# Set the array SANDBOX_ARGS to the hydra overrides of the sandbox backend chosen above; says what is missing
# and returns 2 when a variable it needs is unset. Call it as a statement (`sandbox_overrides`), so that
# `set -e` stops the recipe on failure: inside $(...) or <(...) bash drops the status and the recipe would go
# on with the wrong sandbox.
sandbox_overrides() {
  SANDBOX_ARGS=("simpletir.sandbox.backend=$SANDBOX_BACKEND")
  case "$SANDBOX_BACKEND" in
    local)
      SANDBOX_ARGS+=("+simpletir.sandbox.options.memory_mb=$SANDBOX_MEMORY_MB") ;;
    ray)
      SANDBOX_ARGS+=("+simpletir.sandbox.options.sandbox_options.memory_mb=$SANDBOX_MEMORY_MB") ;;
    http)
      [ -n "$SANDBOX_URL" ] || { echo "SANDBOX_URL is required for SANDBOX_BACKEND=http" >&2; return 2; }
      SANDBOX_ARGS+=("+simpletir.sandbox.options.url=[${SANDBOX_URL}]") ;;
    sandbox_fusion)
      [ -n "$SANDBOX_URL" ] || { echo "SANDBOX_URL is required for SANDBOX_BACKEND=sandbox_fusion" >&2; return 2; }
      SANDBOX_ARGS+=("+simpletir.sandbox.options.url=${SANDBOX_URL}"
                     "+simpletir.sandbox.options.memory_limit_mb=$SANDBOX_MEMORY_MB") ;;
  esac
}

# Status 0 when the recipe only composes its config (SIMPLETIR_DRY_RUN=1, or --dry-run among its arguments).
dry_run() {
  [[ "${SIMPLETIR_DRY_RUN:-0}" == "1" ]] && return 0
  local arg
  for arg in "$@"; do [[ "$arg" == "--dry-run" ]] && return 0; done
  return 1
}

# The paper recipes' schedule and variant (recipes/train_qwen2.5_7b.sh, _32b.sh): from STAGE, RESUME_FROM and
# BASELINE, set the variables their overrides name; one line and status 2 on a bad value. Call as a statement.
#   STAGE=1: 5 turns, 16,000 response tokens, 8,000 per turn; a restarted run resumes its latest checkpoint.
#   STAGE=2: the paper's raise once the mean response length plateaus: 10 turns, 24,000 response tokens, 12,000 per
#            turn (the evaluation's per-turn limit; upstream does not say), resumed from RESUME_FROM (a stage-1
#            checkpoint, .../global_step_N; the paper resumed from step ~200).
#   BASELINE=text_only: no tool: the text-only instruction, one generation of up to the whole response budget,
#            no void-turn filter (plain Zero RL). BASELINE=no_void_filter: multi-turn TIR without the void-turn
#            filter (Table 2's naive multi-turn). Everything else as in SimpleTIR.
paper_settings() {
  VAL_MAX_TURNS=10
  VAL_MAX_TOKENS_PER_TURN=12000
  case "$STAGE" in
    1) MAX_TURNS=5; MAX_RESPONSE_LENGTH=16000; MAX_TOKENS_PER_TURN=8000
       RESUME_MODE=auto; RESUME_FROM_PATH=null ;;
    2) [[ -n "$RESUME_FROM" ]] || {
         echo "STAGE=2 resumes a stage-1 run: set RESUME_FROM to its checkpoint (e.g. $CKPT_DIR/global_step_200)" >&2
         return 2; }
       [[ "$(basename "$RESUME_FROM")" =~ ^global_step_[0-9]+$ ]] || {
         echo "RESUME_FROM must be a verl checkpoint folder .../global_step_N, got '$RESUME_FROM'" >&2; return 2; }
       MAX_TURNS=10; MAX_RESPONSE_LENGTH=24000; MAX_TOKENS_PER_TURN=12000
       RESUME_MODE=resume_path; RESUME_FROM_PATH="$RESUME_FROM" ;;
    *) echo "STAGE must be 1 or 2, got '$STAGE'" >&2; return 2 ;;
  esac
  TOOL_USE=true
  VOID_FILTER=true
  case "$BASELINE" in
    "") ;;
    text_only)
      TOOL_USE=false; VOID_FILTER=false; MAX_TURNS=1; VAL_MAX_TURNS=1
      MAX_TOKENS_PER_TURN="$MAX_RESPONSE_LENGTH"; VAL_MAX_TOKENS_PER_TURN="$MAX_RESPONSE_LENGTH" ;;
    no_void_filter) VOID_FILTER=false ;;
    *) echo "BASELINE must be text_only or no_void_filter (or unset), got '$BASELINE'" >&2; return 2 ;;
  esac
  local name
  for name in TOTAL_STEPS SAVE_FREQ TEST_FREQ; do
    [[ "${!name}" =~ ^[1-9][0-9]*$ ]] || { echo "$name must be a positive integer, got '${!name}'" >&2; return 2; }
  done
  (( SAVE_FREQ % TEST_FREQ == 0 )) || {
    echo "SAVE_FREQ ($SAVE_FREQ) must be a multiple of TEST_FREQ ($TEST_FREQ): a checkpoint is ranked by the validation at its step" >&2
    return 2; }
  [[ ",$LOGGER," == *,file,* ]] || {
    echo "LOGGER must include file (the best-checkpoint summary reads verl's file log), got '$LOGGER'" >&2; return 2; }
}

# verl's file logger: a new file per start under $METRICS_DIR (verl truncates the file it opens), so every stage and
# restart of a run keeps its log. Not in a dry run (nothing is written).
file_logger() {
  dry_run "$@" && return 0
  mkdir -p "$METRICS_DIR"
  export VERL_FILE_LOGGER_PATH="$METRICS_DIR/stage${STAGE}_$(date +%Y%m%d-%H%M%S).jsonl"
}

# After a paper recipe's training: the summary of this start's log, and the saved checkpoint with the best
# $BEST_METRIC over all of the run's logs (every stage and restart, oldest first). Not in a dry run.
run_summary() {
  dry_run "$@" && return 0
  python -m simpletir.dev.run_report summary "$VERL_FILE_LOGGER_PATH"
  python -m simpletir.dev.run_report best "$METRICS_DIR"/stage*.jsonl --checkpoints "$CKPT_DIR" --metric "$BEST_METRIC"
}

# Print the recipe's header comment as --help.
recipe_help() {
  sed -n '2,/^set -/p' "$1" | sed -e '/^set -/d' -e 's/^# \{0,1\}//'
}

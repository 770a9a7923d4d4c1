#!/usr/bin/env bash
# The pooling protocol of README.md for one data set, resumable at every step:
#   1. selection: every pooler x the learning-rate grid x the selection seeds, validation only
#      (test=false), two single-thread jobs at a time;
#   2. the choice: src.compare select=model.optimizer.lr on the validation primary metric;
#   3. evaluation: each pooler at its own learning rate on the evaluation seeds, in two
#      single-thread queues.
# The test split is read afterwards, once, by src.compare (the command this script prints).
# Run it again after an interruption: finished jobs are kept, the rest run (hydra/sweeper=resume).
#
#   TEXTLAB_DATA_DIR=<research data> bash experiments/pooling_hypothesis/protocol.sh pooling_emotion
#   EVAL_SEEDS=1,2,3 POOLERS=cls_pooler,mean_pooler,<best other> \
#     SELECTION=logs/pooling_goemotions/multiruns/selection/selection.md \
#     ... protocol.sh pooling_goemotions_full   (runs over 20 CPU minutes; the subset's choice)
set -uo pipefail
cd "$(dirname "$0")/../.."
EXPERIMENT=${1:?usage: protocol.sh <experiment, e.g. pooling_emotion>}
PY=${PY:-.venv/bin/python}
POOLERS=${POOLERS:-cls_pooler,mean_pooler,max_pooler,attention_pooler,cls_mean_pooler,layer_mean_pooler}
LRS=${LRS:-2e-5,5e-5,1e-4}
SELECTION_SEEDS=${SELECTION_SEEDS:-101,102}
EVAL_SEEDS=${EVAL_SEEDS:-1,2,3,4,5}
ROOT=${ROOT:-logs/$EXPERIMENT/multiruns}
SEL=$ROOT/selection
SELECTION=${SELECTION:-$SEL/selection.md}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1

resume_flag() { [ -f "$1/multirun.yaml" ] && echo "hydra/sweeper=resume"; }

if [ ! -f "$SELECTION" ]; then
  # shellcheck disable=SC2046
  "$PY" -m src.train -m "experiment=$EXPERIMENT" "seed=$SELECTION_SEEDS" "model=$POOLERS" \
    "model.optimizer.lr=$LRS" test=false hydra/launcher=joblib hydra.launcher.n_jobs=2 \
    "hydra.sweep.dir=$SEL" $(resume_flag "$SEL")
  "$PY" -m src.compare "sweep=$SEL" select=model.optimizer.lr split=val \
    "title='Pooling protocol, $EXPERIMENT: the learning rate of each pooler, chosen on validation'" \
    > /dev/null || exit 1
fi
chosen() { grep -- "- \`$1\`: " "$SELECTION" | sed -E 's/.*model.optimizer.lr=([^`]*)`.*/\1/'; }

queue() {  # the poolers of one single-thread queue, one after the other
  for model in "$@"; do
    local pooling=${model%_pooler} lr dir
    lr=$(chosen "$pooling")
    if [ -z "$lr" ]; then
      echo "no learning rate chosen for $pooling (see $SELECTION)" >&2
      continue
    fi
    dir=$ROOT/eval_$pooling
    # shellcheck disable=SC2046
    "$PY" -m src.train -m "experiment=$EXPERIMENT" "seed=$EVAL_SEEDS" "model=$model" \
      "model.optimizer.lr=$lr" "hydra.sweep.dir=$dir" $(resume_flag "$dir")
  done
}
IFS=, read -r -a models <<< "$POOLERS"
half=$(( (${#models[@]} + 1) / 2 ))
queue "${models[@]:0:$half}" > "$ROOT/queue_a.log" 2>&1 &
queue "${models[@]:$half}" > "$ROOT/queue_b.log" 2>&1 &
wait
folders=$(ls -d "$ROOT"/eval_* | paste -sd, -)
echo "evaluation done; the one read of the test split:"
echo "  $PY -m src.compare \"sweep=[$folders]\" \"own=[model.optimizer.lr]\" out=<write-up folder>"

#!/usr/bin/env bash
# Rebuild every table and figure in experiments/ from the committed per-run rows (the runs.csv
# beside each write-up); no run folder is needed. `make experiments` runs this; afterwards
# `git status experiments/` shows what a change of the reporting code changed.
# OUT=<dir>: write everything under <dir>/experiments/... instead (the committed files stay).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-.}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

compare() {  # compare <folder> <title> [more src.compare overrides]
  local folder=$1 title=$2
  shift 2
  echo "== $folder"
  "$PY" -m src.compare runs_csv="$folder/runs.csv" out="$OUT/$folder" "title='$title'" "$@" \
    > /dev/null
}

compare experiments/pooling_hypothesis/jigsaw \
  "Pooling hypothesis: Jigsaw subset, MiniLM, default recipe, the pooler zoo" primary=test/auc_macro
compare experiments/pooling_hypothesis/emotion \
  "Pooling hypothesis on emotion (8,000 training tweets, 1 epoch), every pooler x 3 seeds" \
  primary=test/f1_macro
compare experiments/pooling_hypothesis/goemotions \
  "Pooling hypothesis on GoEmotions (6,000 training rows, 1 epoch), every pooler x 3 seeds" \
  primary=test/auc_macro
compare experiments/pooling_hypothesis/goemotions_full_cpu \
  "Full GoEmotions, 1 epoch on the CPU: [CLS] vs cls_mean, seeds 1-3" primary=test/auc_macro
compare experiments/pooling_hypothesis/goemotions_full_cpu_3ep \
  "Full GoEmotions, 3 epochs on the CPU: [CLS] vs cls_mean, seeds 1-3" primary=test/auc_macro
compare experiments/emotion/recipe "Emotion recipe: 3 epochs, lr 5e-5 vs 1e-4, seeds 1-3" \
  by=model.optimizer.lr reference=5e-05 primary=test/f1_macro
compare experiments/token_tasks/vua_weights \
  "VUA metaphor: cross-entropy weight 2 for the metaphor tag vs none, seeds 1-3" \
  by=data.task.class_weights "reference='null'"
compare experiments/token_tasks/vua_context \
  "VUA: the sentence before as context (data.context_sentences=1) vs none, 5 epochs, seeds 1-3"
compare experiments/bucketing \
  "Length bucketing as the training default: off vs on, seeds 1-5, validation" \
  by=data.bucketing.enabled reference=false primary=val/auc_macro
compare experiments/pooling_hypothesis/protocol/emotion/selection \
  "Pooling protocol, emotion: the learning rate of each pooler, chosen on validation (seeds 101 and 102)" \
  select=model.optimizer.lr primary=val/f1_macro
compare experiments/recipe/default_run "The default run: make train in a fresh clone (seed 42)" \
  primary=test/auc_macro
echo "== experiments/baselines"
bash experiments/baselines/assemble.sh

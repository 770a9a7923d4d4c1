#!/usr/bin/env bash
# The recorded comparison (README.md here): 4 strategies x 3 seeds on a GoEmotions pool with the
# offline MiniLM, sized for a 2-core CPU (two single-thread jobs at a time, about 25 minutes).
# Run from the project root, alone on the machine or through the CPU lock:
#   nohup flock /tmp/textlab_cpu.lock bash experiments/active_learning/run.sh > /tmp/active.log 2>&1 &
# STRATEGIES / SWEEP pick a subset and its folder; REPORT_SWEEPS lists the sweep folders the
# report reads. A killed sweep can be continued: pass active.resume=true (same SWEEP).
set -euo pipefail
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
STRATEGIES=${STRATEGIES:-random,bald,cvirs,entropy}
SWEEP=${SWEEP:-logs/active/multiruns/goemotions_comparison}
.venv/bin/python -m src.active -m \
  data=goemotions data.seed=0 data.max_val_rows=500 data.max_test_rows=1000 data.batch_size=16 \
  model=avg_pooler model.optimizer.lr=2e-4 trainer=cpu trainer.max_epochs=3 \
  active.rounds=4 active.initial_size=100 active.query_size=100 active.pool_size=1000 \
  active.mc_passes=5 active.start=cold active.cold_reset=model active.prior_bias=true \
  active.strategy="$STRATEGIES" seed=1,2,3 \
  hydra/launcher=joblib hydra.launcher.n_jobs=2 \
  hydra.sweep.dir="$SWEEP" "$@"
# the report over every sweep folder listed (space-separated), passed as a Hydra list
# shellcheck disable=SC2086  # split the list on spaces
FOLDERS=$(echo ${REPORT_SWEEPS:-$SWEEP} | tr ' ' ',')
.venv/bin/python -m src.active_report "folders=[$FOLDERS]" out=experiments/active_learning

#!/usr/bin/env bash
# The recorded comparison (README.md here): 4 strategies x 3 seeds on a GoEmotions pool with the
# offline MiniLM, sized for a 2-core CPU. Run from the project root:
#   nohup flock /tmp/textlab_cpu.lock bash experiments/active_learning/run.sh > /tmp/active.log 2>&1 &
set -euo pipefail
export HF_HUB_OFFLINE=1
SWEEP=logs/active/multiruns/goemotions_comparison
.venv/bin/python -m src.active -m \
  data=goemotions data.seed=0 data.max_val_rows=500 data.max_test_rows=1000 data.batch_size=16 \
  model=avg_pooler model.optimizer.lr=2e-4 trainer=cpu trainer.max_epochs=4 \
  active.rounds=5 active.initial_size=100 active.query_size=100 active.pool_size=1500 \
  active.mc_passes=5 active.start=cold active.cold_reset=model \
  active.strategy=random,bald,cvirs,entropy seed=1,2,3 \
  hydra.sweep.dir="$SWEEP"
.venv/bin/python -m src.active_report "$SWEEP" --out experiments/active_learning

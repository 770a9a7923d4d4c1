#!/usr/bin/env bash
# Token tasks with the offline MiniLM on CPU. Each run first scores the untrained head on test
# (callbacks.base_vs_tuned.enabled: true in the experiment config -> base/test/*), then
# fine-tunes and tests the best checkpoint (test/*, improvement/test/*). Run from the project
# root; results land in logs/<task_name>/runs/<time>/metrics.json.
set -euo pipefail
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY=${PY:-.venv/bin/python}
for exp in token_vua token_wnut17; do
  /usr/bin/time -f "$exp wall %e s" "$PY" -m src.train experiment=$exp
done

#!/usr/bin/env bash
# Every baseline on every data set, full official splits, MiniLM (offline) for frozen features.
# emotion and vua_metaphor are research-only: TEXTLAB_DATA_DIR=<the folder holding them>.
# Run from the project root through the shared CPU lock:
#   nohup flock /tmp/textlab_cpu.lock bash experiments/baselines/run.sh > /tmp/h3_baselines.log 2>&1 &
# Optional arguments: the baselines to run (default: dummy tfidf_lr frozen_lr frozen_mean).
# Each run lands in logs/baseline/runs/measure/<data>/<baseline>/; a run whose metrics.json
# already says "success" is skipped, so the script can be resumed.
set -u
export HF_HUB_OFFLINE=1
PY=.venv/bin/python
BASELINES=${*:-dummy tfidf_lr frozen_lr frozen_mean}
DATA=${DATA:-emotion wnut17 vua_metaphor jigsaw goemotions}

run() {  # run <data> <name> <overrides...>
  local data=$1 name=$2; shift 2
  local dir=logs/baseline/runs/measure/$data/$name
  if grep -qs '"status": "success"' "$dir/metrics.json"; then echo "== $data $name: done before"; return; fi
  echo "== $data $name start $(date -u +%FT%TZ)"
  /usr/bin/time -f "== $data $name wall %e s" $PY -m src.baseline data=$data backbone=minilm \
    "$@" hydra.run.dir=$dir 2>&1 | grep -v "Tokenising"
}

for data in $DATA; do
  for name in $BASELINES; do
    case $name in
      frozen_mean) run $data frozen_mean baseline=frozen_lr baseline.pooling=mean ;;
      *) run $data $name baseline=$name ;;
    esac
  done
done
echo "== done $(date -u +%FT%TZ)"
PYTHONPATH=. $PY experiments/baselines/make_tables.py collect  # runs.csv from the run folders
bash experiments/baselines/assemble.sh  # README.md: header.md, the tables, notes.md

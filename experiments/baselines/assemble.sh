#!/usr/bin/env bash
# Rebuild experiments/baselines/README.md: header.md, the tables from the committed runs.csv
# (make_tables.py), notes.md. run.sh collects runs.csv from the run folders first.
set -euo pipefail
cd "$(dirname "$0")/../.." || exit 1
{ cat experiments/baselines/header.md
  echo "## Results (test split)"
  echo
  PYTHONPATH=. "${PY:-.venv/bin/python}" experiments/baselines/make_tables.py
  echo
  cat experiments/baselines/notes.md; } > experiments/baselines/README.md.new
mv experiments/baselines/README.md.new experiments/baselines/README.md

#!/usr/bin/env bash
# Rebuild experiments/baselines/README.md: header.md, the tables from the committed runs.csv
# (make_tables.py), notes.md. run.sh collects runs.csv from the run folders first.
# OUT=<dir>: write <dir>/experiments/baselines/README.md instead.
set -euo pipefail
cd "$(dirname "$0")/../.." || exit 1
target=${OUT:-.}/experiments/baselines/README.md
mkdir -p "$(dirname "$target")"
{ cat experiments/baselines/header.md
  echo "## Results (test split)"
  echo
  PYTHONPATH=. "${PY:-.venv/bin/python}" experiments/baselines/make_tables.py
  echo
  cat experiments/baselines/notes.md; } > "$target.new"
mv "$target.new" "$target"

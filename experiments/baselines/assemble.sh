#!/usr/bin/env bash
# Rebuild experiments/baselines/README.md from header.md, the measured runs and notes.md.
cd "$(dirname "$0")/../.." || exit 1
{ cat experiments/baselines/header.md
  .venv/bin/python experiments/baselines/make_tables.py
  cat experiments/baselines/notes.md; } > experiments/baselines/README.md

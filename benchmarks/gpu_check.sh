#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): on a lent GPU, in at most 8 minutes, the card's
# command, benchmarks.mfu, compile and unbucketed runs and one full-GoEmotions epoch per pooling;
# writes gpu_check.{json,md} under $OUT (default benchmarks/results/gpu_check).
#
#   benchmarks/gpu_check.sh                   # the GPU check
#   benchmarks/gpu_check.sh --dry-run         # the same steps on the CPU, tiny (or DRY_RUN=1)
#   benchmarks/gpu_check.sh --steps card,mfu  # some steps only (--help lists the flags)
#
# A machine without the project's virtual environment: if .gpu/setup.sh exists it is sourced
# first (it makes the packages the image lacks importable); the interpreter is
# $TEXTLAB_PYTHON, else .venv/bin/python, else python3.
cd "$(dirname "$0")/.." || exit 1
if [[ -f .gpu/setup.sh ]]; then
    # shellcheck disable=SC1091
    source .gpu/setup.sh || { echo "gpu_check: sourcing .gpu/setup.sh failed" >&2; exit 1; }
fi
set -euo pipefail
python=${TEXTLAB_PYTHON:-}
if [[ -z $python ]]; then
    if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PROJECT_ROOT="$PWD"
exec "$python" -m benchmarks.gpu_check "$@"

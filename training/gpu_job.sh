#!/usr/bin/env bash
# The one GPU job (see training/gpu_job.py). Run from anywhere; works in a plain copy of the repo:
#   OUT=/path/to/out bash training/gpu_job.sh            # GPU: ablation + candidates + shipped bundle, ~8 min
#   OUT=/tmp/smoke PYTHON=.venv/bin/python bash training/gpu_job.sh --smoke --data-root /work/shared/data  # CPU smoke
# Data: ./.device/data/{knee,spine}/manifest.csv, Lite0 weights: ./.device/efficientnet-lite0.pth
# (override with --data-root / --lite0). Everything that matters ends up in $OUT (4 files).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that comes back}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
export HF_HUB_OFFLINE=1 OSTEO_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
timeout "${JOB_TIMEOUT_S:-525}" "${PYTHON:-python3}" -m training.gpu_job --out "$OUT" --budget-s "${BUDGET_S:-450}" "$@"
rc=$?
ls -la "$OUT"
exit $rc

#!/usr/bin/env bash
# The one command run on a lent GPU machine (see README "Training the shipped weights"):
# trains (training/gpu_job.sh), then checks CUDA vs CPU agreement and times the engine on the GPU
# with the bundle it just made. Needs in the working copy: .device/wheels (pydicom, grad-cam,
# ttach wheels), .device/data/{knee,spine} (copy of ../shared/data), .device/efficientnet-lite0.pth.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT}"
python3 -m pip install -q --no-deps --no-index .device/wheels/*.whl 2>&1 | tail -2
BUDGET_S=${BUDGET_S:-400} JOB_TIMEOUT_S=${JOB_TIMEOUT_S:-470} bash training/gpu_job.sh
B=/tmp/bundle && mkdir -p $B
if ls "$OUT"/osteo-effnet-bundle.tar.gz.part* >/dev/null 2>&1; then cat "$OUT"/osteo-effnet-bundle.tar.gz.part* > /tmp/b.tgz; else cp "$OUT"/osteo-effnet-bundle.tar.gz /tmp/b.tgz; fi
tar xzf /tmp/b.tgz -C $B
BD=$(dirname "$(find $B -name config.json | head -1)")
{
  echo "== CUDA vs CPU ($BD)"
  timeout 90 python3 scripts/check_cuda.py --bundle "$BD" resources/demo/knee_demo.dcm \
    .device/data/spine/images/S001_1.jpg .device/data/knee/images/K010.jpg .device/data/spine/images/S010_1.jpg
  echo "rc=$?"
  echo "== engine bench on cuda"
  timeout 90 python3 bench/bench_engine.py --device cuda --bundle "$BD" --repeat 10
  echo "rc=$?"
} > "$OUT/gpu_checks.txt" 2>&1
tail -30 "$OUT/gpu_checks.txt"
ls -la "$OUT"

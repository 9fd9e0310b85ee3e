#!/usr/bin/env bash
# The GPU check (issue 7): ResNet-50 vs ResNeXt-50 32×4d training images/s in bf16 autocast with
# channels-last, eager and torch.compile'd, plus the built-in CPU template; one short table last.
# Needs only Python 3 with torch (CUDA): no Hydra, OmegaConf, Optuna, network or install step.
#   benchmarks/gpu.sh                      # on a single-GPU machine, < 8 minutes
#   benchmarks/gpu.sh --device cpu --steps 2 --batch 2 --modes eager   # dry run anywhere
# Results: reports/bench/gpu.{json,md}, or $OUT/gpu.{json,md} where $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
py=""
for candidate in "${PYTHON:-}" python3 python; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c "import torch" >/dev/null 2>&1; then
        py="$candidate"; break
    fi
done
if [ -z "$py" ]; then
    echo "gpu.sh: no python with torch found (set PYTHON=/path/to/python)" >&2
    exit 2
fi
out="${OUT:-reports/bench}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
# gpu_check keeps to its own 420 s budget; the hard limit (SIGTERM: it prints what is done) is 7.5 min
timeout --signal=TERM --kill-after=15 450 "$py" benchmarks/gpu_check.py --out "$out/gpu.json" "$@"
status=$?
exit $status

#!/usr/bin/env bash
# The built-in default on the GPU machine's own CPU (an Intel Xeon with AMX there), pinned to 2 cores as on this
# project's CPU machines, with the GPU hidden: once as it is (bf16 autocast where the CPU has AMX or AVX-512 BF16),
# once in fp32, one after the other with nothing beside them; then, with COMPILE_BUDGET=SECONDS, the compiled cases
# of the GPU speed table (benchmarks/gpu_check.py), which `benchmarks/gpu.sh` leaves out when its budget is short.
#
#   benchmarks/device_cpu.sh OUT_DIR     # on the GPU machine, with .whl/gpu and data/fashion-mnist carried along
#
# About 8 minutes without the compiled cases: a call of its own, after gpu.sh's (each call is limited to 10 min).
# A 2-core slice of a larger VM is not a 2-core machine (more L3 per core, memory bandwidth to itself), and the
# machine's torch is its own (not this project's pinned one): its figures approximate the Intel kind.
# Writes OUT_DIR/install.log, default.log, fp32.log, times.txt (and compiled.json/log). ABLATE_ARGS: more overrides
# for both runs (a quick try elsewhere: ABLATE_ARGS="data.train_subset=256 optim.epochs=1").
set -uo pipefail
export LC_ALL=C PYTHONUNBUFFERED=1 PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/device_cpu.sh OUT_DIR}
mkdir -p "$out"
venv=${TMPDIR:-/tmp}/ablate-cpu-venv
now() { date +%s.%N; }
t0=$(now)
(
    set -e
    python3 -m venv --system-site-packages --without-pip "$venv"
    site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    python3 -c "import sys; print('\n'.join(p for p in sys.path if p.endswith(('site-packages', 'dist-packages'))))" \
        > "$site/_machine_packages.pth"
    "$venv/bin/python" -m pip install -q --no-index --find-links .whl/gpu hydra-core omegaconf optuna tabulate
    "$venv/bin/python" -m pip install -q --no-index --find-links .whl/gpu --no-deps -e .
) > "$out/install.log" 2>&1 || { echo "install failed"; tail "$out/install.log"; exit 1; }
failed=0
runs=$(mktemp -d)  # fresh run folders: one left by an earlier call would hold a finished run and train nothing
run() {  # run NAME [OVERRIDES...]: the default run on cores 0 and 1, CPU only
    local name=$1 a b
    shift
    a=$(now)
    CUDA_VISIBLE_DEVICES= taskset -c 0,1 "$venv/bin/python" -m ablate trainer.device=cpu trainer.progress=false \
        data.root="$PWD/data/fashion-mnist" data.download=false hydra.run.dir="$runs/$name" "$@" ${ABLATE_ARGS:-} > "$out/$name.log" 2>&1
    local rc=$?
    (( rc == 0 )) || failed=1
    b=$(now)
    echo "$name rc=$rc wall=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b - a }') s" | tee -a "$out/times.txt"
}
echo "install $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s" | tee "$out/times.txt"
lscpu | grep -E 'Model name|CPU family|Model:|L3' >> "$out/times.txt"
python3 -c "import torch; print('torch', torch.__version__)" >> "$out/times.txt"
run default
run fp32 trainer.precision=fp32
if [ "${COMPILE_BUDGET:-0}" -gt 0 ]; then
    python3 benchmarks/gpu_check.py --modes compiled --sources ablate --forms c --cudnn on \
        --budget "$COMPILE_BUDGET" --out "$out/compiled.json" > "$out/compiled.log" 2>&1 || failed=1
fi
echo "total $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s" | tee -a "$out/times.txt"
exit "$failed"  # a run that failed fails the script (its log is in OUT_DIR)

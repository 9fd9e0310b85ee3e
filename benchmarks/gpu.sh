#!/usr/bin/env bash
# The GPU check (issue 16): ablate itself on one GPU, then its speed against timm; at most 8 minutes of wall time,
# everything written into OUT_DIR, one short table printed last (OUT_DIR/summary.md).
#
#   scripts/fetch_gpu_wheels.sh            # first, where there is network: .whl/gpu (wheels) and data/fashion-mnist
#   benchmarks/gpu.sh OUT_DIR              # on the GPU machine, with .whl/gpu and data/fashion-mnist carried along
#   benchmarks/gpu.sh --dry-run OUT_DIR    # anywhere: the same steps on the CPU at tiny sizes (the test suite's run)
#
# Steps, each with its own time limit inside the budget, its log in OUT_DIR/logs/ and a line in OUT_DIR/steps.jsonl:
#   install   the wheels, offline, into a venv that also sees the machine's own packages (torch with CUDA, numpy,
#             pandas, matplotlib, SciPy, timm), and ablate itself (editable);
#   (a)       a one-epoch `python -m ablate trainer.device=cuda` run in bf16 stopped after its first checkpoint and
#             resumed on the CPU (no GPU visible: trainer.device=auto must warn and fall back), and one in fp16
#             (GradScaler) whose checkpoint is then loaded on the CPU;
#   (b)       the main job, `python -m ablate +sweep=cardinality_vs_width trainer.device=cuda -m` on the real
#             Fashion-MNIST with its report: all five members at once on the GPU (joblib, trainer.jobs_per_gpu=5),
#             then one at a time (the basic launcher), for the wall-time ratio;
#   (c)       benchmarks/gpu_check.py, the speed table (needs no Hydra);
#   summary   benchmarks/gpu_steps.py summary OUT_DIR: the short table.
# Environment: PYTHON (a python3 with torch; default python3), WHEELS (.whl/gpu), FMNIST (data/fashion-mnist),
# VENV (${TMPDIR:-/tmp}/ablate-gpu-venv), BUDGET (480 s), GPU_DRY_RUN=1 (as --dry-run), GPU_CHECK_ARGS (more
# options for gpu_check.py).
set -uo pipefail
export LC_ALL=C PYTHONDONTWRITEBYTECODE=1 HYDRA_FULL_ERROR=1 PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
cd "$(dirname "$0")/.."
repo=$PWD
dry=${GPU_DRY_RUN:-0}
positional=()
for arg in "$@"; do
    case $arg in
        --dry-run) dry=1 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "gpu.sh: unknown option $arg (usage: benchmarks/gpu.sh [--dry-run] OUT_DIR)" >&2; exit 2 ;;
        *) positional+=("$arg") ;;
    esac
done
if [ ${#positional[@]} -ne 1 ]; then
    echo "usage: benchmarks/gpu.sh [--dry-run] OUT_DIR" >&2
    exit 2
fi
mkdir -p "${positional[0]}/logs" && out=$(cd "${positional[0]}" && pwd) || exit 2
: > "$out/steps.jsonl"
budget=${BUDGET:-$([ "$dry" = 1 ] && echo 1800 || echo 480)}  # the dry run is not timed: a shared CPU is slow
now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }  # bash 5's clock, else date's
t_start=$(now)

sys_py=""
for candidate in "${PYTHON:-}" python3 python; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" 2>/dev/null; then
        sys_py=$(command -v "$candidate"); break
    fi
done
if [ -z "$sys_py" ]; then
    echo "gpu.sh: no python with torch found (set PYTHON=/path/to/python)" >&2
    exit 2
fi

# ----------------------------------------------------------------------------- helpers
elapsed() { awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
left() { awk -v a="$t_start" -v b="$(now)" -v t="$budget" 'BEGIN { printf "%d", t - (b - a) }'; }
note() { echo "gpu.sh: $*"; }
record() { echo "$1" >> "$out/steps.jsonl"; }

# step NAME CAP RESERVE EXPECT CMD...: run CMD with a time limit of CAP seconds, or less so that RESERVE seconds of
# the budget stay for the later steps; its output goes to logs/NAME.log; EXPECT is its exit status when it worked.
step() {
    local name=$1 cap=$2 reserve=$3 expect=$4
    shift 4
    local limit=$(( $(left) - reserve ))
    (( limit > cap )) && limit=$cap
    if (( limit < 10 )); then
        note "$name: skipped, $(left) s of the $budget s budget left"
        record "{\"step\": \"$name\", \"rc\": \"skipped\", \"why\": \"$(left) s of the $budget s budget left\"}"
        return 1
    fi
    note "$name (at most $limit s) ..."
    local t0 rc
    t0=$(now)
    timeout --signal=TERM --kill-after=10 "$limit" "$@" > "$out/logs/$name.log" 2>&1
    rc=$?
    local seconds
    seconds=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    record "{\"step\": \"$name\", \"rc\": $rc, \"expect\": $expect, \"seconds\": $seconds}"
    if [ "$rc" -eq "$expect" ]; then
        note "$name: done in $seconds s"
        return 0
    fi
    note "$name: exit status $rc after $seconds s$([ "$rc" -eq 124 ] && echo " (time limit)"); its log ends:"
    tail -n 5 "$out/logs/$name.log" | sed 's/^/    /'
    return 1
}

skip() {  # skip NAME WHY
    note "$1: skipped, $2"
    record "{\"step\": \"$1\", \"rc\": \"skipped\", \"why\": \"$2\"}"
}

have_fmnist() {
    local f
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f "$1/$f.gz" ] || [ -f "$1/$f" ] || return 1
    done
}

# ----------------------------------------------------------------------------- the settings of a real and a dry run
fmnist=${FMNIST:-$repo/data/fashion-mnist}
fmnist=$(cd "$fmnist" 2>/dev/null && pwd || echo "$fmnist")
wheels=${WHEELS:-$repo/.whl/gpu}
venv=${VENV:-${TMPDIR:-/tmp}/ablate-gpu-venv}
common=(trainer.progress=false)
if [ "$dry" = 1 ]; then
    record '{"step": "dry-run", "rc": 0, "seconds": 0}'
    note "DRY RUN: every step on the CPU at tiny sizes with $sys_py (no install); its figures mean nothing"
    dev=cpu fp16=fp32 packed=2 reserve_speed=0 reserve_main=0
    common+=(trainer.world_size=1)  # one process per run, as world_size auto gives on a GPU
    if have_fmnist "$fmnist"; then
        data=(data.root="$fmnist" data.download=false data.train_subset=256 data.val_subset=128)
    else
        note "no Fashion-MNIST files in $fmnist: the dry run uses synthetic data"
        data=(data=synthetic data.num_samples=256 data.val_samples=128)
    fi
    smoke_data=("${data[@]}")
    main_data=("${data[@]}" model.cardinality=1,32 optim.epochs=1)
    speed=(--device cpu --batch 2 --resolution 32 --steps 1 --warmup 0 --forms c --modes eager)
else
    dev=cuda fp16=fp16 packed=5 reserve_speed=150 reserve_main=130
    if have_fmnist "$fmnist"; then
        smoke_data=(data.root="$fmnist" data.download=false data.train_subset=10000 data.val_subset=2000)
        main_data=(data.root="$fmnist" data.download=false)
    else
        note "no Fashion-MNIST files in $fmnist (run scripts/fetch_gpu_wheels.sh and carry data/fashion-mnist):" \
             "the smoke runs use synthetic data and the main job is skipped"
        smoke_data=(data=synthetic data.num_samples=10000 data.val_samples=2000)
        main_data=()
    fi
    speed=()
fi
read -r -a extra_speed <<< "${GPU_CHECK_ARGS:-}"
cuda_built=$("$sys_py" -c "import torch; print(int(torch.backends.cuda.is_built()))" 2>/dev/null || echo 0)

# ----------------------------------------------------------------------------- install
py=$sys_py
if [ "$dry" = 1 ]; then
    : # the dry run's python has Hydra and Optuna already (the project's own venv)
elif ! ls "$wheels"/*.whl >/dev/null 2>&1; then
    skip install "no wheels in $wheels (run scripts/fetch_gpu_wheels.sh where there is network, carry .whl/gpu)"
else
    # the venv sees the machine's packages (--system-site-packages), and through a .pth file also those of
    # $sys_py's own environment when it is itself a venv or conda env; the wheels and ablate go into the venv
    install='set -euo pipefail
        sys_py=$1 venv=$2 wheels=$3 repo=$4
        "$sys_py" -m venv --system-site-packages --without-pip "$venv"
        site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()[\"purelib\"])")
        "$sys_py" -c "import sys; print(\"\n\".join(p for p in sys.path if p.endswith((\"site-packages\", \"dist-packages\"))))" \
            > "$site/_machine_packages.pth"
        pip=("$venv/bin/python" -m pip)
        "${pip[@]}" --version || pip=("$sys_py" -m pip --python "$venv/bin/python")
        "${pip[@]}" install --no-index --find-links "$wheels" hydra-core omegaconf optuna hydra-joblib-launcher tabulate
        "${pip[@]}" install --no-index --find-links "$wheels" --no-deps -e "$repo"
        cd /
        "$venv/bin/python" -c "import torch, hydra, optuna, ablate.conf, hydra_plugins.hydra_joblib_launcher; print(\"torch\", torch.__version__, \"cuda\", torch.cuda.is_available())"'
    if step install 150 300 0 bash -c "$install" _ "$sys_py" "$venv" "$wheels" "$repo"; then
        py=$venv/bin/python
    fi
fi
if ! "$py" -c "import hydra, optuna" 2>/dev/null; then
    note "$py has no Hydra or Optuna: (a) and (b) are skipped, (c) needs neither"
    skip smoke-bf16 "no Hydra"; skip smoke-fp16 "no Hydra"; skip main-packed "no Hydra"; skip main-serial "no Hydra"
    py=""
fi

# ----------------------------------------------------------------------------- (a) smoke runs
if [ -n "$py" ]; then
    bf16=(trainer.precision=bf16 optim.epochs=2 "${common[@]}" "${smoke_data[@]}" hydra.run.dir="$out/smoke/bf16")
    if step smoke-bf16 90 "$reserve_speed" 3 "$py" benchmarks/gpu_steps.py stop-after 1 trainer.device=$dev "${bf16[@]}"; then
        cp "$out/smoke/bf16/result.json" "$out/smoke/bf16/after_first_epoch.json"
    fi
    step smoke-fp16 90 "$reserve_speed" 0 "$py" -m ablate trainer.device=$dev trainer.precision=$fp16 optim.epochs=1 \
        "${common[@]}" "${smoke_data[@]}" hydra.run.dir="$out/smoke/fp16"
    if [ -f "$out/smoke/fp16/checkpoint.pt" ] \
        && step smoke-fp16-load 30 "$reserve_speed" 0 env CUDA_VISIBLE_DEVICES= "$py" benchmarks/gpu_steps.py \
            load-checkpoint "$out/smoke/fp16/checkpoint.pt"; then
        grep '^{' "$out/logs/smoke-fp16-load.log" | tail -n 1 > "$out/smoke/fp16/checkpoint_on_cpu.json"
    fi
    if [ -f "$out/smoke/bf16/checkpoint.pt" ]; then
        # no GPU visible at all: trainer.device=auto falls back to the CPU (and must say so where CUDA is built)
        step smoke-bf16-resume 90 "$reserve_speed" 0 env CUDA_VISIBLE_DEVICES= "$py" -m ablate trainer.device=auto \
            "${bf16[@]}"
        warned=null
        if [ "$cuda_built" = 1 ]; then
            grep -q "trainer.device=auto sees no GPU" "$out/logs/smoke-bf16-resume.log" && warned=true || warned=false
        fi
        sed -i '$ s/}$/, "fallback_warning": '"$warned"'}/' "$out/steps.jsonl"
    fi
fi

# ----------------------------------------------------------------------------- (b) the main job
if [ -n "$py" ] && [ ${#main_data[@]} -gt 0 ]; then
    main=(+sweep=cardinality_vs_width trainer.device=$dev "${common[@]}" "${main_data[@]}")
    step main-packed 200 "$reserve_main" 0 "$py" -m ablate "${main[@]}" hydra/launcher=joblib \
        hydra.launcher.n_jobs=$packed trainer.jobs_per_gpu=$packed hydra.sweep.dir="$out/main/packed" \
        +hydra.callbacks.report.out="$out/main/packed_report" -m
    step main-serial 240 "$reserve_main" 0 "$py" -m ablate "${main[@]}" hydra.sweep.dir="$out/main/serial" \
        +hydra.callbacks.report.out="$out/main/serial_report" -m
elif [ -n "$py" ]; then
    skip main-packed "no Fashion-MNIST files in $fmnist"; skip main-serial "no Fashion-MNIST files in $fmnist"
fi

# ----------------------------------------------------------------------------- (c) the speed table
speed_budget=$(( $(left) - 30 ))
if (( speed_budget >= 30 )); then
    step speed $(( speed_budget + 15 )) 10 0 "$sys_py" benchmarks/gpu_check.py --out "$out/speed/gpu.json" \
        --budget "$speed_budget" "${speed[@]}" "${extra_speed[@]}"
else
    skip speed "$(left) s of the $budget s budget left"
fi

# ----------------------------------------------------------------------------- the short table, last
# the records and reports stay; the checkpoints (resumed above already) need not travel back with OUT_DIR
find "$out" -name checkpoint.pt -type f -delete
record "{\"step\": \"total\", \"rc\": 0, \"seconds\": $(elapsed)}"
echo
"$sys_py" benchmarks/gpu_steps.py summary "$out"

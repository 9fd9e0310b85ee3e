#!/usr/bin/env bash
# Fetch, on a machine with network, what the GPU machine lacks for `benchmarks/gpu.sh`: wheels for CPython 3.12 on
# x86-64 Linux of Hydra, OmegaConf (and its ANTLR runtime), Optuna and its needs, the joblib launcher, tabulate, and
# setuptools/wheel to install ablate itself there; plus a copy of the Fashion-MNIST files. The GPU machine has no
# network but has Python 3.12 with torch (CUDA), numpy, pandas, matplotlib, SciPy, tqdm, timm and torchvision.
#
#   scripts/fetch_gpu_wheels.sh [WHEEL_DIR]      # default .whl/gpu (git-ignored); data goes to data/fashion-mnist
#
# Then carry both folders to the GPU machine (.whl/gpu and data/fashion-mnist, well under 64 MiB together) and run
# `benchmarks/gpu.sh OUT_DIR` there. Environment: PIP (default: python3 -m pip), PY_VERSION (default 3.12),
# FMNIST_SRC (default Debian's /usr/share/datasets/fashion-mnist), FMNIST (default data/fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.whl/gpu}"
py_version="${PY_VERSION:-3.12}"
abi="cp${py_version/./}"
if [ -n "${PIP:-}" ]; then read -r -a pip <<<"$PIP"
elif [ -x .venv/bin/python ]; then pip=(.venv/bin/python -m pip)
else pip=(python3 -m pip); fi
mkdir -p "$dest"
# The project's own requirements (pyproject.toml) that the GPU machine lacks; versions as tested here.
requirements=(
    "hydra-core>=1.3.8,<1.4" "omegaconf>=2.3,<2.4" "antlr4-python3-runtime==4.9.3"
    "optuna>=4" "hydra-joblib-launcher>=1.2" "tabulate>=0.9"
    "setuptools>=68" "wheel"  # to build ablate's editable install there, offline
)
# antlr4-python3-runtime 4.9.3 (OmegaConf 2.3 pins 4.9.*) is published as a source archive only: build its wheel
# (pure Python, py3-none-any) here, where pip download --only-binary would find none.
if ! ls "$dest"/antlr4_python3_runtime-4.9.3-*.whl >/dev/null 2>&1; then
    "${pip[@]}" wheel --no-deps --wheel-dir "$dest" "antlr4-python3-runtime==4.9.3"
fi
# Everything else as binary wheels for the GPU machine's Python, with their dependencies resolved.
"${pip[@]}" download --dest "$dest" --find-links "$dest" --only-binary=:all: \
    --python-version "$py_version" --implementation cp --abi "$abi" --abi abi3 --abi none \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any "${requirements[@]}"
# numpy (through Optuna) is on the GPU machine already, under pandas: it would be the largest file carried.
rm -f "$dest"/numpy-*.whl
echo "fetch_gpu_wheels: $(ls "$dest"/*.whl | wc -l) wheels in $dest ($(du -sh "$dest" | cut -f1)):"
ls "$dest"
# The Fashion-MNIST files for the main job, beside the repository at a git-ignored path that travels with it.
src="${FMNIST_SRC:-/usr/share/datasets/fashion-mnist}"
data="${FMNIST:-data/fashion-mnist}"
if [ -d "$src" ]; then
    mkdir -p "$data"
    cp -u "$src"/*-ubyte* "$data"/
    echo "fetch_gpu_wheels: Fashion-MNIST in $data ($(du -sh "$data" | cut -f1)), from $src"
else
    echo "fetch_gpu_wheels: no Fashion-MNIST files in $src: put the four idx files in $data" \
         "(apt-get install dataset-fashion-mnist, or python -m ablate data.root=$data once with network)" >&2
fi

#!/usr/bin/env bash
# Set up a fresh machine for ablate: Debian's Fashion-MNIST (and PostgreSQL for the shared-study test),
# a virtual environment in .venv with the CPU build of torch first, then the project in editable mode.
# Quick when already done: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
if [ "${ABLATE_SETUP_POSTGRES:-1}" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.ablate-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ]; then
  # torch first, pinned to the CPU build on disk, so the project's `torch>=` never pulls a CUDA build
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev,launchers,postgres,ray]'
  # the checkout on sys.path too: Hydra's plugin scan lists the folders of the hydra_plugins namespace, which
  # setuptools' editable finder does not show (pkgutil cannot list it), so without this only `python -m ablate`
  # (which registers its sweepers itself) found hydra/sweeper=ablate_optuna, not a Hydra app of the user's own
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  pwd > "$site/ablate-checkout.pth"
  touch "$stamp"
fi
echo "setup: ready (.venv: $(.venv/bin/python -c 'import torch, hydra, optuna; print("torch", torch.__version__, "hydra", hydra.__version__, "optuna", optuna.__version__)'))"

# The two commands of the README: `make run` (set up, then the main job) and `make test` (set up, then the tests).
PY := .venv/bin/python
SWEEP ?= cardinality_vs_width

.PHONY: setup run train test lint bench report clean
setup:
	@./scripts/setup.sh

run: setup  ## the paper's Table 3 ablation on the built-in default, report included
	$(PY) -m ablate +sweep=$(SWEEP) -m

train: setup  ## one training run of the built-in default
	$(PY) -m ablate

test: setup lint
	$(PY) -m pytest -n 2 --dist loadfile -q

lint: setup  ## ruff (lint and format) and mypy over the package and the plugins: no findings
	.venv/bin/ruff check ablate hydra_plugins benchmarks
	.venv/bin/ruff format --check ablate hydra_plugins
	.venv/bin/mypy

bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf outputs multirun sweeps/*/ .pytest_cache .hypothesis

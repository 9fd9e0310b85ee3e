"""ablate: declarative architecture search and ablation for ResNeXt-style networks.

The engine (`Template`, `derive`, `complexity`, `totals`, `Budget`, `solve`) is pure Python;
`load_template` imports the config layer (OmegaConf) and `build` and `convert` import torch, each only
when first used.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import TYPE_CHECKING, NamedTuple

from ablate.engine import Budget, Network, Solution, Stage, Template, complexity, derive, solve, totals
from ablate.errors import AblateError, BudgetError, CheckpointError, ConfigError, DataError, TemplateError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AblateError",
    "Budget",
    "BudgetError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Network",
    "Results",
    "Solution",
    "Stage",
    "Template",
    "TemplateError",
    "build",
    "complexity",
    "convert",
    "derive",
    "load_template",
    "results",
    "solve",
    "totals",
]
try:
    __version__ = importlib.metadata.version("ablate")  # the installed package's (pyproject.toml): one place
except importlib.metadata.PackageNotFoundError:  # a checkout on sys.path without `pip install`
    __version__ = "0+unknown"


class Results(NamedTuple):
    """A sweep's results as the report reads them: `runs`, one row per member (completed, diverged, failed,
    running, and the expected members that wrote no record, status "missing"), and `epochs`, one row per run and
    epoch. The README's "Results as data" lists every column with its meaning and unit."""

    runs: pd.DataFrame
    epochs: pd.DataFrame


def results(sweep_dir: str | os.PathLike) -> Results:
    """The runs and epochs DataFrames of a sweep folder (or of any folder of runs), read from every `result.json`
    under it and Hydra's `multirun.yaml`: the frames every table and figure of its report is drawn from
    (`ablate.report.collect`). Safe while the sweep is still going. Raises `DataError` for a folder that does
    not exist or holds no run record.

        runs, epochs = ablate.results("sweeps/cardinality_vs_width")
        runs[runs.status == "completed"].groupby("setting").final_val_err.agg(["mean", "std", "count"])
    """
    from ablate.report.collect import collect  # pandas and the record reader load on the first call

    sweep = collect(sweep_dir)
    return Results(sweep.runs, sweep.epochs)


def __getattr__(name: str):
    # the config layer and torch load lazily, so the engine stays importable and fast without them
    if name in ("build", "convert"):
        from ablate import models

        return getattr(models, name)
    if name == "load_template":
        from ablate.config import load_template

        return load_template
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")

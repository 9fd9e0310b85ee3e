"""ablate: declarative architecture search and ablation for ResNeXt-style networks.

The engine (`Template`, `derive`, `complexity`, `totals`, `Budget`, `solve`, `load_template`) is pure
Python; `build` and `convert` import torch only when first used.
"""

from ablate.budget import Budget, Solution, solve
from ablate.complexity import complexity, totals
from ablate.config import load_template
from ablate.errors import AblateError, BudgetError, CheckpointError, ConfigError, DataError, TemplateError
from ablate.template import Network, Stage, Template, derive

__all__ = [
    "AblateError", "Budget", "BudgetError", "CheckpointError", "ConfigError", "DataError", "Network",
    "Solution", "Stage", "Template", "TemplateError", "build", "complexity", "convert", "derive",
    "load_template", "solve", "totals",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    # torch-backed parts load lazily, so the engine stays importable and fast without torch
    if name in ("build", "convert"):
        from ablate import models

        return getattr(models, name)
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")

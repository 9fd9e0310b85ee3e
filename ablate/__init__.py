"""ablate: declarative architecture search and ablation for ResNeXt-style networks.

The engine (`Template`, `derive`, `complexity`, `totals`, `Budget`, `solve`) is pure Python;
`load_template` imports the config layer (OmegaConf) and `build` and `convert` import torch, each only
when first used.
"""

from ablate.engine import Budget, Network, Solution, Stage, Template, complexity, derive, solve, totals
from ablate.errors import AblateError, BudgetError, CheckpointError, ConfigError, DataError, TemplateError

__all__ = [
    "AblateError", "Budget", "BudgetError", "CheckpointError", "ConfigError", "DataError", "Network",
    "Solution", "Stage", "Template", "TemplateError", "build", "complexity", "convert", "derive",
    "load_template", "solve", "totals",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    # the config layer and torch load lazily, so the engine stays importable and fast without them
    if name in ("build", "convert"):
        from ablate import models

        return getattr(models, name)
    if name == "load_template":
        from ablate.config import load_template

        return load_template
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")

"""The torch-free engine: the template and its two rules, block descriptions, exact complexity, the budget solver.

Nothing here imports torch, Hydra or OmegaConf: Table 2, budget-matched configs and sweep planning
never build a model (`python -m benchmarks --only analytic` times them).
"""

from ablate.engine.budget import Budget, Solution, measure, solve, table2
from ablate.engine.complexity import Complexity, complexity, totals
from ablate.engine.template import Network, Stage, Template, derive

__all__ = [
    "Budget",
    "Complexity",
    "Network",
    "Solution",
    "Stage",
    "Template",
    "complexity",
    "derive",
    "measure",
    "solve",
    "table2",
    "totals",
]

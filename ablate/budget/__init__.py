"""The budget solver (equation 4) and its command line (`python -m ablate.budget`)."""

from ablate.budget.solver import METRICS, SCOPES, VARY, Budget, Solution, measure, solve, table2

__all__ = ["METRICS", "SCOPES", "VARY", "Budget", "Solution", "measure", "solve", "table2"]

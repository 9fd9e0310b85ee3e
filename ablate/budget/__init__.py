"""`ablate.budget`: the budget solver's public name (`ablate.engine.budget`) and its command line."""

from ablate.engine.budget import METRICS, SCOPES, VARY, Budget, Solution, measure, solve, table2

__all__ = ["METRICS", "SCOPES", "VARY", "Budget", "Solution", "measure", "solve", "table2"]

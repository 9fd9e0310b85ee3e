"""The budget solver: pick the free dimension that matches a complexity budget (equation 4).

`solve(template, budget, vary=...)` searches one integer field of the template — the
bottleneck width d (default), the first-stage width, the cardinality C, or one stage's depth —
for the value whose complexity is nearest the target. Every metric (params, FLOPs, acts) grows
monotonically with each of these fields, so a doubling search followed by bisection finds the
two values that bracket the target; the nearer one wins, and on a tie the smaller value wins
(the cheaper network). No torch import: a solve lists no layers and builds no model.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, overload

from ablate.engine.complexity import block_complexity, totals
from ablate.engine.template import Template
from ablate.errors import BudgetError, TemplateError, shown

METRICS = ("params", "flops", "acts")
COARSE_ADVICE = "widen budget.tolerance, or vary another field"  # python -m ablate.budget says it in its flags
SCOPES = ("network", "block")
VARY = ("bottleneck_width", "width", "cardinality", "depth")
MAX_VALUE = 1 << 20  # no sane template has a dimension this large


@dataclass(frozen=True)
class Budget:
    """A complexity target: `metric` at `scope` equal to `target` within `tolerance`.

    `target` is absolute; `Budget.relative(reference, scale, ...)` builds one from a reference
    template times a scale, and keeps the scale and the reference's name (`scale`, `reference`)
    so a record can say where the target came from.
    """

    metric: str = "params"
    target: float = 0.0
    scope: str = "network"
    tolerance: float = 0.05
    scale: float | None = None  # target = scale × the reference's complexity (None: an absolute target)
    reference: str | None = None  # the reference's name, e.g. a model config (None: absolute or unnamed)

    def __post_init__(self) -> None:
        _check_kind(self.metric, self.scope)
        if (
            isinstance(self.target, bool)
            or not isinstance(self.target, (int, float))
            or not self.target > 0
            or self.target == float("inf")
        ):
            raise BudgetError(f"budget.target={shown(self.target)} is invalid: it must be a positive, finite number.")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)) or not self.tolerance >= 0:
            raise BudgetError(
                f"budget.tolerance={shown(self.tolerance)} is invalid: it must be a relative deviation of 0 or more, "
                "e.g. 0.05."
            )

    @classmethod
    def relative(
        cls,
        reference: Template,
        scale: float = 1.0,
        metric: str = "params",
        scope: str = "network",
        tolerance: float = 0.05,
        *,
        name: str | None = None,
    ) -> Budget:
        """A budget of `scale` times the reference template's complexity; `name` labels the reference.

        The reference is a `Template`: model names are the config layer's to resolve
        (`ablate.config.load_template`), so the engine never reads configs.
        """
        if not isinstance(reference, Template):
            raise TypeError(
                f"Budget.relative takes a Template, not {reference!r}: resolve a model name with "
                "ablate.config.load_template first."
            )
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise BudgetError(f"budget.scale={shown(scale)} is invalid: it must be a positive number, e.g. 2.0.")
        _check_kind(metric, scope)
        count = measure(reference, metric, scope)
        if not math.isfinite(scale * count):
            most = figures(math.log10(sys.float_info.max) - math.log10(count), down=True)
            raise BudgetError(
                f"budget.scale={scale:g} is too large: {scale:g} × {name or 'the reference'}'s {count:,} {metric} "
                f"is more than a float holds; give a scale of at most {most}."
            )
        return cls(
            metric=metric,
            target=scale * count,
            scope=scope,
            tolerance=tolerance,
            scale=scale,
            reference=name,
        )


def _check_kind(metric: str, scope: str) -> None:
    if metric not in METRICS:
        raise BudgetError(f"budget.metric={shown(metric)} is unknown: valid metrics are {', '.join(METRICS)}.")
    if scope not in SCOPES:
        raise BudgetError(f"budget.scope={shown(scope)} is unknown: valid scopes are {', '.join(SCOPES)}.")


@dataclass(frozen=True)
class Solution:
    """The chosen template, its complexity under the budget's metric, and the budget it meets."""

    template: Template
    vary: str
    value: int  # the chosen value of the varied field
    achieved: int
    budget: Budget

    @property
    def target(self) -> float:
        return self.budget.target

    @property
    def deviation(self) -> float:
        """Relative deviation from the target: achieved / target − 1."""
        return self.achieved / self.target - 1.0

    def as_dict(self) -> dict:
        """The record's budget section: the budget (metric, scope, target, tolerance, scale, reference) and how
        this solution meets it (achieved, deviation, vary, value)."""
        b = self.budget
        return {
            "metric": b.metric,
            "scope": b.scope,
            "target": b.target,
            "achieved": self.achieved,
            "deviation": self.deviation,
            "vary": self.vary,
            "value": self.value,
            "tolerance": b.tolerance,
            "scale": b.scale,
            "reference": b.reference,
        }


def measure(template: Template, metric: str, scope: str = "network") -> int:
    """The template's complexity under one metric, for the whole network or the equation-4 block."""
    if scope == "block":
        return block_complexity(template)[metric]
    return getattr(totals(template), metric)


def _default_stage(template: Template) -> int:
    return max(len(template.depths) - 2, 0)


def _with(template: Template, vary: str, value: int, stage: int, check: bool = True) -> Template:
    """`template` with `vary` set to `value`; `check=False` skips validation, for the search's
    candidates: a whole `value` ≥ 1 of these fields is always valid, and the answer is checked."""
    changes: dict[str, object]
    if vary == "depth":
        depths = list(template.depths)
        depths[stage] = value
        changes = {"depths": tuple(depths)}
    else:
        changes = {vary: value}
    return template.replace(**changes) if check else template.unchecked_replace(**changes)


def _current(template: Template, vary: str, stage: int) -> int:
    return template.depths[stage] if vary == "depth" else getattr(template, vary)


def _pieces(template: Template, vary: str) -> list[tuple[int, int]]:
    """Ranges of `vary` on which every metric grows monotonically.

    Complexity grows with each field except one spot: at width == stem_width the first block
    needs no projection shortcut, so that single width is cheaper than its neighbours.
    """
    sw = template.stem_width
    if vary == "width" and template.shortcut and sw > 1:
        return [(1, sw - 1), (sw, sw), (sw + 1, MAX_VALUE)]
    return [(1, MAX_VALUE)]


def _bracket(cost: Callable[[int], int], target: float, lo: int, hi: int) -> list[int]:
    """The values in [lo, hi] on either side of `target` (cost increasing): doubling, then bisection."""
    if cost(lo) >= target:
        return [lo]
    step = 1
    while lo + step < hi and cost(lo + step) < target:
        step *= 2
    a, b = lo + step // 2, min(lo + step, hi)  # cost(a) < target; cost(b) >= target unless b == hi
    if cost(b) < target:
        return [b]
    while b - a > 1:
        mid = (a + b) // 2
        if cost(mid) >= target:
            b = mid
        else:
            a = mid
    return [a, b]


def solve(template: Template, budget: Budget, vary: str = "bottleneck_width", stage: int | None = None) -> Solution:
    """Find the value of `vary` whose complexity is nearest `budget.target`.

    vary: `bottleneck_width` (d, equation 4), `width` (output width of the first stage; later
    stages keep doubling it), `cardinality` (C at fixed d), or `depth` (the block count of one
    stage, `stage`, by default the second to last — conv4 in a four-stage net, the stage that
    grows from ResNet-50 to ResNet-101; the other stages keep their depths).
    Rounding: the two integers that bracket the target are compared and the nearer wins; a tie
    goes to the smaller. A result outside `budget.tolerance` raises `BudgetError` with the range
    the template can reach.
    """
    stage = check_vary(template, vary, stage, budget.scope)

    def cost(v: int) -> int:
        return measure(_with(template, vary, v, stage, check=False), budget.metric, budget.scope)

    target = budget.target
    try:
        low_cost = min(cost(lo) for lo, _ in _pieces(template, vary))
    except TemplateError as e:
        raise BudgetError(f"the budget cannot be solved by varying {vary}: {e}") from None
    if low_cost > target * (1 + budget.tolerance):
        raise BudgetError(
            f"budget {budget.metric}={amount(target)} is out of reach by varying {vary}: this template needs at least "
            f"{low_cost:,}; the reachable range is {low_cost:,} and up{_fewer_groups(template, budget, vary)}."
        )
    candidates = [v for lo, hi in _pieces(template, vary) for v in _bracket(cost, target, lo, hi)]
    value = min(candidates, key=lambda v: (abs(cost(v) - target), v))
    chosen = _with(template, vary, value, stage)
    solution = Solution(template=chosen, vary=vary, value=value, achieved=cost(value), budget=budget)
    if abs(solution.deviation) > budget.tolerance:
        top = _pieces(template, vary)[-1][1]
        if cost(top) == low_cost:  # flat: a block of one's own that ignores the field (doubling ran to the cap)
            raise BudgetError(
                f"budget {budget.metric}={amount(target)} cannot be met by varying {vary}: this template has "
                f"{low_cost:,} {budget.metric} whatever {vary} is (its block does not use it); vary another field."
            )
        if value == top and solution.achieved < target:  # past the largest value the solver takes
            raise BudgetError(
                f"budget {budget.metric}={amount(target)} is out of reach by varying {vary}: this template reaches at "
                f"most {solution.achieved:,} (at {vary}={top}, the largest value the solver takes); the reachable "
                f"range is {low_cost:,} to {solution.achieved:,}."
            )
        other = next((v for v in candidates if v != value and (cost(v) < target) != (solution.achieved < target)), None)
        beside = (
            "" if other is None else f", and {vary}={other} gives {cost(other):,} ({cost(other) / target - 1:+.2%})"
        )
        raise BudgetError(
            f"budget {budget.metric}={amount(target)} cannot be met within tolerance {budget.tolerance:g} by varying "
            f"{vary}: the nearest is {solution.achieved:,} at {vary}={value} ({solution.deviation:+.2%}){beside}; "
            f"{vary} moves {budget.metric} in steps coarser than the tolerance here: {COARSE_ADVICE}."
        )
    return solution


def _fewer_groups(template: Template, budget: Budget, vary: str) -> str:
    """Where d = 1 is already too much (equation 4 has no smaller d): the largest cardinality at which d = 1 fits
    the budget, which is what to change; the cost at d = 1 grows with C, so bisection finds it."""
    if vary != "bottleneck_width" or template.cardinality == 1:
        return ""
    limit = budget.target * (1 + budget.tolerance)

    def cost(c: int) -> int:
        return measure(template.unchecked_replace(cardinality=c, bottleneck_width=1), budget.metric, budget.scope)

    if cost(1) > limit:
        return f"; even cardinality=1 needs {cost(1):,} at bottleneck_width=1"
    fits, too_many = 1, template.cardinality  # cost(fits) <= limit < cost(too_many)
    while too_many - fits > 1:
        mid = (fits + too_many) // 2
        fits, too_many = (mid, too_many) if cost(mid) <= limit else (fits, mid)
    return f"; at cardinality ≤ {fits} a bottleneck_width of 1 fits it (cardinality={template.cardinality} here)"


def check_vary(
    template: Template, vary: str, stage: int | None = None, scope: str = "network", prefix: str = ""
) -> int:
    """The stage `solve` moves for `vary` (0 unless `vary` is depth); a `BudgetError` for a field that cannot
    be varied, a stage the template lacks, or depth at block scope: one sentence naming each field as the caller's
    user typed it, `prefix` + name (`budget.vary` in a config, `--vary` on the budget table's command line)."""
    if vary not in VARY:
        raise BudgetError(f"{prefix}vary={shown(vary)} is unknown: valid choices are {', '.join(VARY)}.")
    if vary != "depth":
        if stage is not None:
            raise BudgetError(
                f"{prefix}stage={shown(stage)} is used only when the solver varies depth: "
                f"with {prefix}vary={shown(vary)} every stage changes; drop {prefix}stage, or vary depth."
            )
        return 0
    stage = _default_stage(template) if stage is None else stage
    if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < len(template.depths):
        raise BudgetError(
            f"{prefix}stage={shown(stage)} is invalid: this template has stages 0 to {len(template.depths) - 1}."
        )
    if scope == "block":
        raise BudgetError(
            f"{prefix}vary='depth' cannot meet a budget at {prefix}scope='block': a block's cost does not depend on "
            f"depth; use {prefix}scope='network'."
        )
    return stage


def figures(log10: float, down: bool = False) -> str:
    """A positive number given by its base-10 logarithm, to 3 significant digits (rounded `down`: a bound that
    holds), also where it lies beyond a float's range."""
    exponent = math.floor(log10)
    mantissa = 10 ** (log10 - exponent)
    mantissa = math.floor(mantissa * 100) / 100 if down else round(mantissa, 2)
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    if abs(exponent) < 300:
        return f"{mantissa * 10.0**exponent:.3g}"
    return f"{mantissa:g}e{exponent:+03d}"


def amount(target: float) -> str:
    """A budget's target as sentences say it: a whole count with separators (207,818), its own digits below 1
    (0.00021), which a rounded count would say as 0, and 3 figures from 1e18 up (1e+308), beyond any network's
    count, where the digits would fill lines."""
    if target >= 1e18:  # beyond any network's count: its digits would say nothing more
        return f"{target:.3g}"
    if target < 1:
        return f"{target:.2g}"
    return f"{target:,}" if isinstance(target, int) else f"{target:,.0f}"


Row = Solution | BudgetError | TemplateError  # a row of `table2(..., errors=True)`


@overload
def table2(
    template: Template,
    cardinalities: Iterable[int],
    budget: Budget,
    vary: str = ...,
    stage: int | None = ...,
    errors: Literal[False] = ...,
) -> list[Solution]: ...


@overload
def table2(
    template: Template,
    cardinalities: Iterable[int],
    budget: Budget,
    vary: str = ...,
    stage: int | None = ...,
    *,
    errors: Literal[True],
) -> list[Row]: ...


def table2(
    template: Template,
    cardinalities: Iterable[int],
    budget: Budget,
    vary: str = "bottleneck_width",
    stage: int | None = None,
    errors: bool = False,
) -> list[Solution] | list[Row]:
    """Table 2 for any template: for each cardinality C, the value of `vary` (d by default) that meets `budget`.

    The one implementation: the budget CLI, the report and the benchmarks call it. `vary` cannot be
    `cardinality` (the rows are the cardinalities): `solve` gives that table's one row. Raises the first
    cardinality's `BudgetError` (or `TemplateError`); with `errors=True` a cardinality that cannot meet the
    budget gives its error in place of its solution, so that a table keeps its other rows.
    """
    cardinalities = list(cardinalities)
    if vary == "cardinality":  # each row would set its C and then solve C again: one answer, repeated
        raise BudgetError(
            f"vary='cardinality' solves C itself, so a Table 2 over the cardinalities "
            f"{', '.join(map(str, cardinalities))} has no rows: call solve(template, budget, vary='cardinality') "
            f"for the one C that meets the budget."
        )
    rows: list[Row] = []
    for c in cardinalities:
        row = solve_row(template.replace(cardinality=c), budget, vary=vary, stage=stage)
        if not errors and not isinstance(row, Solution):
            raise row
        rows.append(row)
    return rows


def solve_row(template: Template, budget: Budget, vary: str = "bottleneck_width", stage: int | None = None) -> Row:
    """`solve`'s solution, or the `BudgetError` / `TemplateError` that says why there is none: a table's row."""
    try:
        return solve(template, budget, vary=vary, stage=stage)
    except (BudgetError, TemplateError) as e:
        return e

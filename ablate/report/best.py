"""Which settings may be the best: Hsu's multiple comparisons with the best (MCB).

A search, or any sweep with repeats, asks which setting is best, not how each compares with an arbitrary
reference; and the setting with the lowest mean is partly the luckiest (the winner's curse). MCB answers
that question with simultaneous confidence intervals (Hsu 1996, *Multiple Comparisons*, ch. 4): for every
setting i, an interval for μ_i − min_{j≠i} μ_j, the gap between its true error and the best of the others:

    [min(0, D_i − h), max(0, D_i + h)],  D_i = m_i − min_{j≠i} m_j,  h = d · s · √(2/n)

where m are the settings' mean errors over the n seeds they all ran, s is the residual standard deviation of
the settings × seeds layout (each seed's effect removed, as pairing by seed does; (k − 1)(n − 1) degrees of
freedom), and d is the one-sided Dunnett critical value for k − 1 comparisons: the 1 − α quantile of the
largest of k − 1 t variables with correlation ½ (`dunnett_critical`). All k intervals
hold together with probability at least 1 − α, and so do the verdicts read from them:

- `the best`: D_i < −h, the interval is [.., 0]: no other setting has a lower error;
- `not the best`: D_i > h, the interval is [0, ..]: another setting's error is as low or lower;
- `may be the best` otherwise; `within ±δ of the best` where, besides, the interval's top is below δ
  (`report.resolution`): even if another is better, it is better by less than δ.

So the true best is called `not the best` with probability at most α: the settings not so called are a 1 − α
confidence set for the best (Gupta's subset selection, which MCB contains).

The layout must be complete: the settings compared are the most that share two or more seeds, on every seed
they share (their other runs are left out and counted); a setting outside it is named as left out, since a
setting left out of the comparison matters more than a seed left out of every mean. Errors are lower-is-better
throughout. The model assumes the settings' seed-to-seed noise is alike, as the pooled standard deviation under
the table does. An adaptive sweep (`+repeats=auto`) gets no MCB: which seeds its settings share depends on when
each stopped, that is on its data, which a fixed-sample interval does not allow for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05


@dataclass(frozen=True)
class Best:
    """MCB over a sweep's settings: what was compared, the critical half-width, each setting's interval and verdict."""

    settings: tuple[str, ...]  # the settings compared, in sweep order
    seeds: tuple  # the seeds every compared setting ran
    left_out: tuple[str, ...]  # settings with a completed run that are not compared (fewer runs, or other seeds)
    extra_runs: int  # runs of compared settings on other seeds, left out
    std: float  # s: residual std of the settings × seeds layout
    df: int  # its degrees of freedom, (k − 1)(n − 1)
    critical: float  # d: one-sided Dunnett critical value for k − 1 comparisons at df
    half_width: float  # h = d · s · √(2/n), in points
    gap: dict[str, float]  # D_i = m_i − min of the others' means
    low: dict[str, float]
    high: dict[str, float]
    verdict: dict[str, str]
    confidence: float

    def by_verdict(self) -> dict[str, list[str]]:
        """Verdict → its settings in sweep order: the best, those within ±δ of it, those that may be, those not."""
        groups: dict[str, list[str]] = {}
        for s in self.settings:
            groups.setdefault(self.verdict[s], []).append(s)
        rank = {"the": 0, "within": 1, "may": 2, "not": 3}
        return dict(sorted(groups.items(), key=lambda item: rank[item[0].split()[0]]))


@dataclass(frozen=True)
class NotJudged:
    """Why no MCB could be computed for a sweep with repeats."""

    reason: str


def compare_with_best(
    by_seed: Mapping[str, Mapping[object, float]], resolution: float, alpha: float = ALPHA
) -> Best | NotJudged | None:
    """MCB over the settings of `by_seed` (setting → seed → top-1 error, one run per seed), in its order.

    None where fewer than two settings have two or more runs (nothing to compare; the table says so already);
    `NotJudged` where they have, but share fewer than two seeds, or show no noise to judge by.
    """
    repeated = [s for s, runs in by_seed.items() if len(runs) >= 2]
    if len(repeated) < 2:
        return None
    candidates, seeds = _largest_layout({s: set(by_seed[s]) for s in repeated})
    if len(candidates) < 2:
        return NotJudged(f"no two of the {len(repeated)} settings with repeats share two seeds")
    order = sorted(seeds, key=lambda x: (str(type(x)), x))
    y = np.array([[by_seed[s][seed] for seed in order] for s in candidates], dtype=float)  # settings × seeds
    k, n = y.shape
    variance, df = pooled_variance({s: {seed: by_seed[s][seed] for seed in order} for s in candidates})
    std = math.sqrt(variance)
    if not std > 1e-9 * max(1.0, float(np.abs(y).max())):  # every difference the same on every seed (to rounding):
        # as the paired test does, take it as no evidence
        return NotJudged(
            f"the {k} settings differ by the same amount on each of their {n} seeds, so their seed-to-seed noise "
            "cannot be estimated"
        )
    d = dunnett_critical(k - 1, df, alpha)
    h = d * std * math.sqrt(2.0 / n)
    means = y.mean(axis=1)
    gap, low, high, verdict = {}, {}, {}, {}
    for i, s in enumerate(candidates):
        gap[s] = float(means[i] - np.delete(means, i).min())
        low[s], high[s] = min(0.0, gap[s] - h), max(0.0, gap[s] + h)
        verdict[s] = _verdict(gap[s], h, high[s], resolution)
    left_out = tuple(s for s, runs in by_seed.items() if runs and s not in gap)
    extra = sum(len(by_seed[s]) - n for s in candidates)
    return Best(tuple(candidates), tuple(order), left_out, extra, std, df, d, h, gap, low, high, verdict, 1 - alpha)


def _largest_layout(seeds_of: Mapping[str, set]) -> tuple[list[str], set]:
    """The most settings that share two or more seeds, and every seed they share: a setting left out of the
    comparison matters more than a seed left out of every setting's mean."""
    every = sorted(set().union(*seeds_of.values()), key=lambda x: (str(type(x)), x))
    most: list[str] = []
    for i, a in enumerate(every):
        for b in every[i + 1 :]:
            having = [s for s, seeds in seeds_of.items() if a in seeds and b in seeds]
            if len(having) > len(most):
                most = having
    return most, set.intersection(*(seeds_of[s] for s in most)) if most else set()


def _verdict(gap: float, h: float, high: float, resolution: float) -> str:
    if gap + h < 0.0:
        return "the best"
    near = high < resolution
    if gap - h > 0.0:
        return f"not the best, within ±{resolution:g}" if near else "not the best"
    return f"within ±{resolution:g} of the best" if near else "may be the best"


@functools.lru_cache(maxsize=256)
def dunnett_critical(comparisons: int, df: float, alpha: float = ALPHA) -> float:
    """The one-sided Dunnett critical value: P(max of `comparisons` t variables, correlation ½, `df` degrees of
    freedom, ≤ d) = 1 − α. One comparison is Student's t quantile; more, the root of `_equicorrelated_t_cdf`."""
    if comparisons < 1 or not df > 0:
        raise ValueError(f"Dunnett's critical value needs ≥ 1 comparison and df > 0, got {comparisons} and {df}")
    low = float(stats.t.ppf(1 - alpha, df))  # one comparison needs no more
    if comparisons == 1:
        return low
    high = float(stats.t.ppf(1 - alpha / comparisons, df))  # Bonferroni's bound needs no less

    def excess(d: float) -> float:
        return _equicorrelated_t_cdf(d, comparisons, df) - (1 - alpha)

    return float(optimize.brentq(excess, low, 1.05 * high, xtol=1e-7))


MAX_SEEDS = 100_000  # seeds_for's search stops here


def planned_half_width(settings: int, seeds: int, std: float, alpha: float = ALPHA) -> float:
    """h = d·s·√(2/n) for `settings` settings on `seeds` seeds each at residual std `std`: the gap such a sweep
    tells apart (d, the one-sided Dunnett value, at the complete layout's (k − 1)(n − 1) degrees of freedom)."""
    return dunnett_critical(settings - 1, (settings - 1) * (seeds - 1), alpha) * std * math.sqrt(2.0 / seeds)


def seeds_for(target: float, settings: int, std: float, alpha: float = ALPHA) -> int:
    """The fewest seeds per setting at which h = d·s·√(2/n) is at most `target` points for `settings` settings
    whose residual std is `std` (d at (k − 1)(n − 1) degrees of freedom): a planning figure, since s is itself an
    estimate. h falls as n grows (d with its degrees of freedom, and √(2/n)), so bisection finds it."""

    def h(n: int) -> float:
        return planned_half_width(settings, n, std, alpha)

    if h(2) <= target:
        return 2
    low, high = 2, 4  # h(low) > target >= h(high)
    while h(high) > target and high < MAX_SEEDS:
        low, high = high, min(2 * high, MAX_SEEDS)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if h(mid) <= target else (mid, high)
    return high


_NODES = 128  # Gauss–Legendre nodes over the scale's quantiles, Gauss–Hermite nodes over the shared normal


def _equicorrelated_t_cdf(d: float, m: int, df: float) -> float:
    """P(max_i X_i ≤ d) for m t variables with correlation ½ and `df` degrees of freedom, exactly as a 2-D integral:
    X_i = (Z_i + Z_0) / (√2 S) with Z standard normal and S = √(χ²_df / df), so that

        P = E_S [ ∫ φ(z) Φ(√2 d S − z)^m dz ],

    integrated by Gauss–Hermite over z and Gauss–Legendre over S's quantiles (`scipy.stats.chi.ppf`): deterministic,
    at a cost that does not grow with m, where `scipy.stats.multivariate_t.cdf`'s quasi-Monte Carlo grows with m
    (too slow for a report of a hundred settings). tests/test_best.py checks the two agree, and the critical value
    against `scipy.stats.dunnett`."""
    u, wu = np.polynomial.legendre.leggauss(_NODES)
    z, wz = np.polynomial.hermite_e.hermegauss(_NODES)
    s = stats.chi.ppf((u + 1) / 2, df, scale=1 / math.sqrt(df))
    inner = stats.norm.cdf(math.sqrt(2) * d * s[:, None] - z[None, :]) ** m @ (wz / math.sqrt(2 * math.pi))
    return float(inner @ (wu / 2))


def pooled_variance(
    errors: Mapping[str, Mapping[Any, float]], held: Mapping[str, int] | None = None
) -> tuple[float, int]:
    """The residual variance σ² of the settings × seeds two-way layout (setting + seed effects, least squares) over
    each setting's runs (with `held`, an adaptive sweep's look: only seeds below `held[setting]` of the settings it
    names), and its degrees of freedom (runs − rank). Missing cells are allowed: least squares fits what is there."""
    cells = [
        (s, seed, e)
        for s, by_seed in errors.items()
        if held is None or s in held
        for seed, e in by_seed.items()
        if held is None or seed < held[s]
    ]
    if not cells:
        return math.nan, 0
    rows = {s: i for i, s in enumerate(dict.fromkeys(s for s, _, _ in cells))}
    columns = {seed: len(rows) + j for j, seed in enumerate(dict.fromkeys(seed for _, seed, _ in cells))}
    design = np.zeros((len(cells), len(rows) + len(columns)))
    for i, (s, seed, _) in enumerate(cells):
        design[i, rows[s]] = design[i, columns[seed]] = 1.0
    y = np.array([e for _, _, e in cells])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    df = len(y) - int(rank)
    if df < 1:
        return math.nan, 0
    residual = y - design @ coef
    return float(residual @ residual / df), df

"""Adaptive repeats: a group-sequential rule that spends seeds only on settings still undecided.

The plan is fixed before the sweep starts: every setting runs seeds 0…`min`−1 (look 1); after each
look, every setting whose verdict is still open, and the reference while any is, gets `batch` more
seeds, up to `max`. The looks are n₁ = min, n₂ = min + batch, …, n_K = max. At a look a setting
is `better`, `worse` or `equivalent within ±δ` (δ = `report.resolution`) and stops; or it stops
`undecided` because it has little chance of a verdict by `max`; or it waits for the next look.

Why this rule (each part was chosen on simulated sweeps, `benchmarks/repeats.py`, against the
Bonferroni split it replaces: p < α/(K·m) for every look and comparison, each Δ tested by its own
paired t):

- **Pooled variance.** Δ of a setting is still paired by seed (the mean over the seeds it shares
  with the reference), but its standard error comes from the residual variance of a settings ×
  seeds two-way layout (setting effect + seed effect + noise, least squares over every run the
  look holds): the seed effect keeps the pairing, and the residual has about (S − 1)(n − 1)
  degrees of freedom over S settings instead of n − 1 for one pair. With 3 seeds a paired t has
  2 degrees of freedom, so a corrected level needs |t| near 20 and nothing is decided early. The
  price is an assumption: the seed-to-seed noise is the same in every setting (a setting much
  noisier than the rest gets too narrow an interval).
- **Group-sequential boundaries instead of a split over looks.** The test statistics of one
  setting at successive looks are correlated (√(n_j/n_k) between looks j < k), so a boundary that
  accounts for it wastes far less α than α/K per look. The nominal levels come from a Lan–DeMets
  α-spending function evaluated at the planned information fractions t_k = n_k/max: look k's
  two-sided critical value c_k solves P(|Z₁| < c₁, …, |Z_k| < c_k) = 1 − α(t_k) for the
  multivariate normal of the looks (`boundary`: recursive numerical integration, checked in the
  tests against SciPy's `multivariate_normal` and against simulated paths). The variance is
  estimated, so each look compares its t test's p-value with the nominal level 2(1 − Φ(c_k)) (the
  significance-level approach of Jennison & Turnbull, Group Sequential Methods, 2000).
  Better/worse uses the Pocock-type function α·ln(1 + (e − 1)t) (`Plan.spending`): large
  differences are clear at the first looks, and it spends much of α there. Functions that spend
  later (α·t, α·t², O'Brien–Fleming-type) bring the last look's boundary closer to a fixed n's
  test, but stop later; the benchmark's table by spending function weighs the two.
- **Holm within a look instead of Bonferroni over m.** The m comparisons with the reference start
  at α/m each; a setting found better or worse passes its share on to those not yet rejected, at
  this look and the later ones (the graphical procedure for group-sequential tests of Maurer &
  Bretz, 2013). A setting that stops equivalent or undecided keeps its share: it was not rejected.
- **Equivalence, the same way.** `equivalent within ±δ` when the repeated confidence interval of
  Δ at the look lies inside ±δ: Δ ± t·SE with the two-sided boundary for α spent by α·t², so the
  intervals of all looks cover Δ together with probability 1 − α (the fixed report's 95%) and the
  chance of a false equivalence stays at α/2 per side. Equivalence needs many seeds whatever the
  rule, so this function keeps α for the last looks, where the interval is close to the fixed
  report's.
- **Looks after every seed, from two.** The default plan (min 2, batch 1) looks at 2, 3, …, 10
  seeds. More looks cost little α (the boundaries account for their correlation) and stop each
  setting at the first seed that decides it; two seeds make a first look because the pooled
  variance then has S − 1 degrees of freedom (a sweep of one comparison has one, so it decides
  nothing there and waits). On the benchmark's simulated sweeps this spends fewer runs than
  min 3, batch 2 at the same agreement with a fixed n = max and the same error rate; the price
  is more rounds of launches, each waiting for the runs of the last look.
- **Stopping undecided (futility).** After a look before the last, a setting stops `undecided`
  when the predictive probability (Spiegelhalter, Freedman & Blackburn, 1986: its mean at `max`
  given the look's Δ and pooled variance, flat prior, Student t) that the rule reaches any verdict
  at `max` is below `Plan.futility`, and a difference of 2δ is no longer plausible (the one-sided
  95% bound of |Δ| lies below 2δ): a fixed n = max would most likely leave such a setting
  undecided too, and running it to `max`, with the reference, was most of what the Bonferroni rule
  spent; the 2δ guard keeps an early, unlucky estimate from giving up a difference of the size a
  sweep is meant to find. The stop is non-binding: the boundaries assume every setting could go
  on, so stopping early only removes chances of a false verdict. The threshold trades runs for
  agreement with a fixed n = max (the benchmark's table by threshold shows how).

So the chance of any false `better`/`worse` in the sweep stays at or below α: each comparison's
boundaries hold its share over all looks, Holm's recycling keeps the family at α, and stopping
early (equivalent, undecided) only removes chances to reject. That holds exactly for a known
variance and approximately for the estimated one; the simulation test in tests/test_repeats.py
checks it over many sweeps with no true difference.

`replay(runs, …)` recomputes every decision from the run records alone: the decision at look k
uses only the runs the plan had made by then (every seed below n_k of the settings still open and
the reference, the seeds of its last look for a setting that stopped), so the sweeper choosing its
next launches, a resumed sweep, and the report of the folder all reach the same decisions from the
same records. The boundaries depend only on the plan and the number of comparisons.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sp

from ablate.errors import ConfigError, shown
from ablate.report import stats
from ablate.report.best import pooled_variance
from ablate.report.options import Options

PLAN_FILE = "repeats.json"  # in the sweep folder: the plan the sweep started with, and where each setting stands
FINISHED = ("completed", "diverged", "failed")  # a run that will not produce more data if launched again
MAX_LOOKS = 100  # a plan's looks at most: each look's boundary is a numerical integration, once per Holm share
FUTILITY = 0.3  # stop undecided below this predictive probability of a verdict by max (see the module docstring)
PLAUSIBLE = 0.05  # … but not while |Δ| ≥ 2δ is inside the one-sided (1 − PLAUSIBLE) bound


def pocock_type(alpha: float, t: float) -> float:
    """Lan–DeMets Pocock-type spending: α·ln(1 + (e − 1)t), α spent by information fraction t."""
    return alpha * math.log1p((math.e - 1) * t)


def obrien_fleming_type(alpha: float, t: float) -> float:
    """Lan–DeMets O'Brien–Fleming-type spending, α/2 per side: 2·(2 − 2Φ(z_{α/4}/√t))."""
    return float(4 * sp.norm.sf(sp.norm.isf(alpha / 4) / math.sqrt(t)))


def linear(alpha: float, t: float) -> float:
    """Kim–DeMets power-family spending with ρ = 1: α·t, α spent in proportion to the seeds run."""
    return alpha * t


def quadratic(alpha: float, t: float) -> float:
    """Kim–DeMets power-family spending with ρ = 2: α·t², little α at the first looks, most at the last."""
    return alpha * t**2


SPENDING: dict[str, Callable[[float, float], float]] = {
    "pocock": pocock_type,
    "linear": linear,
    "obrien-fleming": obrien_fleming_type,
    "t^2": quadratic,
}
SPENDING_NAMES = {  # as the report's notes name them
    "pocock": "a Lan–DeMets Pocock-type function",
    "linear": "the spending function α·t",
    "obrien-fleming": "a Lan–DeMets O'Brien–Fleming-type function",
    "t^2": "the spending function α·t²",
}
EFFICACY = "pocock"  # better/worse: spend early, where large differences are clear
EQUIVALENCE = "t^2"  # equivalence within ±δ: needs many seeds, so keep α for the last looks


@dataclass(frozen=True)
class Plan:
    """The planned looks and error rates of an adaptive sweep (`hydra.sweeper.min/max/batch/alpha`)."""

    min: int = 2
    max: int = 10
    batch: int = 1
    alpha: float = 0.05
    resolution: float = 0.2  # δ, `report.resolution`
    futility: float = FUTILITY  # stop undecided below this predictive probability of a verdict by max
    spending: str = EFFICACY  # how better/worse spends α over the looks: a name of SPENDING

    @property
    def looks(self) -> tuple[int, ...]:
        """The seed counts at which the data are looked at: min, min + batch, …, max."""
        out = list(range(self.min, self.max, self.batch))
        return (*out, self.max)

    def efficacy(self, open_: int) -> tuple[float, ...]:
        """Per look, the p-value below which a setting is better or worse while `open_` comparisons are not
        yet rejected (Holm: α/open_, spent over the looks by `spending`)."""
        return boundary(self.looks, self.alpha / max(open_, 1), self.spending)

    def test_level(self, comparisons: int) -> float:
        """The p-value below which a setting is called better or worse at the first look, before any is."""
        return self.efficacy(comparisons)[0]

    @property
    def equivalence(self) -> tuple[float, ...]:
        """Per look, the two-sided level of the repeated confidence interval that must lie inside ±δ."""
        return boundary(self.looks, self.alpha, EQUIVALENCE)

    @property
    def confidence(self) -> float:
        """The simultaneous confidence of the repeated intervals of Δ over all looks: 1 − α."""
        return 1 - self.alpha

    def to_dict(self) -> dict:
        return {**asdict(self), "looks": list(self.looks)}


def plan(min: int, max: int, batch: int, alpha: float, resolution: float, prefix: str = "hydra.sweeper.") -> Plan:
    """A checked `Plan`; `ConfigError` (one sentence naming the override) for values it cannot run."""
    for name, value, least in (("min", min, 2), ("max", max, 2), ("batch", batch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            why = " (a difference needs two runs of a setting to be judged)" if name == "min" else ""
            raise ConfigError(
                f"{prefix}{name}={shown(value)} is invalid: give a whole number of at least {least}{why}."
            )
    if min > max:
        raise ConfigError(f"{prefix}min={min} is more than {prefix}max={max}: give min ≤ max.")
    looks = len(range(min, max, batch)) + 1
    if looks > MAX_LOOKS:
        least = -(-(max - min) // (MAX_LOOKS - 1))  # the smallest batch that makes at most MAX_LOOKS looks
        raise ConfigError(
            f"{prefix}max={max} makes {looks:,} looks at {prefix}min={min} and {prefix}batch={batch}, more than the "
            f"{MAX_LOOKS} whose boundaries ablate computes: give {prefix}batch={least} or more, or a smaller max."
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(
            f"{prefix}alpha={shown(alpha)} is invalid: give the error rate as a fraction between 0 and 1, such as 0.05."
        )
    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution) and resolution > 0):
        raise ConfigError(
            f"report.resolution={shown(resolution)} is invalid: the resolution δ must be a positive number "
            "of top-1 error points, such as 0.2."
        )
    return Plan(min, max, batch, float(alpha), float(resolution))


GRID = 401  # points of the numerical integration over a look's continuation region (odd: Simpson's rule)
TAIL = 9.0  # a look with nothing left to spend continues everywhere; its region is cut at ±TAIL standard deviations


@functools.lru_cache(maxsize=256)
def boundary(looks: tuple[int, ...], alpha: float, spending: str) -> tuple[float, ...]:
    """The nominal two-sided levels of a group-sequential test at `looks` (seed counts), α spent by `spending`.

    Z_k, the standardised mean difference after n_k seeds, is B(t_k)/√t_k for a Brownian motion B at the
    information fractions t_k = n_k/n_K, so corr(Z_j, Z_k) = √(n_j/n_k) (j < k). Look k's critical value c_k
    makes the chance of first crossing at look k the α spent between looks k − 1 and k. That chance comes
    from the recursive numerical integration of Armitage, McPherson and Rowe (1969; Jennison and Turnbull,
    Group Sequential Methods, 2000, ch. 19): the sub-density of B(t_{k−1}) on the region no earlier look
    crossed, carried forward by the normal increment (SciPy's normal distribution) — exact up to the
    quadrature, and fast for any number of looks. The level returned is 2(1 − Φ(c_k)).
    """
    spend = SPENDING[spending]
    t = np.asarray(looks, dtype=float) / looks[-1]
    critical: list[float] = []
    density = grid = weights = None  # sub-density of B(t_{k−1}) on the region not yet crossed
    spent = 0.0
    for k in range(len(t)):
        total = min(spend(alpha, float(t[k])), alpha)  # α spent by look k
        if k == 0:
            c = float(sp.norm.isf(total / 2)) if total > 0 else math.inf
            cross = 2 * float(sp.norm.sf(c))
        else:
            carried = (density, grid, weights, math.sqrt(t[k] - t[k - 1]), math.sqrt(t[k]))
            target = total - spent
            if target <= 0:
                c, cross = math.inf, 0.0
            else:  # at c = 0 everything not yet crossed crosses; at TAIL·4 practically nothing does
                c = float(optimize.brentq(lambda c, a=carried, x=target: _first_cross(c, *a) - x, 0.0, 4 * TAIL))
                cross = _first_cross(c, *carried)
        critical.append(c)
        spent += cross
        if k + 1 < len(t):
            density, grid, weights = _carry(density, grid, weights, c, float(t[k]), float(t[k - 1]) if k else 0.0)
    return tuple(float(2 * sp.norm.sf(c)) for c in critical)


def _first_cross(c: float, density, grid, weights, sd: float, root_t: float) -> float:
    """P(no earlier crossing, then |B(t)| ≥ c·√t) from the sub-density of B at the last look, sd the increment's."""
    outside = sp.norm.sf((c * root_t - grid) / sd) + sp.norm.cdf((-c * root_t - grid) / sd)
    return float(weights @ (density * outside))


def _carry(density, grid, weights, c: float, t: float, before: float):
    """The sub-density of B(t) on |B(t)| < c·√t (cut at ±TAIL·√t), from that of B(before) (None: B(0) = 0)."""
    half = min(c, TAIL) * math.sqrt(t)
    points = np.linspace(-half, half, GRID)
    step = points[1] - points[0]
    simpson = np.ones(GRID)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    simpson *= step / 3
    if density is None:
        new = sp.norm.pdf(points, scale=math.sqrt(t))
    else:
        sd = math.sqrt(t - before)
        new = sp.norm.pdf((points[:, None] - grid[None, :]) / sd) / sd @ (weights * density)
    return new, points, simpson


@dataclass(frozen=True)
class Decision:
    """Where one setting stands: its verdict, whether it is final, and why it stopped (or what it waits for)."""

    setting: str
    verdict: str
    final: bool
    look: int  # the look it was decided at, or the one it waits for
    seeds: int  # the seeds planned up to that look
    reason: str
    comparison: stats.Comparison | None = None
    level: float = math.nan  # the p-value below which it would have been better/worse at that look


@dataclass
class State:
    """The sweep after replaying its records: every setting's decision, and the runs the next look still needs."""

    decisions: dict[str, Decision]
    pending: list[tuple[str, int]] = field(default_factory=list)  # (setting, seed) to launch now
    look: int = 1

    @property
    def done(self) -> bool:
        return not self.pending


@dataclass(frozen=True)
class Look:
    """One setting against the reference at one look: Δ paired by seed, its SE from the pooled variance."""

    comparison: stats.Comparison
    se: float  # standard error of Δ (NaN: not testable)
    pairs: int  # seeds shared with the reference
    scale: float  # the pooled standard deviation of one seed's difference (√2·σ)


def replay(
    runs: pd.DataFrame, settings: Sequence[str], reference: str, plan: Plan, launched: Collection[tuple[str, int]] = ()
) -> State:
    """Every setting's decision from the records (`collect`'s runs frame), look by look.

    `launched` are (setting, seed) runs this sweeper already started and that left no finished
    record: they count as run (failed), so a job that dies before its record cannot loop forever.
    """
    seeds = pd.to_numeric(runs.seed, errors="coerce") if len(runs) else pd.Series(dtype=float)
    finished = {
        (s, int(seed))
        for s, seed, status in zip(runs.setting, seeds, runs.status, strict=True)
        if status in FINISHED and pd.notna(seed)
    } | set(launched)
    errors = _errors(runs, settings)
    others = [s for s in settings if s != reference]
    looks = plan.looks
    last = len(looks)
    decisions: dict[str, Decision] = {}
    stopped: dict[str, int] = {}  # setting → seeds of the look it stopped at
    open_ = list(others)
    rejected = 0
    k = 1
    for k, n in enumerate(looks, 1):
        need = [reference, *open_] if (open_ or k == 1) else []
        pending = [(s, seed) for s in need for seed in range(n) if (s, seed) not in finished]
        if pending:
            for s in open_:
                got = sum(1 for seed in errors.get(s, {}) if seed < n)
                decisions[s] = Decision(
                    s, f"undecided (n={got})", False, k, n, f"waiting for look {k} of {last} ({n} seeds)"
                )
            decisions[reference] = Decision(
                reference, stats.REFERENCE, False, k, n, f"the reference: waiting for look {k} of {last} ({n} seeds)"
            )
            return State(decisions, pending, k)
        # a setting none of whose runs so far completed cannot be judged, and its next seeds would fail alike
        # (a budget out of reach, a bad config): it stops; so does everything when the reference's all failed
        if not any(seed < n for seed in errors[reference]):
            for s in open_:
                c = _untestable(len(errors[s]), 0)
                decisions[s] = Decision(
                    s, _undecided(c, plan.resolution), True, k, n, "the reference's runs all failed"
                )
            decisions[reference] = Decision(
                reference, stats.REFERENCE, True, k, n, f"the reference: none of its {n} runs completed"
            )
            return State(decisions, [], k)
        for s in [s for s in open_ if not any(seed < n for seed in errors[s])]:
            c = _untestable(0, sum(seed < n for seed in errors[reference]))
            why = f"none of its {n} runs completed: stopped without more seeds"
            decisions[s] = Decision(s, _undecided(c, plan.resolution), True, k, n, why)
            open_.remove(s)
            stopped[s] = n
        held = {s: stopped.get(s, n) for s in settings}  # the seeds each setting had been planned by this look
        variance = pooled_variance(errors, held)
        now = {s: _look(errors, s, reference, held, variance, plan.equivalence[k - 1]) for s in open_}
        # better / worse: Holm's step-down within the look, on the boundaries of the comparisons not yet rejected
        while True:
            level = plan.efficacy(len(others) - rejected)[k - 1]
            hits = [s for s in open_ if now[s].comparison.p < level]
            if not hits:
                break
            for s in hits:
                c = now[s].comparison
                verdict = "better" if c.delta < 0 else "worse"
                decisions[s] = _stop(s, verdict, k, n, last, now[s], plan, level)
                open_.remove(s)
                stopped[s] = n
            rejected += len(hits)
        # equivalent, or stopped undecided: at the last look, or with little chance of a verdict by max
        level = plan.efficacy(len(others) - rejected)[k - 1] if open_ else math.nan
        continuing = len(open_) + 1  # with the reference
        for s in list(open_):
            look = now[s]
            c = look.comparison
            reason = None
            if c.test != stats.NONE and -plan.resolution < c.low and c.high < plan.resolution:
                verdict = f"equivalent within ±{plan.resolution:g}"
            elif k == last:
                verdict, reason = _undecided(c, plan.resolution), f"still undecided at max={n} seeds"
            else:
                chance = _chance(look, n, plan, len(others) - rejected, continuing)
                if chance >= plan.futility:
                    continue
                verdict = _undecided(c, plan.resolution)
                reason = (
                    f"undecided at look {k} of {last} ({n} seeds): a {chance:.0%} chance of a verdict by max={plan.max}"
                )
            decisions[s] = _stop(s, verdict, k, n, last, look, plan, level, reason)
            open_.remove(s)
            stopped[s] = n
        if not open_:
            decisions[reference] = Decision(
                reference, stats.REFERENCE, True, k, n, f"the reference: {n} seeds, until every other setting stopped"
            )
            break
    return State(decisions, [], k)


def _stop(
    s: str, verdict: str, k: int, n: int, last: int, look: Look, plan: Plan, level: float, reason: str | None = None
) -> Decision:
    why = reason or f"{verdict} at look {k} of {last} ({n} seeds)"
    return Decision(s, verdict, True, k, n, why, look.comparison, level)


def _undecided(c: stats.Comparison, resolution: float) -> str:
    if c.test == stats.NONE:
        return stats.verdict(c, math.nan, resolution)
    return f"undecided ({stats.counts(c)})"


def _errors(runs: pd.DataFrame, settings: Iterable[str]) -> dict[str, dict[int, float]]:
    """Setting → seed → top-1 error of its completed runs (a seed recorded twice, or none, is left out)."""
    done = stats.completed(runs)
    out: dict[str, dict[int, float]] = {s: {} for s in settings}
    twice: set[tuple[str, int]] = set()
    seeds = pd.to_numeric(done.seed, errors="coerce") if len(done) else pd.Series(dtype=float)
    for s, seed, err in zip(done.setting, seeds, done[stats.ERROR], strict=True):
        if s not in out or pd.isna(seed) or not math.isfinite(float(err)):
            continue
        key = int(seed)
        if key in out[s]:
            twice.add((s, key))
        out[s][key] = float(err)
    for s, key in twice:
        del out[s][key]
    return out


def _untestable(n: int, reference_n: int) -> stats.Comparison:
    """A comparison without a test: no seeds shared with the reference, or no seed-to-seed variance yet."""
    return stats.Comparison(stats.NONE, n, reference_n, 0, math.nan, math.nan, math.nan, math.nan, math.nan)


def _look(
    errors: dict[str, dict[int, float]],
    s: str,
    reference: str,
    held: dict[str, int],
    variance: tuple[float, int],
    level: float,
) -> Look:
    """Δ of `s` against the reference on the seeds they share below the look, its SE from the pooled variance,
    p of its t test and its repeated confidence interval at two-sided `level`."""
    mine = {seed: e for seed, e in errors[s].items() if seed < held[s]}
    ref = {seed: e for seed, e in errors[reference].items() if seed < held[reference]}
    shared = sorted(set(mine) & set(ref))
    sigma2, df = variance
    if not shared or not df or not math.isfinite(sigma2):
        return Look(_untestable(len(mine), len(ref)), math.nan, 0, math.nan)
    pairs = len(shared)
    scale = math.sqrt(2 * sigma2)
    se = scale / math.sqrt(pairs)
    delta = float(np.mean([mine[seed] - ref[seed] for seed in shared]))
    if se > 0:
        p = float(2 * sp.t.sf(abs(delta) / se, df))
    else:  # no residual variation at all: any difference is certain, none is none
        p = 0.0 if delta else 1.0
    half = float(sp.t.isf(level / 2, df)) * se
    left_out = len(mine) + len(ref) - 2 * pairs
    c = stats.Comparison(stats.PAIRED, pairs, pairs, left_out, delta, delta - half, delta + half, float(df), p)
    return Look(c, se, pairs, scale)


def _chance(look: Look, n: int, plan: Plan, open_: int, continuing: int) -> float:
    """The predictive probability that the setting reaches a verdict at the last look: its final Δ is Student t
    about the look's Δ with the pooled variance (flat prior), and a verdict is |Δ| beyond the efficacy boundary
    of the comparisons still `open_`, or the repeated CI inside ±δ. `continuing`: the settings that go on."""
    c = look.comparison
    if c.test == stats.NONE:
        return 1.0  # nothing to judge yet: keep going
    if abs(c.delta) + float(sp.t.isf(PLAUSIBLE, c.df)) * look.se >= 2 * plan.resolution:
        return 1.0  # a difference of 2δ, the size a sweep is meant to find, is still plausible: keep going
    pairs = look.pairs + plan.max - n  # the seeds it will share with the reference at max
    spread = look.scale * math.sqrt((pairs - look.pairs) / (pairs * look.pairs))
    if not spread > 0:
        return 1.0
    final_df = c.df + (plan.max - n) * max(continuing - 1, 0)  # each new seed adds one run per setting, one effect
    se_final = look.scale / math.sqrt(pairs)
    cut = float(sp.t.isf(plan.efficacy(open_)[-1] / 2, final_df)) * se_final
    margin = plan.resolution - float(sp.t.isf(plan.equivalence[-1] / 2, final_df)) * se_final
    # the final Δ is c.delta + spread·T with T ~ Student t (c.df): the chance it lands where a verdict is
    at = (np.array([-cut, cut, -margin, margin]) - c.delta) / spread
    below = sp.t.cdf(at, c.df)
    chance = float(below[0] + 1 - below[1])
    if margin > 0:
        chance += float(below[3] - below[2])
    return min(chance, 1.0)


def write_plan(sweep_dir: Path, plan: Plan, settings: Iterable[str], reference: str, state: State) -> Path:
    """`repeats.json`: the plan, the reference, and each setting's decision and reason (for people and the report)."""
    from ablate.report.output import write_text

    settings = list(settings)
    m = len(settings) - 1
    body = {
        "plan": plan.to_dict(),
        "reference": reference,
        "settings": settings,
        "boundaries": {  # per look; Holm raises the first as settings are found better or worse
            f"better_or_worse_p_below_with_{m}_open": list(plan.efficacy(m)),
            "equivalence_interval_level": [1 - a for a in plan.equivalence],
        },
        "decisions": {
            s: {"verdict": d.verdict, "final": d.final, "look": d.look, "seeds": d.seeds, "reason": d.reason}
            for s, d in state.decisions.items()
        },
    }
    return write_text(Path(sweep_dir) / PLAN_FILE, json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def read_plan(sweep_dir: Path) -> tuple[Plan, str, list[str]] | None:
    """The plan, reference and settings an adaptive sweep wrote, or None for any other sweep."""
    try:
        body = json.loads((Path(sweep_dir) / PLAN_FILE).read_text())
        p = body["plan"]
        return (
            Plan(int(p["min"]), int(p["max"]), int(p["batch"]), float(p["alpha"]), float(p["resolution"])),
            str(body["reference"]),
            [str(s) for s in body["settings"]],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe(plan: Plan, comparisons: int) -> str:
    """How the verdicts of an adaptive sweep were reached, in a few sentences for under its table."""
    looks = plan.looks
    delta = f"{plan.resolution:g}"
    return (
        f"Adaptive repeats (`hydra/sweeper=ablate_repeats`, repeats.json): every setting ran {plan.min} seeds, "
        f"then the undecided ones (and the reference) {plan.batch} more per look, up to {plan.max}: looks at "
        f"{', '.join(map(str, looks))} seeds. At a look, Δ is paired by seed and its variance pooled over all "
        "settings (the residual of a settings × seeds layout, column test_df in table.csv). Better or worse where "
        f"the look's p is below its group-sequential boundary: α={plan.alpha:g} is shared by Holm over the "
        f"m={comparisons} comparisons (a setting found better or worse passes its share on) and spent over the "
        f"K={len(looks)} looks by {SPENDING_NAMES[plan.spending]} (at look 1, p < "
        f"{plan.test_level(comparisons):.3g}); column p (adj.) is p·α over the boundary it faced, below α where it "
        f"crossed. Equivalent within ±{delta} where the {100 * plan.confidence:.4g}% repeated CI of Δ (simultaneous "
        f"over the looks) lies inside ±{delta} points. A setting stops undecided once its predictive chance of a "
        f"verdict by {plan.max} seeds is below {plan.futility:.0%} and a difference of 2δ is no longer plausible. "
        "So the chance of any false better or worse in the table stays at or below α (for seed-to-seed noise "
        "alike in every setting)."
    )


def analyse(runs: pd.DataFrame, options: Options, stored: tuple[Plan, str, list[str]]) -> stats.Analysis:
    """The report's analysis of an adaptive sweep: each setting's Δ, repeated CI and p at the look where it
    stopped, the sequential verdict and why it stopped; p adjusted as p·α over the boundary it faced.

    Raises `ConfigError` when the report is asked for another reference or δ than the sweep was planned with:
    the sequential verdicts hold for those only.
    """
    plan, reference, keys = stored
    settings = list(dict.fromkeys([*keys, *runs.setting]))
    labels = runs.groupby("setting", sort=False).label.first().to_dict()
    if options.reference is not None:
        chosen = stats.find_reference(settings, options.reference, labels, options.name("reference"))
        if chosen != reference:
            planned = stats.distinguishing(settings, labels).get(reference, reference)
            raise ConfigError(
                f"{options.name('reference')}={shown(options.reference)} is not the reference this "
                f"adaptive sweep was planned against ({shown(planned)}): its verdicts hold against that "
                "one only."
            )
    if options.resolution != plan.resolution:
        raise ConfigError(
            f"{options.name('resolution')}={options.resolution:g} is not the δ this adaptive sweep was "
            f"planned with ({plan.resolution:g}): its verdicts hold for that one only."
        )
    state = replay(runs, keys, reference, plan)
    samples = stats.samples_of(runs, settings)
    m = len(keys) - 1
    rows = []
    for s in settings:
        d = state.decisions.get(s)
        reason = d.reason if d else "not a setting of the adaptive plan"
        if s == reference:
            rows.append(stats.row_of(s, samples[s], stopped=reason))
            continue
        if d and d.comparison:
            c, level = d.comparison, d.level
        else:
            c, level = stats.compare(samples[s], samples[reference], plan.confidence), math.nan
        verdict = d.verdict if d else "undecided: outside the plan"
        adjusted = min(1.0, c.p * plan.alpha / level) if math.isfinite(c.p) and level > 0 else math.nan
        rows.append(
            stats.row_of(s, samples[s], c, plan.confidence, verdict=verdict, stopped=reason, p_adjusted=adjusted)
        )
    frame = stats.frame_of(rows)
    std, df, k = stats.pooled_std(samples[s] for s in settings)
    given = None if options.reference is None else f"`{options.name('reference')}={options.reference}`"
    return stats.Analysis(frame, reference, plan.resolution, std, df, k, m, given, plan)

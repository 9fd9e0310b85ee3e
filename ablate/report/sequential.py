"""Adaptive repeats: a group-sequential rule that spends seeds only on settings still undecided.

The plan is fixed before the sweep starts: every setting runs seeds 0…`min`−1 (look 1); after each
look, every setting whose verdict is still undecided, and the reference while any is, gets `batch`
more seeds, up to `max`. The looks are n₁ = min, n₂ = min + batch, …, n_K = max.

Because the data are looked at up to K times and m settings are compared with the reference, the
error budget α is split evenly over looks and comparisons (a Bonferroni alpha-spending split): a
setting is called `better` or `worse` at a look when its p-value there (the same paired or Welch t
test as the fixed report, `stats.compare`) is below α/(K·m). Each p-value at a fixed number of
seeds is valid whatever the earlier looks decided, so by the union bound the chance of any false
`better`/`worse` in the whole sweep is at most K·m·α/(K·m) = α. `equivalent within ±δ` is called
when the (1 − α/K) confidence interval of Δ lies inside ±δ (the same split over looks, per setting).
A setting still undecided at n = `max` stops there, `undecided`.

`replay(runs, …)` recomputes every decision from the run records alone: the decision at look k
uses only seeds below n_k, so the sweeper choosing its next launches, a resumed sweep, and the
report of the folder all reach the same decisions from the same records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from ablate.errors import ConfigError
from ablate.report import stats
from ablate.report.options import Options

PLAN_FILE = "repeats.json"  # in the sweep folder: the plan the sweep started with, and where each setting stands
FINISHED = ("completed", "diverged", "failed")  # a run that will not produce more data if launched again


@dataclass(frozen=True)
class Plan:
    """The planned looks and error rates of an adaptive sweep (`hydra.sweeper.min/max/batch/alpha`)."""

    min: int = 3
    max: int = 10
    batch: int = 2
    alpha: float = 0.05
    resolution: float = 0.2  # δ, `report.resolution`

    @property
    def looks(self) -> tuple[int, ...]:
        """The seed counts at which the data are looked at: min, min + batch, …, max."""
        out = list(range(self.min, self.max, self.batch))
        return (*out, self.max)

    def test_level(self, comparisons: int) -> float:
        """The p-value below which a setting is called better or worse at a look: α/(K·m)."""
        return self.alpha / (len(self.looks) * max(comparisons, 1))

    @property
    def confidence(self) -> float:
        """The confidence of the interval that must lie inside ±δ for `equivalent`: 1 − α/K."""
        return 1 - self.alpha / len(self.looks)

    def to_dict(self) -> dict:
        return {**asdict(self), "looks": list(self.looks)}


def plan(min: int, max: int, batch: int, alpha: float, resolution: float, prefix: str = "hydra.sweeper.") -> Plan:
    """A checked `Plan`; `ConfigError` (one sentence naming the override) for values it cannot run."""
    for name, value, least in (("min", min, 2), ("max", max, 2), ("batch", batch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            why = " (a difference needs two runs of a setting to be judged)" if name == "min" else ""
            raise ConfigError(f"{prefix}{name}={value!r} is invalid: give a whole number of at least {least}{why}.")
    if min > max:
        raise ConfigError(f"{prefix}min={min} is more than {prefix}max={max}: give min ≤ max.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(
            f"{prefix}alpha={alpha!r} is invalid: give the error rate as a fraction between 0 and 1, such as 0.05."
        )
    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution) and resolution > 0):
        raise ConfigError(
            f"report.resolution={resolution!r} is invalid: the resolution δ must be a positive number "
            "of top-1 error points, such as 0.2."
        )
    return Plan(min, max, batch, float(alpha), float(resolution))


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


@dataclass
class State:
    """The sweep after replaying its records: every setting's decision, and the runs the next look still needs."""

    decisions: dict[str, Decision]
    pending: list[tuple[str, int]] = field(default_factory=list)  # (setting, seed) to launch now
    look: int = 1

    @property
    def done(self) -> bool:
        return not self.pending


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
    done = stats.completed(runs)
    samples = {
        s: pd.Series(
            done.loc[done.setting == s, stats.ERROR].to_numpy(float),
            index=pd.Index(pd.to_numeric(done.loc[done.setting == s, "seed"], errors="coerce"), dtype="object"),
        )
        for s in settings
    }
    others = [s for s in settings if s != reference]
    looks = plan.looks
    level = plan.test_level(len(others))
    decisions: dict[str, Decision] = {}
    open_ = list(others)
    k = 1
    for k, n in enumerate(looks, 1):
        need = [reference, *open_] if (open_ or k == 1) else []
        pending = [(s, seed) for s in need for seed in range(n) if (s, seed) not in finished]
        if pending:
            for s in open_:
                decisions[s] = Decision(
                    s,
                    f"undecided (n={_count(samples[s], n)})",
                    False,
                    k,
                    n,
                    f"waiting for look {k} of {len(looks)} ({n} seeds)",
                )
            decisions[reference] = Decision(
                reference,
                stats.REFERENCE,
                False,
                k,
                n,
                f"the reference: waiting for look {k} of {len(looks)} ({n} seeds)",
            )
            return State(decisions, pending, k)
        still = []
        for s in open_:
            c = stats.compare(_below(samples[s], n), _below(samples[reference], n), plan.confidence)
            verdict = decide(c, level, plan.resolution)
            if not verdict.startswith("undecided"):
                decisions[s] = Decision(s, verdict, True, k, n, f"{verdict} at look {k} of {len(looks)} ({n} seeds)", c)
            elif k == len(looks):
                decisions[s] = Decision(s, verdict, True, k, n, f"still undecided at max={n} seeds", c)
            else:
                still.append(s)
        open_ = still
        if not open_:
            decisions[reference] = Decision(
                reference, stats.REFERENCE, True, k, n, f"the reference: {n} seeds, while any setting was undecided"
            )
            break
    return State(decisions, [], k)


def decide(c: stats.Comparison, level: float, resolution: float) -> str:
    """The verdict at one look: better/worse below `level`, equivalent when the CI lies inside ±δ."""
    if c.test == stats.NONE:
        return stats.verdict(c, math.nan, resolution)
    if math.isfinite(c.p) and c.p < level:
        return "better" if c.delta < 0 else "worse"
    if -resolution < c.low and c.high < resolution:
        return f"equivalent within ±{resolution:g}"
    return f"undecided ({stats.counts(c)})"


def write_plan(sweep_dir: Path, plan: Plan, settings: Iterable[str], reference: str, state: State) -> Path:
    """`repeats.json`: the plan, the reference, and each setting's decision and reason (for people and the report)."""
    from ablate.report.output import write_text

    body = {
        "plan": plan.to_dict(),
        "reference": reference,
        "settings": list(settings),
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


def _below(sample: pd.Series, n: int) -> pd.Series:
    keep = [pd.notna(s) and int(s) < n for s in sample.index]
    return sample[keep]


def _count(sample: pd.Series, n: int) -> int:
    return len(_below(sample, n))


def analyse(runs: pd.DataFrame, options: Options, stored: tuple[Plan, str, list[str]]) -> stats.Analysis:
    """The report's analysis of an adaptive sweep: each setting's Δ, CI and p at the look where it stopped,
    the sequential verdict and why it stopped; p adjusted as p·K·m (below α: better or worse).

    Raises `ConfigError` when the report is asked for another reference or δ than the sweep was planned with:
    the sequential verdicts hold for those only.
    """
    plan, reference, keys = stored
    settings = list(dict.fromkeys([*keys, *runs.setting]))
    labels = runs.groupby("setting", sort=False).label.first().to_dict()
    if options.reference is not None:
        chosen = stats.find_reference(settings, options.reference, labels, options.name("reference"))
        if chosen != reference:
            raise ConfigError(
                f"{options.name('reference')}={options.reference!r} is not the reference this "
                f"adaptive sweep was planned against ({reference!r}): its verdicts hold against that "
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
    scale = len(plan.looks) * max(m, 1)
    rows = []
    for s in settings:
        d = state.decisions.get(s)
        reason = d.reason if d else "not a setting of the adaptive plan"
        if s == reference:
            rows.append(stats.row_of(s, samples[s], stopped=reason))
            continue
        c = d.comparison if d and d.comparison else stats.compare(samples[s], samples[reference], plan.confidence)
        verdict = d.verdict if d else "undecided: outside the plan"
        rows.append(
            stats.row_of(
                s,
                samples[s],
                c,
                plan.confidence,
                verdict=verdict,
                stopped=reason,
                p_adjusted=min(1.0, c.p * scale) if math.isfinite(c.p) else math.nan,
            )
        )
    frame = stats.frame_of(rows)
    std, df, k = stats.pooled_std(samples[s] for s in settings)
    given = None if options.reference is None else f"`{options.name('reference')}={options.reference}`"
    return stats.Analysis(frame, reference, plan.resolution, std, df, k, m, given, plan)

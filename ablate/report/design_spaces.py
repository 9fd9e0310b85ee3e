"""A design-space comparison (`+sweep=design_spaces`): error EDFs per space, a KS test and bootstrap CIs between them.

The method of Radosavovic et al. (2019, "On Network Design Spaces for Visual Recognition"): a design
space is judged by the distribution of errors of designs sampled from it at equal complexity, not by
its best member alone. The sweeper (`hydra/sweeper=ablate_design_spaces`) samples N designs per space,
lands each on the budget and writes its plan, `design_spaces.json`, into the sweep folder; every
member carries `+design_space=NAME`. This section of the report reads both and writes:

- `design_spaces.csv`: one row per design (its space, fields, solved d, complexity, top-1 error — the
  mean over its completed seeds where it ran several — and its place on its space's EDF);
- `design_spaces_tests.csv`: one row per pair of spaces: the two-sample Kolmogorov–Smirnov statistic
  and p-value (`scipy.stats.ks_2samp`, Holm-corrected over the pairs), and the difference (later
  space − earlier) in minimum and in mean error with 95% bootstrap percentile CIs
  (`scipy.stats.bootstrap`, each space resampled on its own, seeded: a report is reproducible);
- `design_spaces.md`: both tables with what they show and what they do not;
- `edf.png` / `edf.svg`: each space's error EDF, F(e) = the fraction of its designs with error ≤ e;
  where each design's budget was drawn from a range (`hydra.sweeper.scale_range`), beside it the
  complexity-normalized EDF of the paper: complexity (the budget's metric, as achieved) is cut into
  log-spaced bins shared by the spaces, and each design weighs 1 / (K · n_bin) in its space, K the
  bins every space has designs in, so each space's EDF is taken over the same, uniform complexity
  distribution (designs in a bin some space lacks weigh 0).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ablate.errors import override_value
from ablate.report import stats
from ablate.report.collect import Sweep, override_key
from ablate.report.output import markdown, write_figure, write_text

PLAN_FILE = "design_spaces.json"  # in the sweep folder: the sampler's settings and every design it drew
SPACE_KEY = "design_space"  # the root key each member carries, `+design_space=NAME`
IDENTITY = ("seed", "compare", "spaces", "scale_range", "draws", "budget")  # a resumed sweep must keep these
RESAMPLES = 9999
BOOTSTRAP_SEED = 0
CONFIDENCE = stats.CONFIDENCE
DESIGN_COLUMNS = (
    "space",
    "sample",
    "cardinality",
    "bottleneck_width",
    "depths",
    "width",
    "scale",
    "budget_metric",
    "complexity",
    "params",
    "flops",
    "runs",
    "completed",
    "error",
    "edf",
    "weight",
    "normalized_edf",
    "status",
    "reason",
    "run",
)
TEST_COLUMNS = (
    "first",
    "other",
    "n_first",
    "n_other",
    "ks_statistic",
    "ks_p",
    "ks_p_holm",
    "min_delta",
    "min_ci_low",
    "min_ci_high",
    "mean_delta",
    "mean_ci_low",
    "mean_ci_high",
    "reading",
)


# ----------------------------------------------------------------------------- the plan file
def write_plan(sweep_dir: Path, plan: dict) -> Path:
    """`design_spaces.json`: the sampler's settings, the designs per space and the draws passed over."""
    return write_text(Path(sweep_dir) / PLAN_FILE, json.dumps(plan, indent=2, ensure_ascii=False) + "\n")


def read_plan(sweep_dir: Path) -> dict | None:
    """The plan a design-space sweep wrote, or None for any other sweep (or an unreadable file)."""
    try:
        plan = json.loads((Path(sweep_dir) / PLAN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) and isinstance(plan.get("designs"), list) else None


def changed(old: dict, new: dict) -> list[str]:
    """How two plans differ in the settings of `IDENTITY` (the number of samples may grow or shrink), one phrase
    per leaf setting in its override's name: `hydra.sweeper.seed=1, it was 0`, `budget.tolerance=0.2, it was 0.1`."""
    return [
        change
        for key in IDENTITY
        for change in _changes("budget" if key == "budget" else f"hydra.sweeper.{key}", old.get(key), new.get(key))
    ]


def _changes(name: str, old: Any, new: Any) -> list[str]:
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):  # a space's `describe` is derived from its other keys
        keys = [k for k in dict.fromkeys([*old, *new]) if k != "describe"]
        return [c for k in keys for c in _changes(f"{name}.{k}", old.get(k, _GONE), new.get(k, _GONE))]
    if old is _GONE:
        return [f"{name}={override_value(_plain(new))} is new"]
    if new is _GONE:
        return [f"{name} is gone (it was {override_value(_plain(old))})"]
    return [f"{name}={override_value(_plain(new))}, it was {override_value(_plain(old))}"]


_GONE = object()  # a key one plan has and the other lacks


def _plain(value: Any) -> Any:
    """A plan's setting without what the plan derives from it (a space's `describe`)."""
    return {k: v for k, v in value.items() if k != "describe"} if isinstance(value, dict) else value


# ----------------------------------------------------------------------------- runs → designs
def space_of(overrides: str | None) -> str | None:
    """The design space in a member's override string (`+design_space=NAME`), or None."""
    for o in str(overrides or "").split():
        if "=" in o and override_key(o) == SPACE_KEY:
            return o.split("=", 1)[1]
    return None


def applies(sweep: Sweep) -> bool:
    """Whether `sweep` is a design-space sweep: it has the plan file, or members from a design space."""
    return read_plan(sweep.directory) is not None or any(space_of(o) for o in sweep.runs.overrides)


def designs(sweep: Sweep, plan: dict | None = None) -> pd.DataFrame:
    """One row per design (`DESIGN_COLUMNS` but the EDF columns): its runs (one per seed) taken together.

    With a plan, its designs in its order (a design without a run is `missing`) and only the runs of
    those; without one, every run with a `+design_space=` override, a design per setting.
    """
    runs = sweep.runs.copy()
    runs["space"] = [space_of(o) for o in runs.overrides]
    runs = runs[runs.space.notna()]
    overrides = [frozenset(str(o).split()) for o in runs.overrides]
    rows = []
    if plan is not None:
        for d in plan["designs"]:
            want = frozenset(d["overrides"])
            mine = runs[[want <= o for o in overrides]]
            rows.append(_design_row(d["space"], int(d["sample"]), mine, d))
    else:
        for space, group in runs.groupby("space", sort=False):
            for i, (_, mine) in enumerate(group.groupby("setting", sort=False)):
                rows.append(_design_row(str(space), i, mine, None))
    return pd.DataFrame(rows, columns=[c for c in DESIGN_COLUMNS if c not in ("edf", "weight", "normalized_edf")])


def _design_row(space: str, sample: int, runs: pd.DataFrame, planned: dict | None) -> dict:
    done = stats.completed(runs)
    first = runs.iloc[0] if len(runs) else None

    def field(name: str, key: str | None = None):
        if first is not None and pd.notna(first[name]):
            return first[name]
        return planned.get(key or name) if planned else None

    depths = field("depths")
    if isinstance(depths, list):
        depths = "-".join(map(str, depths))
    status = "completed" if len(done) else ("missing" if not len(runs) else str(runs.status.iloc[-1]))
    reasons = runs.reason[runs.status != "completed"].dropna() if len(runs) else pd.Series(dtype=object)
    return {
        "space": space,
        "sample": sample,
        "cardinality": field("cardinality"),
        "bottleneck_width": field("bottleneck_width"),
        "depths": depths,
        "width": field("width"),
        "scale": planned.get("scale") if planned else (first.budget_scale if first is not None else None),
        "budget_metric": first.budget_metric if first is not None else None,
        "complexity": field("budget_achieved", "achieved"),
        "params": first.params if first is not None else None,
        "flops": first.flops if first is not None else None,
        "runs": len(runs),
        "completed": len(done),
        "error": float(done[stats.ERROR].mean()) if len(done) else math.nan,
        "status": status,
        "reason": None if len(done) or not len(reasons) else str(reasons.iloc[0]),
        "run": None if first is None else first.run,
    }


# ----------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Difference:
    """Two spaces' error samples compared: KS, and `other − first` in minimum and mean error with CIs."""

    n_first: int
    n_other: int
    ks_statistic: float
    ks_p: float
    min_delta: float
    min_ci_low: float
    min_ci_high: float
    mean_delta: float
    mean_ci_low: float
    mean_ci_high: float


def _minimum(x, axis=-1):
    return np.min(x, axis=axis)


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def bootstrap_ci(
    first: np.ndarray,
    other: np.ndarray,
    statistic,
    seed: int = BOOTSTRAP_SEED,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """The percentile bootstrap CI of statistic(other) − statistic(first), each sample resampled on its own."""

    def delta(o, f, axis=-1):
        return statistic(o, axis=axis) - statistic(f, axis=axis)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a sample whose resamples all agree: the interval is that one value
        ci = sps.bootstrap(
            (other, first),
            delta,
            vectorized=True,
            paired=False,
            n_resamples=resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
    return float(ci.low), float(ci.high)


def compare(
    first: Sequence[float], other: Sequence[float], seed: int = BOOTSTRAP_SEED, resamples: int = RESAMPLES
) -> Difference:
    """KS statistic and p-value, and the bootstrap CIs of the differences in minimum and mean (other − first).

    Each sample needs two or more values; with fewer, every figure is NaN.
    """
    a, b = np.asarray(first, dtype=float), np.asarray(other, dtype=float)
    if len(a) < 2 or len(b) < 2:
        nan = math.nan
        return Difference(len(a), len(b), nan, nan, nan, nan, nan, nan, nan, nan)
    ks = sps.ks_2samp(a, b)
    lo_min, hi_min = bootstrap_ci(a, b, _minimum, seed, resamples)
    lo_mean, hi_mean = bootstrap_ci(a, b, _mean, seed, resamples)
    return Difference(
        len(a),
        len(b),
        float(ks.statistic),
        float(ks.pvalue),
        float(b.min() - a.min()),
        lo_min,
        hi_min,
        float(b.mean() - a.mean()),
        lo_mean,
        hi_mean,
    )


def edf_at(errors: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The empirical distribution function of `errors` (`scipy.stats.ecdf`) at the points `at`."""
    return sps.ecdf(errors).cdf.evaluate(at)


def normalized_weights(complexity: pd.Series, space: pd.Series, bins: int) -> pd.Series:
    """Each design's weight in its space's complexity-normalized EDF (see the module); NaN complexity weighs 0."""
    x = pd.to_numeric(complexity, errors="coerce").astype(float)
    weights = pd.Series(0.0, index=x.index)
    ok = x.notna() & (x > 0)
    if not ok.any():
        return weights
    lo, hi = float(x[ok].min()), float(x[ok].max())
    edges = np.geomspace(lo, hi, bins + 1) if hi > lo else np.array([lo, hi])
    which = pd.Series(np.clip(np.searchsorted(edges, x[ok], side="right") - 1, 0, len(edges) - 2), index=x[ok].index)
    counts = pd.crosstab(which, space[ok])
    shared = counts.index[(counts > 0).all(axis=1)]
    for i in which.index:
        b = which[i]
        if b in shared:
            weights[i] = 1.0 / (len(shared) * counts.loc[b, space[i]])
    return weights


# ----------------------------------------------------------------------------- the analysis
@dataclass(frozen=True)
class Analysis:
    """The designs (with EDF columns), the pairs' tests, the spaces in order and whether the budget is a range."""

    designs: pd.DataFrame
    tests: pd.DataFrame
    spaces: list[str]
    normalized: bool
    bins: int


def analyse(sweep: Sweep, plan: dict | None = None) -> Analysis:
    """The design-space comparison of `sweep` (its plan read from the folder when not given)."""
    plan = plan if plan is not None else read_plan(sweep.directory)
    frame = designs(sweep, plan)
    order = list((plan or {}).get("compare") or dict.fromkeys(frame.space))
    spaces = order + [s for s in dict.fromkeys(frame.space) if s not in order]
    normalized = bool(plan and plan.get("scale_range") and plan["scale_range"][0] < plan["scale_range"][1]) or (
        plan is None and frame.scale.notna().any() and frame.scale.nunique() > 1
    )
    bins = int((plan or {}).get("bins") or 5)
    done = frame.error.notna()
    frame["edf"] = math.nan
    for s in spaces:
        mine = done & (frame.space == s)
        if mine.any():
            frame.loc[mine, "edf"] = edf_at(frame.error[mine].to_numpy(), frame.error[mine].to_numpy())
    frame["weight"] = math.nan
    frame["normalized_edf"] = math.nan
    if normalized and done.any():
        w = normalized_weights(frame.complexity[done], frame.space[done], bins)
        frame.loc[done, "weight"] = w
        for s in spaces:
            mine = done & (frame.space == s)
            e, ws = frame.error[mine].to_numpy(), frame.weight[mine].to_numpy()
            if ws.sum() > 0:
                frame.loc[mine, "normalized_edf"] = [float(ws[e <= v].sum() / ws.sum()) for v in e]
    rows = []
    for i, a in enumerate(spaces):
        for b in spaces[i + 1 :]:
            d = compare(frame.error[done & (frame.space == a)], frame.error[done & (frame.space == b)])
            rows.append({"first": a, "other": b, **asdict(d)})
    tests = pd.DataFrame(rows, columns=[c for c in TEST_COLUMNS if c not in ("ks_p_holm", "reading")])
    tests.insert(tests.columns.get_loc("ks_p") + 1, "ks_p_holm", stats.holm(tests.ks_p.to_numpy(float)))
    tests["reading"] = [reading(r) for r in tests.itertuples()]
    return Analysis(frame[list(DESIGN_COLUMNS)], tests, spaces, normalized, bins)


def reading(r) -> str:
    """What one pair's figures say, in words: the KS test (Holm), then any CI that excludes 0."""
    if not math.isfinite(r.ks_p):
        return f"no test: a space has fewer than two completed designs (n={r.n_first}, {r.n_other})"
    if r.ks_p_holm < stats.ALPHA:
        out = [f"the error distributions differ (KS p={_p(r.ks_p_holm)} < {stats.ALPHA:g})"]
    else:
        out = [f"no difference between the distributions shown (KS p={_p(r.ks_p_holm)}, n={r.n_first} and {r.n_other})"]
    for what, low, high in (("mean", r.mean_ci_low, r.mean_ci_high), ("minimum", r.min_ci_low, r.min_ci_high)):
        if high < 0:
            out.append(f"{r.other} has the lower {what} error")
        elif low > 0:
            out.append(f"{r.first} has the lower {what} error")
    return "; ".join(out)


def _p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2g}" if p >= 0.001 else "<0.001"


def _ci(delta: float, low: float, high: float) -> str:
    if not math.isfinite(delta):
        return "n/a"
    return f"{delta:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if math.isfinite(low) else "")


def summary(a: Analysis) -> pd.DataFrame:
    """Per space, as shown: designs, completed, min, mean ± std, median and the best design."""
    rows = []
    for s in a.spaces:
        mine = a.designs[a.designs.space == s]
        e = mine.error.dropna()
        best = mine.loc[e.idxmin()] if len(e) else None
        rows.append(
            {
                "space": s,
                "designs": str(len(mine)),
                "completed": str(len(e)),
                "min (%)": f"{e.min():.2f}" if len(e) else "–",
                "mean ± std (%)": (
                    f"{e.mean():.2f} ± {e.std(ddof=1):.2f}" if len(e) >= 2 else f"{e.mean():.2f}" if len(e) else "–"
                ),
                "median (%)": f"{e.median():.2f}" if len(e) else "–",
                "best design": _label(best) if best is not None else "–",
            }
        )
    return pd.DataFrame(rows)


def _label(row) -> str:
    def whole(x):
        return "?" if x is None or (isinstance(x, float) and math.isnan(x)) else str(int(x))

    return f"{whole(row.cardinality)}×{whole(row.bottleneck_width)}d, depths {row.depths}, width {whole(row.width)}"


def tests_shown(a: Analysis) -> pd.DataFrame:
    t = a.tests
    level = f"{CONFIDENCE:.0%}"
    return pd.DataFrame(
        {
            "spaces (Δ = second − first)": [f"{r.other} − {r.first}" for r in t.itertuples()],
            "KS D": [f"{x:.2f}" if math.isfinite(x) else "n/a" for x in t.ks_statistic],
            "p": [_p(x) for x in t.ks_p],
            "p (Holm)": [_p(x) for x in t.ks_p_holm],
            f"Δ min error [{level} CI]": [_ci(r.min_delta, r.min_ci_low, r.min_ci_high) for r in t.itertuples()],
            f"Δ mean error [{level} CI]": [_ci(r.mean_delta, r.mean_ci_low, r.mean_ci_high) for r in t.itertuples()],
            "reading": list(t.reading),
        }
    )


# ----------------------------------------------------------------------------- writing
def figure(a: Analysis):
    """Each space's error EDF; beside it the complexity-normalized EDF when the budget is a range."""
    from matplotlib.figure import Figure

    panels = 2 if a.normalized else 1
    fig = Figure(figsize=(6.0 * panels, 4.2))
    axes = fig.subplots(1, panels, squeeze=False)[0]
    done = a.designs[a.designs.error.notna()]
    for s in a.spaces:
        mine = done[done.space == s]
        if not len(mine):
            continue
        axes[0].ecdf(mine.error.to_numpy(), label=f"{s} (n={len(mine)}, min {mine.error.min():.2f}%)")
        if a.normalized and mine.weight.sum() > 0:
            axes[1].ecdf(mine.error.to_numpy(), weights=mine.weight.to_numpy(), label=s)
    titles = ["error EDF", f"complexity-normalized error EDF ({a.bins} log-spaced bins)"]
    for ax, title in zip(axes, titles, strict=False):
        ax.set_xlabel("top-1 error (%)")
        ax.set_ylabel("fraction of designs with error ≤ x")
        ax.set_title(title)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def _about(sweep: Sweep, plan: dict | None, a: Analysis) -> list[str]:
    lines = []
    if sweep.command:
        lines.append(f"command: `{sweep.command}`")
    if plan:
        b = plan.get("budget") or {}
        if plan.get("scale_range"):
            lo, hi = plan["scale_range"]
            what = f"{lo:g}–{hi:g}× {b.get('reference')}'s {b.get('metric')} (each design's scale log-uniform)"
        elif b.get("target") is not None:
            what = f"{b.get('metric')} = {b['target']:,.0f}"
        else:
            what = f"{b.get('scale', 1):g}× {b.get('reference')}'s {b.get('metric')}"
        lines.append(f"budget: {what}, within ±{b.get('tolerance', 0):.0%}; {b.get('vary')} solved for each design")
        lines.append(f"samples: {plan.get('samples')} designs per space, sampler seed {plan.get('seed')}")
        for name in a.spaces:
            space = (plan.get("spaces") or {}).get(name, {})
            drawn = (plan.get("draws_by_space") or {}).get(name, {})
            passed = (
                f"; of {drawn.get('draws')} draws, {drawn.get('off_budget', 0)} off the budget and "
                f"{drawn.get('repeats', 0)} repeating a design were passed over"
                if drawn
                else ""
            )
            lines.append(f"space `{name}`: {space.get('describe', '')}{passed}")
    return lines


def write(sweep: Sweep, out: Path) -> list[Path]:
    """Write the section's files into `out`; returns their paths."""
    plan = read_plan(sweep.directory)
    a = analyse(sweep, plan)
    out = Path(out)
    level = f"{CONFIDENCE:.0%}"
    notes = [
        "Each space is judged by its designs' error distribution at equal complexity (Radosavovic et al., 2019): "
        "the EDF F(e) is the fraction of a space's designs with top-1 error ≤ e (`edf.png`); a space whose EDF "
        "lies to the left has more good designs.",
        "KS: the two-sample Kolmogorov–Smirnov test of equal error distributions (`scipy.stats.ks_2samp`), "
        "Holm-corrected over the pairs; a small p says the distributions differ, not by how much.",
        f"Δ = second space − first, in top-1 error points: the difference in minimum and in mean error, with "
        f"{level} percentile bootstrap CIs ({RESAMPLES:,} resamples, each space resampled on its own, seed "
        f"{BOOTSTRAP_SEED}). The minimum is the least stable figure: it rests on one design and one run.",
        "Each design's error is one training run (the mean of its seeds where it has several), with the sweep's "
        "short recipe: the spread within a space includes seed-to-seed noise, and a ranking under a short recipe "
        "need not hold under a long one.",
    ]
    off = sum(int(v.get("off_budget", 0)) for v in ((plan or {}).get("draws_by_space") or {}).values())
    if off:
        notes.append(
            "Draws the solver could not land on the budget were passed over, not trained: each space is "
            "compared by its part that the budget reaches (a high cardinality with a wide first stage can "
            "overshoot a small budget even at d = 1), which the space's list above counts."
        )
    if a.normalized:
        notes.append(
            "The budget is a range: the tests compare the plain error samples; the complexity-normalized "
            "EDF (right panel, `normalized_edf` and `weight` in the CSV) compares the spaces over the "
            "same complexity distribution."
        )
    missing = a.designs[a.designs.status != "completed"]
    problems = [
        f"- {r.space} #{r.sample} ({_label(r)}): {r.status}" + (f" — {r.reason}" if r.reason else "")
        for r in missing.itertuples()
    ]
    about = _about(sweep, plan, a)
    md = (
        "\n\n".join(
            p
            for p in (
                f"# {sweep.title}: design spaces compared",
                "\n".join(f"- {line}" for line in about),
                "## Error by design space",
                markdown(summary(a)),
                "## Between spaces",
                markdown(tests_shown(a)),
                "\n".join(f"- {n}" for n in notes),
                ("## Designs without a result\n\n" + "\n".join(problems)) if problems else "",
            )
            if p
        )
        + "\n"
    )
    paths = [
        write_text(out / "design_spaces.md", md),
        write_text(out / "design_spaces.csv", a.designs.to_csv(index=False)),
        write_text(out / "design_spaces_tests.csv", a.tests.to_csv(index=False)),
    ]
    paths += write_figure(figure(a), out / "edf")
    return paths

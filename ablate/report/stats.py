"""Statistics of a sweep: intervals per setting, differences from a reference, Holm, verdicts.

Runs are grouped by setting, a member's overrides without its seed (`collect.setting_of`), so
`seed=0,1,2` on any sweep's command line turns single runs into repeats. Only completed runs
with a final top-1 error count. Per setting: the mean, the sample standard deviation, n and
the 95% confidence interval of the mean (Student's t, `scipy.stats.ttest_1samp`).

Against the reference setting, Δ = setting − reference in top-1 error points (negative: the
setting makes fewer errors). Runs with the same seed see the same data order and the same
initialisation stream, so where two settings share at least two seeds Δ is paired by seed
(`scipy.stats.ttest_rel` on the shared seeds; runs without a partner are left out and
counted); otherwise it is Welch's unpaired t over all completed runs of both
(`scipy.stats.ttest_ind(equal_var=False)`, Welch–Satterthwaite degrees of freedom). The
p-values of a table's comparisons are Holm-corrected together, so the chance of any false
`better`/`worse` in the table stays at or below α = 5%.

Verdicts: `better` or `worse` when the Holm-corrected p is below α (the sign of Δ decides);
otherwise `equivalent within ±δ` when the 95% CI of Δ lies inside ±δ (δ = `report.resolution`);
otherwise `undecided (n=…)`. With fewer than two runs on a side (two shared seeds for a
paired test) no test exists and the row says that no difference can be judged.

Which settings may be the best, whatever the reference, is `ablate.report.best`'s (Hsu's MCB): its columns join
each row here.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ablate.errors import ConfigError, shown
from ablate.report import best as mcb
from ablate.report.collect import override_key
from ablate.report.options import Options

ALPHA = 0.05
CONFIDENCE = 1 - ALPHA
ERROR = "final_val_err"  # the runs frame's column that every comparison is about: top-1 error (%)
PAIRED, WELCH, NONE = "paired", "Welch", "none"
REFERENCE = "reference"
NO_RUN = "no completed run"  # the verdict of every setting of a sweep where none completed a run
COLUMNS = (
    "setting",
    "n",
    "top1_mean",
    "top1_std",
    "top1_ci_low",
    "top1_ci_high",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "delta_ci_level",
    "test",
    "test_n",
    "reference_n",
    "unpaired_left_out",
    "test_df",
    "p",
    "p_holm",
    "p_adjusted",
    "verdict",
    "stopped",
    "best_gap",
    "best_gap_low",
    "best_gap_high",
    "best",
)


@dataclass(frozen=True)
class Interval:
    """One sample: n, mean, sample std (ddof 1) and the t confidence interval of its mean."""

    n: int
    mean: float
    std: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """A setting against the reference: Δ (setting − reference), its CI, the test that gave them."""

    test: str  # PAIRED | WELCH | NONE
    n: int  # completed runs of the setting (PAIRED: shared seeds, the pairs tested)
    reference_n: int  # completed runs of the reference (PAIRED: the same pairs)
    left_out: int  # runs of either side without a partner seed (PAIRED only)
    delta: float
    low: float
    high: float
    df: float
    p: float


PERCENT = (0.0, 100.0)  # the values an error rate (%) can take


def interval(
    values: Iterable[float], confidence: float = CONFIDENCE, bounds: tuple[float, float] = (-math.inf, math.inf)
) -> Interval:
    """Mean, sample std and the t confidence interval of the mean; NaN where n is too small. The interval is cut to
    `bounds`, the values the mean can take (an error in %: PERCENT), which keeps its coverage: with few, spread runs
    the t interval reaches past them."""
    x = np.asarray(list(values), dtype=float)
    n = len(x)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    if n == 1:
        return Interval(1, float(x[0]), math.nan, math.nan, math.nan)
    with _quiet():
        ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    low, high = max(float(ci.low), bounds[0]), min(float(ci.high), bounds[1])
    return Interval(n, float(x.mean()), float(x.std(ddof=1)), low, high)


def compare(setting: pd.Series, reference: pd.Series, confidence: float = CONFIDENCE) -> Comparison:
    """Δ = setting − reference, paired by seed where they share two or more seeds, Welch's t otherwise.

    Each argument holds one setting's top-1 errors indexed by seed (a missing seed: NA). A seed
    that is missing or appears twice in a setting cannot be paired.
    """
    a_seeds, a = _sample(setting)
    b_seeds, b = _sample(reference)
    ua, ub = _by_unique_seed(a_seeds, a), _by_unique_seed(b_seeds, b)
    shared = sorted(set(ua) & set(ub))
    if len(shared) >= 2:
        x = np.array([ua[s] for s in shared])
        y = np.array([ub[s] for s in shared])
        with _quiet():
            result = stats.ttest_rel(x, y)
            ci = result.confidence_interval(confidence)
        return Comparison(
            PAIRED,
            len(shared),
            len(shared),
            len(a) + len(b) - 2 * len(shared),
            float((x - y).mean()),
            float(ci.low),
            float(ci.high),
            float(result.df),
            _p(result.pvalue),
        )
    delta = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if len(a) >= 2 and len(b) >= 2:
        with _quiet():
            result = stats.ttest_ind(a, b, equal_var=False)
            ci = result.confidence_interval(confidence)
        return Comparison(
            WELCH, len(a), len(b), 0, delta, float(ci.low), float(ci.high), float(result.df), _p(result.pvalue)
        )
    return Comparison(NONE, len(a), len(b), 0, delta, math.nan, math.nan, math.nan, math.nan)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted in the family)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = len(q)
    if m:
        order = np.argsort(q, kind="stable")
        adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
        ranked = np.empty(m)
        ranked[order] = adjusted
        out[ok] = ranked
    return out


def verdict(c: Comparison, p_holm: float, resolution: float, alpha: float = ALPHA) -> str:
    """`better`, `worse`, `equivalent within ±δ` or `undecided (n=…)`, as the module says."""
    if c.test == NONE:
        if c.n == 0:
            return "undecided (n=0): no completed run"
        if c.reference_n == 0:
            return f"undecided (n={c.n}): the reference has no completed run"
        return f"undecided ({counts(c)}): no difference can be judged"
    if math.isfinite(p_holm) and p_holm < alpha:
        return "better" if c.delta < 0 else "worse"
    if -resolution < c.low and c.high < resolution:
        return f"equivalent within ±{resolution:g}"
    return f"undecided ({counts(c)})"


def pooled_std(samples: Iterable[Sequence[float]]) -> tuple[float, int, int]:
    """The pooled seed-to-seed std over settings with repeats: (std, degrees of freedom, settings)."""
    ss, df, k = 0.0, 0, 0
    for values in samples:
        x = np.asarray(values, dtype=float)
        if len(x) >= 2:
            ss += float(((x - x.mean()) ** 2).sum())
            df += len(x) - 1
            k += 1
    return (math.sqrt(ss / df) if df else math.nan), df, k


@dataclass(frozen=True)
class Analysis:
    """A sweep's statistics: one row per setting (`COLUMNS`, sweep order) and the table-wide figures."""

    frame: pd.DataFrame
    reference: str | None  # the reference setting
    resolution: float
    pooled_std: float
    pooled_df: int
    pooled_settings: int
    comparisons: int  # tests in the Holm family
    reference_given: str | None = None  # how the user chose the reference (`report.reference='…'`), if they did
    plan: Any = None  # an adaptive sweep's `sequential.Plan`: its verdicts are the sequential rule's
    best: mcb.Best | mcb.NotJudged | None = None  # which settings may be the best (None: fewer than two with repeats)

    @property
    def repeats(self) -> bool:
        """Whether any setting has two or more completed runs."""
        return bool(len(self.frame) and self.frame.n.max() >= 2)


def completed(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs that have a final top-1 error."""
    return runs[(runs.status == "completed") & runs[ERROR].notna()]


def analyse(runs: pd.DataFrame, options: Options | None = None, labels: dict[str, str] | None = None) -> Analysis:
    """Per-setting intervals and comparisons with the reference, in the order settings first appear.

    `labels` maps settings to the names the table shows them by (default: the runs' `label`,
    `1×64d`), which a reference may also use. Raises `ConfigError` when the reference matches no setting, or several.
    """
    options = options or Options()
    settings = list(dict.fromkeys(runs.setting))
    if labels is None:
        labels = runs.groupby("setting", sort=False).label.first().to_dict()
    samples = samples_of(runs, settings)
    if options.reference is not None:
        reference = find_reference(settings, options.reference, labels, options.name("reference"))
    else:  # none where no setting completed a run: nothing to compare with
        reference = next((s for s in settings if len(samples[s])), "")
    rows, comparisons = [], {}
    for s in settings:
        if not reference:
            rows.append(row_of(s, samples[s], test=NONE, verdict=NO_RUN))
        elif s == reference:
            rows.append(row_of(s, samples[s]))
        else:
            c = comparisons[s] = compare(samples[s], samples[reference])
            rows.append(row_of(s, samples[s], c))
    frame = frame_of(rows)
    frame["p_holm"] = frame["p_adjusted"] = holm(frame.p.to_numpy(float))
    for i, s in enumerate(frame.setting):
        if s in comparisons:
            frame.loc[i, "verdict"] = verdict(comparisons[s], frame.p_holm.iloc[i], options.resolution)
    for i, s in enumerate(frame.setting):  # a setting that ran but never completed: what its runs ended as
        if not len(samples[s]):
            ended = runs.loc[runs.setting == s, "status"].value_counts()
            if len(ended):
                what = ", ".join(f"{n} {status}" for status, n in ended.items())
                frame.loc[i, "verdict"] = f"{frame.verdict.iloc[i]} ({what})"
    std, df, k = pooled_std(samples[s] for s in settings)
    given = None if options.reference is None else f"`{options.name('reference')}={options.reference}`"
    best = mcb.compare_with_best({s: _by_unique_seed(*_sample(samples[s])) for s in settings}, options.resolution)
    if isinstance(best, mcb.Best):
        for column, values in (
            ("best_gap", best.gap),
            ("best_gap_low", best.low),
            ("best_gap_high", best.high),
            ("best", best.verdict),
        ):
            frame[column] = frame.setting.map(values)
    tested = int(np.isfinite(frame.p).sum())
    return Analysis(frame, reference or None, options.resolution, std, df, k, tested, given, best=best)


def samples_of(runs: pd.DataFrame, settings: Iterable[str]) -> dict[str, pd.Series]:
    """Setting → its completed runs' top-1 errors, indexed by seed."""
    done = completed(runs)
    return {
        s: pd.Series(
            done.loc[done.setting == s, ERROR].to_numpy(float),
            index=pd.Index(done.loc[done.setting == s, "seed"], dtype="object"),
        )
        for s in settings
    }


def row_of(
    setting: str, sample: pd.Series, c: Comparison | None = None, confidence: float = CONFIDENCE, **more: Any
) -> dict:
    """One setting's row of `Analysis.frame`: its interval, and its comparison with the reference (None: it is it)."""
    iv = interval(sample, bounds=PERCENT)  # 95 %, as the table heads it; `confidence` is the level of the Δ CI
    row = {
        "setting": setting,
        "n": iv.n,
        "top1_mean": iv.mean,
        "top1_std": iv.std,
        "top1_ci_low": iv.low,
        "top1_ci_high": iv.high,
    }
    if c is None:
        row.update(delta=0.0 if iv.n else math.nan, test=REFERENCE, verdict=REFERENCE)
    else:
        row.update(
            delta=c.delta,
            delta_ci_low=c.low,
            delta_ci_high=c.high,
            delta_ci_level=confidence,
            test=c.test,
            test_n=c.n,
            reference_n=c.reference_n,
            unpaired_left_out=c.left_out,
            test_df=c.df,
            p=c.p,
        )
    return {**row, **more}


def frame_of(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("test_n", "reference_n", "unpaired_left_out"):
        frame[column] = frame[column].astype("Int64")
    return frame


def find_reference(settings: Sequence[str], reference: str, labels: dict[str, str], name: str) -> str:
    """The one setting `reference` names: the setting itself, its label, or overrides it contains.

    Overrides match as typed (`model.cardinality=1`; a leading `+` or `~` does not matter) or by
    value alone (`baseline` for `+variant=baseline`); several, separated by spaces, must all match.
    A label may be typed with the letter x for its ×.
    """
    as_label = re.sub(r"\b(\d+)x(\d+d)\b", r"\1×\2", reference)  # 2x40d: the sign × typed as the letter x
    tokens = _tokens(reference)
    exact = [s for s in settings if reference in (s, labels.get(s)) or as_label == labels.get(s) or tokens == [s]]
    hits = exact or [s for s in settings if all(any(_matches(t, o) for o in s.split()) for t in tokens)]
    if len(hits) == 1:
        return hits[0]
    named = distinguishing(settings, labels)
    choices = ", ".join(  # each as overrides, and by its label where it has one that differs
        repr(named[s]) + (f" ({labels[s]})" if labels.get(s) not in (None, named[s]) else "") for s in settings
    )
    if not hits:
        raise ConfigError(f"{name}={shown(reference)} is not a setting of this sweep: give one of {choices}.")
    found = ", ".join(repr(named[s]) for s in hits)
    raise ConfigError(
        f"{name}={shown(reference)} matches {len(hits)} settings of this sweep ({found}): give one of {choices}."
    )


def distinguishing(settings: Sequence[str], labels: dict[str, str] | None = None) -> dict[str, str]:
    """Setting → the overrides that tell it from the others (those not shared by every setting)."""
    common = set.intersection(*(set(s.split()) for s in settings)) if settings else set()
    out = {}
    for s in settings:
        own = " ".join(o for o in s.split() if o not in common)
        out[s] = own or (labels or {}).get(s) or s
    return out


def _tokens(text: str) -> list[str]:
    """`text` split into overrides at the spaces outside brackets and quotes; a space inside brackets (outside
    quotes) is dropped, as Hydra's grammar drops it (`model.depths=[1, 2]` is the member `model.depths=[1,2]`)."""
    tokens: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth = max(depth - 1, 0)
        elif char.isspace():  # outside quotes: a separator at depth 0, nothing inside brackets
            if depth == 0 and current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def _matches(token: str, override: str) -> bool:
    key, _, value = override.partition("=")
    if "=" in token:
        t_key, _, t_value = token.partition("=")
        return override_key(t_key) == override_key(key) and t_value == value
    return token == value


def counts(c: Comparison) -> str:
    """`n=3`, or `n=3, reference n=5` where the two sides differ."""
    return f"n={c.n}" if c.n == c.reference_n else f"n={c.n}, reference n={c.reference_n}"


def _sample(sample: pd.Series) -> tuple[list, np.ndarray]:
    """A setting's seeds and errors, the runs without an error left out."""
    values = np.asarray(sample.to_numpy(), dtype=float)
    keep = ~np.isnan(values)
    return [seed for seed, k in zip(sample.index, keep, strict=True) if k], values[keep]


def _by_unique_seed(seeds: list, values: np.ndarray) -> dict:
    """Seed → error for the seeds that appear exactly once (a missing seed cannot be paired)."""
    known = [s for s in seeds if not _missing(s)]
    tally = Counter(known)
    return {s: float(v) for s, v in zip(seeds, values, strict=True) if not _missing(s) and tally[s] == 1}


def _missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _p(p) -> float:
    """A test's p-value; NaN (no variation at all: every difference equal) counts as no evidence."""
    p = float(p)
    return 1.0 if math.isnan(p) else p


class _quiet(warnings.catch_warnings):
    """SciPy's precision warnings for nearly identical samples are expected here (a constant difference)."""

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        return out

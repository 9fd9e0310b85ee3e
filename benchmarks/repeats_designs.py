"""Stopping rules built for agreement, against `+repeats=auto`'s: how close can a rule come to a fixed n = max?

`python -m benchmarks.repeats_designs [--sweeps K] [--null-sweeps K] [--runs RUNS_CSV] [--out JSON]`, and a table of
`python -m benchmarks --only repeats`. Not a test: nothing is asserted; the figures go to the benchmark report and
the README. With `--runs`, the rules run on a real sweep's records instead (a report's `runs.csv` with a fixed
n = max, such as the built-in default's with `seed=range(10)`), in the 100 seed orders `benchmarks.repeats` replays.

Issue 13 asks two things of adaptive repeats: the same verdicts as a fixed n = max report with at most 60 % of its
runs, and a chance of any false better/worse at or below α however often the data are looked at. `+repeats=auto`
keeps the second and spends its runs by a group-sequential rule. Whether another rule would reach more of the fixed
report's verdicts at that share of runs is measured here, on the simulated sweeps of `benchmarks.repeats` (a
reference and settings at true Δ = 0, δ, 2δ, 3δ; every design sees the same sweeps), with two rules whose aim is the
fixed report's verdict itself:

- `curtailed`: stochastic curtailment by predictive probability (Spiegelhalter, Freedman & Blackburn, 1986). At each
  look a setting stops with the verdict the fixed n = max report is predicted to give it, once that prediction's
  probability reaches γ; at max it gets the report's own verdict. The prediction draws the report's missing runs
  from the posterior predictive of a normal model (flat prior on each setting's mean, Jeffreys prior on one common
  variance; no seed effect, so the table is for sweeps whose settings share no seed-to-seed noise, the simulation's
  default) and applies the report's own test (paired t, Holm over the table, the 95 % CI against ±δ) to each draw.
  Nothing bounds its false better/worse rate: on a few seeds a lucky estimate predicts its own continuation.
- `anchored`: better/worse before max only across group-sequential boundaries that spend ε of α over the looks
  before max (Pocock-type, Holm shares as in `ablate.report.sequential`); at max the fixed report's own test at
  α − ε for the settings still open; undecided and equivalent before max by the predictive probability, as
  `curtailed`. So its chance of a false better/worse is at most ε + (α − ε) = α; its false equivalence is not
  bounded (an early `equivalent` is a prediction, not a repeated confidence interval).
- `ablate`: `+repeats=auto`'s rule (`ablate.report.sequential.replay`), at its futility thresholds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from benchmarks import repeats

CODES = ("better", "worse", "equivalent", "undecided")  # the report's verdict kinds, by index
BETTER, WORSE, EQUIVALENT, UNDECIDED = range(4)
DRAWS = 1000  # predictive draws of the fixed report per look
SWEEPS = repeats.SWEEPS  # simulated sweeps per std, shared by every design
NULL_SWEEPS = repeats.NULL_SWEEPS  # sweeps of five equal settings, for the false better/worse rate
STDS = (repeats.STD, repeats.DEFAULT_STD)
EPSILON = 0.02  # `anchored`: the α its looks before max may spend
DESIGNS = (  # (rule, parameter): the frontier each rule traces as its parameter moves
    ("ablate", 0.3),  # the futility threshold: +repeats=auto's default
    ("ablate", 0.1),
    ("anchored", 0.7),  # the predictive probability at which a setting stops undecided or equivalent
    ("anchored", 0.75),
    ("curtailed", 0.85),  # the predictive probability at which a setting stops with any verdict
    ("curtailed", 0.9),
)


def report_verdicts(differences: np.ndarray, alpha: float, resolution: float) -> np.ndarray:
    """The fixed report's verdicts (indices of CODES) from paired differences `(..., settings, seeds)` against the
    reference: paired t per setting, Holm over the settings, then better/worse below α, else equivalent where the
    95 % CI lies inside ±δ, else undecided (`ablate.report.stats.analyse` on complete records, vectorised)."""
    from scipy import stats as sp

    n = differences.shape[-1]
    mean = differences.mean(-1)
    se = differences.std(-1, ddof=1) / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * sp.t.sf(np.abs(mean / se), n - 1)
    half = float(sp.t.isf(0.025, n - 1)) * se
    out = np.full(mean.shape, UNDECIDED)
    out[(mean - half > -resolution) & (mean + half < resolution)] = EQUIVALENT
    rejected = _holm(p) < alpha
    out[rejected & (mean < 0)] = BETTER
    out[rejected & (mean > 0)] = WORSE
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along the last axis (ablate.report.stats.holm, vectorised; NaN counts as 1)."""
    p = np.where(np.isnan(p), 1.0, p)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, -1)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * ranked, axis=-1))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, -1)
    return out


def predicted(errors: np.ndarray, held: list[int], draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` completions of the table `errors` (settings × max seeds, row 0 the reference) of which each setting's
    first `held[s]` seeds are known: the rest drawn from the posterior predictive (flat prior on the setting means,
    Jeffreys on one common variance). Returns each completion's paired differences against the reference, the input
    of `report_verdicts`: `(draws, settings − 1, max seeds)`."""
    known = [errors[s, : held[s]] for s in range(len(held))]
    ss = sum(float(((x - x.mean()) ** 2).sum()) for x in known)
    df = sum(held) - len(held)
    variance = ss / rng.chisquare(df, draws)
    table = np.empty((draws, *errors.shape))
    for s, x in enumerate(known):
        table[:, s, : len(x)] = x
        missing = errors.shape[1] - len(x)
        if missing:
            mean = x.mean() + rng.standard_normal(draws) * np.sqrt(variance / len(x))
            noise = rng.standard_normal((draws, missing)) * np.sqrt(variance)[:, None]
            table[:, s, len(x) :] = mean[:, None] + noise
    return table[:, 1:] - table[:, :1]


def _shares(verdicts: np.ndarray) -> np.ndarray:
    """Per setting, the share of draws giving each verdict: `(settings, 4)`."""
    return np.stack([(verdicts == c).mean(0) for c in range(len(CODES))], axis=-1)


def curtailed(errors: np.ndarray, gamma: float, plan, rng: np.random.Generator, draws: int = DRAWS):
    """Stop each setting with its predicted fixed-report verdict once that prediction reaches probability γ.
    Returns (verdict index, seeds run) per setting, the reference last."""
    others = errors.shape[0] - 1
    final: dict[int, tuple[int, int]] = {}
    for n in plan.looks:
        held = [n] + [final[s][1] if s in final else n for s in range(others)]
        shares = _shares(report_verdicts(predicted(errors, held, draws, rng), plan.alpha, plan.resolution))
        for s in range(others):
            if s not in final and (shares[s].max() >= gamma or n == plan.max):
                final[s] = (int(shares[s].argmax()), n)
        if len(final) == others:
            return [final[s] for s in range(others)] + [(-1, n)]
    raise AssertionError("the last look decides every setting")


def anchored(
    errors: np.ndarray, gamma: float, plan, rng: np.random.Generator, epsilon: float = EPSILON, draws: int = DRAWS
):
    """Better/worse before max across boundaries spending ε; the fixed report's test at α − ε at max; undecided or
    equivalent before max at predictive probability γ. Returns (verdict index, seeds run) per setting, the reference
    last."""
    from scipy import stats as sp

    from ablate.report.best import pooled_variance
    from ablate.report.sequential import boundary

    others = errors.shape[0] - 1
    early = plan.looks[:-1]
    final: dict[int, tuple[int, int]] = {}
    rejected = 0
    for k, n in enumerate(plan.looks):
        open_ = [s for s in range(others) if s not in final]
        held = [n] + [final[s][1] if s in final else n for s in range(others)]
        diffs = errors[1:, :n] - errors[0, :n]
        if n < plan.max:
            table = {s: dict(enumerate(errors[s, : held[s]])) for s in range(others + 1)}
            variance, df = pooled_variance(table, dict(enumerate(held)))
            se = math.sqrt(2 * variance / n)
            while open_:  # Holm's step-down within the look, on the boundaries of the comparisons not yet rejected
                level = boundary(early, epsilon / (others - rejected), plan.spending)[k]
                hits = [s for s in open_ if 2 * sp.t.sf(abs(diffs[s].mean()) / se, df) < level]
                for s in hits:
                    final[s] = (BETTER if diffs[s].mean() < 0 else WORSE, n)
                    open_.remove(s)
                rejected += len(hits)
                if not hits:
                    break
            if open_:
                shares = _shares(report_verdicts(predicted(errors, held, draws, rng), plan.alpha, plan.resolution))
                for s in open_:
                    verdict = EQUIVALENT if shares[s, EQUIVALENT] >= shares[s, UNDECIDED] else UNDECIDED
                    if shares[s, verdict] >= gamma:
                        final[s] = (verdict, n)
        else:  # the fixed report's test on the settings still open, Holm at α − ε over those not rejected
            verdicts = report_verdicts(diffs, 0.0, plan.resolution)  # equivalent or undecided: nothing below α = 0
            mean = diffs.mean(-1)
            se = diffs.std(-1, ddof=1) / math.sqrt(n)
            p = {
                s: float(2 * sp.t.sf(abs(mean[s] / se[s]), n - 1)) if se[s] > 0 else float(mean[s] == 0) for s in open_
            }
            for j, s in enumerate(sorted(open_, key=p.get)):
                if p[s] >= (plan.alpha - epsilon) / (others - rejected - j):
                    break
                verdicts[s] = BETTER if mean[s] < 0 else WORSE
            for s in open_:
                final[s] = (int(verdicts[s]), n)
        if len(final) == others:
            return [final[s] for s in range(others)] + [(-1, n)]
    raise AssertionError("the last look decides every setting")


def decide(rule: str, parameter: float, errors: np.ndarray, names: list[str], plan, rng) -> dict[str, tuple[str, int]]:
    """One design's verdict kind and seeds run per setting of one sweep (`errors`: settings × max seeds, row 0 the
    reference, rows in the order of `names`)."""
    import dataclasses

    from ablate.report import sequential

    if rule == "ablate":
        rows = [(s, seed, float(errors[i, seed])) for i, s in enumerate(names) for seed in range(plan.max)]
        state = sequential.replay(
            repeats.runs_frame(rows), names, names[0], dataclasses.replace(plan, futility=parameter)
        )
        return {s: (repeats.kind(state.decisions[s].verdict), state.decisions[s].seeds) for s in names}
    decided = (curtailed if rule == "curtailed" else anchored)(errors, parameter, plan, rng)
    return {
        s: ("reference" if verdict < 0 else CODES[verdict], seeds)
        for s, (verdict, seeds) in zip([*names[1:], names[0]], decided, strict=True)
    }


def simulated(std: float, sweeps: int = SWEEPS, designs=DESIGNS, seed: int = 0, truth=None) -> dict:
    """Every design on the same `sweeps` simulated sweeps (`benchmarks.repeats.draw`, no shared seed noise): per
    design, each sweep's settings with the fixed report's verdict kind (`ablate.report.stats.analyse` on all `max`
    seeds), the design's and the seeds it ran, in the form `benchmarks.repeats.summarise` takes. `truth`: each
    setting's true Δ in points, the reference first (default: the benchmark's 0, δ, 2δ, 3δ)."""
    from ablate.report import stats
    from ablate.report.options import Options
    from ablate.report.sequential import Plan

    plan = Plan()
    truth = truth or repeats.truths(plan.resolution)
    names = list(truth)
    rng = np.random.default_rng(seed)
    results: dict[tuple[str, float], list] = {d: [] for d in designs}
    for i in range(sweeps):
        rows = repeats.draw(rng, names, truth, plan.max, std, 0.0)
        fixed = stats.analyse(repeats.runs_frame(rows), Options(reference=names[0], resolution=plan.resolution))
        verdict = {s: repeats.kind(v) for s, v in zip(fixed.frame.setting, fixed.frame.verdict, strict=True)}
        errors = np.array([[e for _, _, e in rows[i * plan.max : (i + 1) * plan.max]] for i in range(len(names))])
        for design in designs:
            got = decide(*design, errors, names, plan, np.random.default_rng([seed, i]))  # its own predictive draws
            results[design].append(
                (names, {s: {"fixed": verdict[s], "adaptive": got[s][0], "runs": got[s][1]} for s in names})
            )
    return results


def false_rate(sweeps: list) -> float:
    """The share of `simulated` sweeps in which the design calls any setting better or worse (false where no true
    difference was drawn)."""
    return sum(any(r[s]["adaptive"] in ("better", "worse") for s in names[1:]) for names, r in sweeps) / len(sweeps)


def frontier(stds=STDS, sweeps: int = SWEEPS, null_sweeps: int = NULL_SWEEPS, designs=DESIGNS) -> list[dict]:
    """Per design and std: the share of runs against a fixed n = max, the same verdict, opposite decisions, Δ = δ
    called equivalent (a false equivalence), Δ = 2δ found, and the false better/worse rate over sweeps of five
    equal settings (std δ)."""
    from ablate.report.sequential import Plan

    plan = Plan()
    null = simulated(repeats.STD, null_sweeps, designs, seed=1, truth=repeats.equal(5))
    out = []
    for std in stds:
        result = simulated(std, sweeps, designs)
        for design in designs:
            summary = repeats.summarise(result[design], plan)
            rows = {r["setting"]: r for r in summary["rows"]}
            out.append(
                {
                    "rule": design[0],
                    "parameter": design[1],
                    "std": std,
                    "sweeps": sweeps,
                    "run_fraction": summary["run_fraction"],
                    "agreement": summary["agreement"],
                    "contradictions": summary["contradictions"],
                    "false_equivalence": rows["Δ=1δ"]["adaptive"].get("equivalent", 0.0),
                    "found_2δ": rows["Δ=2δ"]["adaptive"].get("worse", 0.0),
                    "false": false_rate(null[design]),
                    "null_sweeps": null_sweeps,
                }
            )
    return out


def on_records(runs_csv: str, orders: int = repeats.ORDERS, designs=DESIGNS, resolution: float = 0.2) -> list[dict]:
    """Every design on a real sweep's records with a fixed n = max (a report's `runs.csv`: every setting's seeds
    0…max−1 completed; the reference its first setting), replayed in `orders` random orders of the seeds (one
    permutation for every setting, so pairs stay pairs: `benchmarks.repeats.reorder`): per design, the
    share of runs and the same verdict as the fixed report of all the records, over the orders."""
    import dataclasses

    import pandas as pd

    from ablate.errors import DataError
    from ablate.report import stats
    from ablate.report.options import Options
    from ablate.report.sequential import Plan

    frame = pd.read_csv(runs_csv)
    needed = ["setting", "seed", "status", stats.ERROR]
    if missing := [c for c in needed if c not in frame.columns]:
        raise DataError(
            f"{runs_csv!r} has no column {', '.join(missing)}: give a report's runs.csv (columns {', '.join(needed)})."
        )
    runs = stats.completed(frame)
    names = list(dict.fromkeys(runs.setting))
    n = int(runs.seed.max()) + 1 if len(runs) else 0

    def tabled(records: pd.DataFrame) -> pd.DataFrame:
        """Settings × seeds (in the order of `names`) of the records' top-1 errors."""
        return records.pivot_table(index="setting", columns="seed", values=stats.ERROR, aggfunc="first")

    table = tabled(runs)
    if len(names) < 2 or n < Plan().min or table.shape[1] != n or table.isna().any().any():
        raise DataError(
            f"{runs_csv!r} does not hold two or more settings with every seed 0…{max(n, 2) - 1} completed: give the "
            "runs.csv of a sweep with a fixed n = max, such as seed=range(10)."
        )
    errors = table.loc[names, list(range(n))].to_numpy(float)
    rows = [(s, seed, float(errors[i, seed])) for i, s in enumerate(names) for seed in range(n)]
    fixed = stats.analyse(repeats.runs_frame(rows), Options(reference=names[0], resolution=resolution))
    verdict = {s: repeats.kind(v) for s, v in zip(fixed.frame.setting, fixed.frame.verdict, strict=True)}
    plan = dataclasses.replace(Plan(), max=n, resolution=resolution)
    reordered = [tabled(copy).loc[names, list(range(n))].to_numpy(float) for copy in repeats.reorder(runs, n, orders)]
    out = []
    for design in designs:
        sweeps = []
        for i, table_ in enumerate(reordered):
            got = decide(*design, table_, names, plan, np.random.default_rng([1, i]))
            sweeps.append((names, {s: {"fixed": verdict[s], "adaptive": got[s][0], "runs": got[s][1]} for s in names}))
        summary = repeats.summarise(sweeps, plan)
        out.append(
            {
                "rule": design[0],
                "parameter": design[1],
                "orders": orders,
                "run_fraction": summary["run_fraction"],
                "agreement": summary["agreement"],
                "contradictions": summary["contradictions"],
                "fixed": {s: verdict[s] for s in names[1:]},
            }
        )
    return out


PARAMETER = {"ablate": "futility", "anchored": f"γ (ε = {EPSILON:g})", "curtailed": "γ"}


def table(rows: list[dict]) -> dict:
    return {
        "caption": "By stopping rule (benchmarks/repeats_designs.py: every rule on the same simulated sweeps; the "
        f"false rate over {rows[0]['null_sweeps']} sweeps of five equal settings at std δ)",
        "headers": [
            "rule",
            "parameter",
            "std (points)",
            "runs / fixed runs",
            "same verdict",
            "opposite decisions",
            "Δ = δ called equivalent",
            "Δ = 2δ found",
            "false better/worse",
        ],
        "rows": [
            [
                r["rule"],
                f"{PARAMETER[r['rule']]} {r['parameter']:g}",
                f"{r['std']:g}",
                f"{r['run_fraction']:.0%}",
                f"{r['agreement']:.0%}",
                f"{r['contradictions']:.1%}",
                f"{r['false_equivalence']:.0%}",
                f"{r['found_2δ']:.0%}",
                f"{r['false']:.1%}",
            ]
            for r in rows
        ],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.repeats_designs", description=__doc__.splitlines()[0])
    p.add_argument("--sweeps", type=int, default=SWEEPS, help=f"simulated sweeps per std (default {SWEEPS})")
    p.add_argument(
        "--null-sweeps", type=int, default=NULL_SWEEPS, help=f"sweeps of equal settings (default {NULL_SWEEPS})"
    )
    p.add_argument("--runs", default=None, help="a report's runs.csv with a fixed n = max: every rule on its records")
    p.add_argument("--out", default=None, help="also write the rows, the command and the machine to this JSON file")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.runs:
        from ablate.errors import AblateError

        try:
            rows = on_records(args.runs)
        except (AblateError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        lines = [
            f"{r['rule']} {PARAMETER[r['rule']]} {r['parameter']:g}: runs {r['run_fraction']:.1%} of the fixed n, the "
            f"same verdict for {r['agreement']:.0%} of the settings, opposite decisions {r['contradictions']:.1%} "
            f"(over {r['orders']} orders of the seeds)"
            for r in rows
        ]
    else:
        rows = frontier(sweeps=args.sweeps, null_sweeps=args.null_sweeps)
        t = table(rows)
        lines = [t["caption"], "| " + " | ".join(t["headers"]) + " |", "|" + "---|" * len(t["headers"])]
        lines += ["| " + " | ".join(r) + " |" for r in t["rows"]]
    if args.out:
        from benchmarks import machine

        body = {
            "command": "python -m benchmarks.repeats_designs " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine.describe("cpu"),
            "seconds": round(time.perf_counter() - t0, 1),
            "rows": rows,
        }
        with open(args.out, "w") as f:
            json.dump(body, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print("\n".join(lines) + f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

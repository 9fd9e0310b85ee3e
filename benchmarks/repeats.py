"""Adaptive repeats (`+repeats=auto`) against a fixed n = max: the share of runs spent, and whether the verdicts agree.

`python -m benchmarks --only repeats`, or `python -m benchmarks.repeats [--std S] [--shared F] [--sweeps K]
[--sweep DIR]`. Not a test: nothing is asserted; the figures go to the benchmark report.

Simulated sweeps: a reference and four settings whose true top-1 error differs from it by 0, δ, 2δ and 3δ
(δ = `report.resolution`). A run's error is a base error + its setting's Δ + a seed effect shared by every
setting with that seed (runs of one seed see the same data order) + the run's own noise; `std` is the
seed-to-seed std of one setting — take the built-in default's measured pooled std, which the report of a
sweep with `seed=0,1,2` states under its table — and `shared` the part of its variance the seed effect
holds. Each sweep draws all `max` seeds of every setting once. The fixed design is the ordinary report on
all of them (`ablate.report.stats.analyse`: paired t, Holm over the table, equivalence when the 95% CI lies
inside ±δ); the adaptive one is `ablate.report.sequential.replay` with the plan of `+repeats=auto` (min 3,
max 10, batch 2, α 0.05). The replay decides at each look from the seeds below it alone, so run on the full
records it reaches the decisions the adaptive sweep reaches while launching only what each look asks for:
the runs it spends are, per setting, the seeds of the look where it stopped (the reference: of the last
look at which any setting was still open).

On the built-in default (`--sweep DIR`, not run by the benchmark group: it needs real training): a sweep
with a fixed n = max, such as `python -m ablate +sweep=cardinality_vs_width 'seed=range(10)' -m`, gives
both sides from the same records: the fixed report of all of them, and the replay with the runs it would
have spent.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

TITLE = "Adaptive repeats against a fixed n = max"
TARGET = 0.60  # issue 13: the same verdicts as a fixed n = max with at most 60% of its runs
STD = 0.2  # seed-to-seed std (points) when none is given: δ; pass the built-in default's measured pooled std
SHARED = 0.0  # the share of that variance common to all settings of one seed (0: pairing gains nothing)
SWEEPS = 200
BASE = 10.0  # the reference's true top-1 error (%); only differences matter
MULTIPLES = (0, 1, 2, 3)  # true differences in units of δ
VERDICTS = ("better", "worse", "equivalent", "undecided", "reference")
SENSITIVITY = (0.05, 0.1, 0.15, 0.3)  # further seed-to-seed stds (points), fewer sweeps each: how the figures move


def kind(verdict: str) -> str:
    """`better`, `worse`, `equivalent` or `undecided` (dropping the ±δ and n=… details)."""
    return next((v for v in VERDICTS if verdict.startswith(v)), verdict)


def runs_frame(rows: list[tuple[str, int, float]]):
    """A runs frame as `collect` gives it, for the report's own functions: completed runs of (setting, seed, error)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["setting", "seed", "final_val_err"])
    frame["status"] = "completed"
    frame["label"] = frame.setting
    return frame


def compare(runs, settings: list[str], reference: str, plan, resolution: float) -> dict:
    """Both designs on one sweep's records (every setting's seeds 0…max−1): verdicts and runs per setting."""
    from ablate.report import sequential, stats
    from ablate.report.options import Options

    runs = runs[[str(s).lstrip("-").isdigit() and int(s) < plan.max for s in runs.seed]]
    fixed = stats.analyse(runs, Options(reference=reference, resolution=resolution))
    fixed_verdicts = dict(zip(fixed.frame.setting, fixed.frame.verdict, strict=True))
    state = sequential.replay(runs, settings, reference, plan)
    out = {}
    for s in settings:
        d = state.decisions[s]
        out[s] = {"fixed": kind(fixed_verdicts[s]), "adaptive": kind(d.verdict), "runs": d.seeds,
                  "fixed_runs": int((runs.setting == s).sum())}
    return out


def simulate(rng, plan, std: float, shared: float, multiples=MULTIPLES) -> tuple[list[str], dict]:
    """One simulated sweep's verdicts under both designs (settings named by their true Δ in units of δ)."""
    names = ["reference", *(f"Δ={m}δ" for m in multiples)]
    truth = dict(zip(names, [0.0, *(m * plan.resolution for m in multiples)], strict=True))
    seed_sd, run_sd = std * math.sqrt(shared), std * math.sqrt(1 - shared)
    effect = rng.normal(0, seed_sd, plan.max)
    rows = [(s, seed, BASE + truth[s] + effect[seed] + rng.normal(0, run_sd)) for s in names
            for seed in range(plan.max)]
    return names, compare(runs_frame(rows), names, names[0], plan, plan.resolution)


def summarise(results: list[tuple[list[str], dict]], plan) -> dict:
    """Runs spent, agreement and verdict shares per setting, over many sweeps."""
    per: dict[str, dict] = {}
    spent = total = agree = count = 0
    for names, sweep in results:
        for s in names:
            r = sweep[s]
            spent += r["runs"]
            total += plan.max
            p = per.setdefault(s, {"adaptive": Counter(), "fixed": Counter(), "agree": 0, "runs": 0, "n": 0})
            p["adaptive"][r["adaptive"]] += 1
            p["fixed"][r["fixed"]] += 1
            p["runs"] += r["runs"]
            p["n"] += 1
            if s != names[0]:
                same = r["adaptive"] == r["fixed"]
                p["agree"] += same
                agree += same
                count += 1
    rows = []
    for s, p in per.items():
        rows.append({"setting": s, "adaptive": {v: p["adaptive"][v] / p["n"] for v in p["adaptive"]},
                     "fixed": {v: p["fixed"][v] / p["n"] for v in p["fixed"]},
                     "agreement": None if s == next(iter(per)) else p["agree"] / p["n"],
                     "mean_runs": p["runs"] / p["n"]})
    return {"run_fraction": spent / total, "agreement": agree / count if count else math.nan, "rows": rows,
            "sweeps": len(results)}


def simulated(std: float = STD, shared: float = SHARED, sweeps: int = SWEEPS, seed: int = 0) -> dict:
    import numpy as np

    from ablate.report.sequential import Plan

    plan = Plan()  # `+repeats=auto`'s defaults (hydra/sweeper=ablate_repeats)
    rng = np.random.default_rng(seed)
    out = summarise([simulate(rng, plan, std, shared) for _ in range(sweeps)], plan)
    return {**out, "std": std, "shared": shared, "plan": plan.to_dict()}


def from_sweep(sweep_dir: str | Path, max_seeds: int | None = None) -> dict:
    """Both designs on a real sweep with a fixed n = max (its seeds 0…max−1), from its records."""
    from ablate.errors import DataError
    from ablate.report import collect, options, stats
    from ablate.report.sequential import Plan

    sweep = collect(sweep_dir)
    opts = options.from_sweep(sweep.multirun)
    runs = stats.completed(sweep.runs)
    seeds = sorted({int(s) for s in runs.seed.dropna()})
    n = max_seeds or len(seeds)
    plan = Plan(max=n, resolution=opts.resolution) if n >= Plan.min else None
    settings = list(dict.fromkeys(sweep.runs.setting))
    counts = {s: int(((runs.setting == s) & runs.seed.isin(range(n))).sum()) for s in settings}
    if plan is None or any(c < n for c in counts.values()):
        raise DataError(f"SWEEP_DIR={str(sweep_dir)!r} is not a sweep with a fixed n = max: every setting needs "
                        f"seeds 0…{n - 1} completed (it has {counts}); run it with seed=range({max(n, 3)}).")
    reference = settings[0] if opts.reference is None else stats.find_reference(
        settings, opts.reference, runs.groupby("setting").label.first().to_dict(), opts.name("reference"))
    ordered = [reference, *(s for s in settings if s != reference)]
    result = compare(runs, ordered, reference, plan, opts.resolution)
    out = summarise([(ordered, result)], plan)
    std, _, _ = stats.pooled_std(runs.final_val_err[runs.setting == s].to_numpy() for s in settings)
    return {**out, "sweep": str(sweep_dir), "pooled_std": std, "plan": plan.to_dict(), "settings": result}


def _share(shares: dict) -> str:
    return ", ".join(f"{v} {shares[v]:.0%}" for v in VERDICTS if shares.get(v))


def table(result: dict) -> dict:
    rows = [[r["setting"], f"{r['mean_runs']:.1f}", _share(r["adaptive"]), _share(r["fixed"]),
             "–" if r["agreement"] is None else f"{r['agreement']:.0%}"] for r in result["rows"]]
    return {"headers": ["setting (true Δ)", "adaptive: seeds run (mean)", "adaptive verdicts", "fixed n = max verdicts",
                        "same verdict"], "rows": rows}


def notes(result: dict) -> list[str]:
    plan = result["plan"]
    met = "met" if result["run_fraction"] <= TARGET else "missed"
    return [f"{result['sweeps']} simulated sweeps, seed-to-seed std {result['std']:g} points "
            f"({result['shared']:.0%} of its variance shared by the settings of one seed), "
            f"δ = {plan['resolution']:g}; plan min {plan['min']}, "
            f"max {plan['max']}, batch {plan['batch']}, α {plan['alpha']:g} (looks at {plan['looks']} seeds).",
            f"adaptive runs / fixed n = max runs: {result['run_fraction']:.0%} (target ≤ {TARGET:.0%}: {met}); "
            f"the same verdict for {result['agreement']:.0%} of the compared settings.",
            "The adaptive rule tests each look at α/(K·m) and its equivalence CIs at 1 − α/K, so where the fixed "
            "report is decided at the margin the adaptive one may still say undecided; a better/worse of one "
            "against the other's opposite would be a real disagreement (see the verdict shares).",
            f"std {result['std']:g} is a parameter: give the built-in default's measured pooled seed-to-seed std "
            "(the report of a sweep with seed=0,1,2 states it) with `python -m benchmarks.repeats --std S`."]


def sensitivity(stds=SENSITIVITY, sweeps: int = 50, shared: float = SHARED) -> list[dict]:
    """Runs spent and agreement at other seed-to-seed stds (the figures depend on std / δ)."""
    return [{"std": std, **{k: v for k, v in simulated(std, shared, sweeps).items() if k != "rows"}} for std in stds]


def run(quick: bool, results: dict) -> dict:
    """The benchmark group: the simulated sweeps (no training)."""
    t0 = time.perf_counter()
    result = simulated(sweeps=40 if quick else SWEEPS)
    others = sensitivity(sweeps=10 if quick else 50)
    result["seconds"] = time.perf_counter() - t0
    extra = {"caption": f"The same at other seed-to-seed stds (δ = {result['plan']['resolution']:g}, fewer sweeps "
                        "each)",
             "headers": ["std (points)", "sweeps", "adaptive runs / fixed runs", "same verdict"],
             "rows": [[f"{r['std']:g}", str(r["sweeps"]), f"{r['run_fraction']:.0%}", f"{r['agreement']:.0%}"]
                      for r in sorted([result, *others], key=lambda r: r["std"])]}
    return {"title": TITLE, "table": table(result), "tables": [extra], "notes": notes(result), "sensitivity": others,
            **result}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.repeats", description=__doc__.splitlines()[0])
    p.add_argument("--std", type=float, default=STD, help=f"seed-to-seed std of one setting, points (default {STD})")
    p.add_argument("--shared", type=float, default=SHARED, help="share of that variance common to one seed's runs")
    p.add_argument("--sweeps", type=int, default=SWEEPS, help=f"simulated sweeps (default {SWEEPS})")
    p.add_argument("--sweep", default=None, help="a real sweep folder with fixed seeds 0…max−1: compare on its records")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.sweep:
        from ablate.errors import AblateError

        try:
            result = from_sweep(args.sweep)
        except AblateError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(json.dumps(result, indent=1, default=str) if args.json else
              f"{args.sweep}: adaptive runs {result['run_fraction']:.0%} of the fixed n = {result['plan']['max']}; "
              f"the same verdict for {result['agreement']:.0%} of the settings; pooled std "
              f"{result['pooled_std']:.3f}\n" + "\n".join(f"  {s}: fixed {r['fixed']}, adaptive {r['adaptive']} after "
                                                           f"{r['runs']} seeds" for s, r in result['settings'].items()))
        return 0
    result = simulated(args.std, args.shared, args.sweeps)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        t = table(result)
        print("| " + " | ".join(t["headers"]) + " |\n|" + "---|" * len(t["headers"]))
        print("\n".join("| " + " | ".join(r) + " |" for r in t["rows"]))
        print("\n".join(f"- {n}" for n in notes(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Adaptive repeats (`+repeats=auto`) against a fixed n = max: the share of runs spent, and whether the verdicts agree.

`python -m benchmarks --only repeats`, or `python -m benchmarks.repeats [--std S] [--shared F] [--sweeps K]
[--futility G] [--sweep DIR]`. Not a test: nothing is asserted; the figures go to the benchmark report.

Simulated sweeps: a reference and four settings whose true top-1 error differs from it by 0, δ, 2δ and 3δ
(δ = `report.resolution`). A run's error is a base error + its setting's Δ + a seed effect shared by every
setting with that seed (runs of one seed see the same data order) + the run's own noise; `std` is the
seed-to-seed std of one setting and `shared` the part of its variance the seed effect holds. The figures are
given at std = δ and at the built-in default's measured pooled std (`DEFAULT_STD`, which the report of its sweep
with `seed=0,1,2` states under its table). Each sweep draws all `max` seeds of every setting once. The fixed
design is the ordinary report on all of them (`ablate.report.stats.analyse`: paired t, Holm over the table,
equivalence when the 95% CI lies inside ±δ); the adaptive one is `ablate.report.sequential.replay` with the plan
of `+repeats=auto` (min 2, max 10, batch 1, α 0.05). The replay decides at each look from the runs the plan
had made by then alone, so run on the full records it reaches the decisions the adaptive sweep reaches while
launching only what each look asks for: the runs it spends are, per setting, the seeds of the look where it
stopped (the reference: of the last look at which any setting was still open).

Also: the false better/worse rate of both designs over sweeps with no true difference (five settings, all
equal), and how the share of runs and the agreement move with the seed-to-seed std and with the futility
threshold (`Plan.futility`: a setting stops undecided below that predictive chance of a verdict by max); and, from
`benchmarks/repeats_designs.py`, how two rules built for agreement with the fixed report fare on the same sweeps.

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
STD = 0.2  # seed-to-seed std (points) when none is given: δ
DEFAULT_STD = 0.14  # the built-in default's pooled seed-to-seed std (reports/cardinality_vs_width_3_seeds)
SHARED = 0.0  # the share of that variance common to all settings of one seed (0: pairing gains nothing)
SWEEPS = 400
NULL_SWEEPS = 1000
BASE = 10.0  # the reference's true top-1 error (%); only differences matter
MULTIPLES = (0, 1, 2, 3)  # true differences in units of δ
VERDICTS = ("better", "worse", "equivalent", "undecided", "reference")
SENSITIVITY = (0.05, 0.1, 0.3)  # further seed-to-seed stds (points), fewer sweeps each: how the figures move
FUTILITIES = (0.0, 0.1, 0.2, 0.3, 0.4)  # futility thresholds to compare, fewer sweeps each
ORDERS = 100  # seed orders replayed on a real sweep (`reorder`)
SPENDINGS = ("pocock", "linear", "t^2", "obrien-fleming")  # better/worse's α-spending functions, early to late
LOOKS = ((2, 1), (3, 1), (2, 2), (3, 2))  # (min, batch) plans to compare, fewer sweeps each; (3, 2) was the default


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
        out[s] = {
            "fixed": kind(fixed_verdicts[s]),
            "adaptive": kind(d.verdict),
            "runs": d.seeds,
            "fixed_runs": int((runs.setting == s).sum()),
        }
    return out


def draw(rng, names: list[str], truth: dict[str, float], n: int, std: float, shared: float) -> list:
    """One sweep's records: every setting's seeds 0…n−1, error = base + Δ + seed effect + run noise."""
    seed_sd, run_sd = std * math.sqrt(shared), std * math.sqrt(1 - shared)
    effect = rng.normal(0, seed_sd, n)
    return [(s, seed, BASE + truth[s] + effect[seed] + rng.normal(0, run_sd)) for s in names for seed in range(n)]


def truths(resolution: float, multiples=MULTIPLES) -> dict[str, float]:
    """The simulated sweep's settings, the reference first, each named by and mapped to its true Δ (m·δ points)."""
    names = ["reference", *(f"Δ={m}δ" for m in multiples)]
    return dict(zip(names, [0.0, *(m * resolution for m in multiples)], strict=True))


def equal(settings: int) -> dict[str, float]:
    """`settings` settings with no true difference, the reference first: the sweeps that count false verdicts."""
    return dict.fromkeys(["reference", *(f"s{i}" for i in range(1, settings))], 0.0)


def simulate(rng, plan, std: float, shared: float, multiples=MULTIPLES) -> tuple[list[str], dict]:
    """One simulated sweep's verdicts under both designs (settings named by their true Δ in units of δ)."""
    truth = truths(plan.resolution, multiples)
    names = list(truth)
    rows = draw(rng, names, truth, plan.max, std, shared)
    return names, compare(runs_frame(rows), names, names[0], plan, plan.resolution)


def summarise(results: list[tuple[list[str], dict]], plan) -> dict:
    """Runs spent, agreement, contradictions (both decided, differently) and verdict shares per setting."""
    per: dict[str, dict] = {}
    spent = total = agree = contradict = count = 0
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
                contradict += not same and "undecided" not in (r["adaptive"], r["fixed"])
                count += 1
    rows = []
    for s, p in per.items():
        rows.append(
            {
                "setting": s,
                "adaptive": {v: p["adaptive"][v] / p["n"] for v in p["adaptive"]},
                "fixed": {v: p["fixed"][v] / p["n"] for v in p["fixed"]},
                "agreement": None if s == next(iter(per)) else p["agree"] / p["n"],
                "mean_runs": p["runs"] / p["n"],
            }
        )
    return {
        "run_fraction": spent / total,
        "agreement": agree / count if count else math.nan,
        "contradictions": contradict / count if count else math.nan,
        "rows": rows,
        "sweeps": len(results),
    }


def simulated(
    std: float = STD,
    shared: float = SHARED,
    sweeps: int = SWEEPS,
    seed: int = 0,
    futility: float | None = None,
    base=None,
) -> dict:
    """Both designs over `sweeps` simulated sweeps; the adaptive one with `base` (default: `+repeats=auto`'s plan)."""
    import dataclasses

    import numpy as np

    from ablate.report.sequential import Plan

    plan = base or Plan()
    if futility is not None:
        plan = dataclasses.replace(plan, futility=futility)
    rng = np.random.default_rng(seed)
    out = summarise([simulate(rng, plan, std, shared) for _ in range(sweeps)], plan)
    found = next((r for r in out["rows"] if r["setting"] == "Δ=2δ"), None)
    if found:
        out["found_2δ"] = {"adaptive": found["adaptive"].get("worse", 0.0), "fixed": found["fixed"].get("worse", 0.0)}
    return {**out, "std": std, "shared": shared, "plan": plan.to_dict()}


def null(
    std: float = STD, shared: float = SHARED, sweeps: int = NULL_SWEEPS, settings: int = 5, seed: int = 1, base=None
) -> dict:
    """The share of sweeps with no true difference in which either design calls any setting better or worse."""
    import numpy as np

    from ablate.report.sequential import Plan

    plan = base or Plan()
    rng = np.random.default_rng(seed)
    truth = equal(settings)
    names = list(truth)
    false = Counter()
    for _ in range(sweeps):
        sweep = compare(
            runs_frame(draw(rng, names, truth, plan.max, std, shared)),
            names,
            names[0],
            plan,
            plan.resolution,
        )
        for design in ("adaptive", "fixed"):
            false[design] += any(sweep[s][design] in ("better", "worse") for s in names[1:])
    return {
        "sweeps": sweeps,
        "settings": settings,
        "std": std,
        "shared": shared,
        "alpha": plan.alpha,
        "adaptive": false["adaptive"] / sweeps,
        "fixed": false["fixed"] / sweeps,
    }


def from_sweep(sweep_dir: str | Path, max_seeds: int | None = None, base=None) -> dict:
    """Both designs on a real sweep with a fixed n = max (its seeds 0…max−1), from its records; the adaptive one
    with `base`'s looks (default: `+repeats=auto`'s plan), its max the sweep's seeds."""
    import dataclasses

    from ablate.errors import DataError
    from ablate.report import collect, options, stats
    from ablate.report.sequential import Plan

    sweep = collect(sweep_dir)
    opts = options.from_sweep(sweep.multirun)
    runs = stats.completed(sweep.runs)
    seeds = sorted({int(s) for s in runs.seed.dropna()})
    n = max_seeds or len(seeds)
    base = base or Plan()
    plan = dataclasses.replace(base, max=n, resolution=opts.resolution) if n >= base.min else None
    settings = list(dict.fromkeys(sweep.runs.setting))
    counts = {s: int(((runs.setting == s) & runs.seed.isin(range(n))).sum()) for s in settings}
    if plan is None or any(c < n for c in counts.values()):
        raise DataError(
            f"SWEEP_DIR={str(sweep_dir)!r} is not a sweep with a fixed n = max: every setting needs "
            f"seeds 0…{n - 1} completed (it has {counts}); run it with seed=range({max(n, 3)})."
        )
    reference = (
        settings[0]
        if opts.reference is None
        else stats.find_reference(
            settings, opts.reference, runs.groupby("setting").label.first().to_dict(), opts.name("reference")
        )
    )
    ordered = [reference, *(s for s in settings if s != reference)]
    result = compare(runs, ordered, reference, plan, opts.resolution)
    out = summarise([(ordered, result)], plan)
    std, _, _ = stats.pooled_std(runs.final_val_err[runs.setting == s].to_numpy() for s in settings)
    shuffled = summarise(
        [(ordered, compare(r, ordered, reference, plan, opts.resolution)) for r in reorder(runs, n)], plan
    )
    return {
        **out,
        "sweep": str(sweep_dir),
        "pooled_std": std,
        "plan": plan.to_dict(),
        "settings": result,
        "orders": {"count": ORDERS, **{k: shuffled[k] for k in ("run_fraction", "agreement", "contradictions")}},
    }


def reorder(runs, n: int, count: int = ORDERS, seed: int = 0):
    """The same records with the seeds 0…n−1 renamed by `count` random permutations (one per copy, the same for
    every setting, so pairs stay pairs): the orders in which the sweep could have drawn its seeds. The
    adaptive rule looks at seeds in order, so one sweep's figure depends on which seeds came first; the mean over
    orders is what to expect of these settings."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(count):
        perm = rng.permutation(n)
        copy = runs.copy()
        copy["seed"] = [int(perm[int(s)]) if 0 <= int(s) < n else int(s) for s in copy.seed]
        yield copy


def _share(shares: dict) -> str:
    return ", ".join(f"{v} {shares[v]:.0%}" for v in VERDICTS if shares.get(v))


def table(result: dict) -> dict:
    rows = [
        [
            r["setting"],
            f"{r['mean_runs']:.1f}",
            _share(r["adaptive"]),
            _share(r["fixed"]),
            "–" if r["agreement"] is None else f"{r['agreement']:.0%}",
        ]
        for r in result["rows"]
    ]
    return {
        "headers": [
            "setting (true Δ)",
            "adaptive: seeds run (mean)",
            "adaptive verdicts",
            "fixed n = max verdicts",
            "same verdict",
        ],
        "rows": rows,
    }


def figures(result: dict) -> str:
    """One line of a simulation's figures: runs, agreement, contradictions, 2δ found."""
    met = "met" if result["run_fraction"] <= TARGET else "missed"
    found = result.get("found_2δ")
    line = (
        f"std {result['std']:g}: adaptive runs / fixed n = max runs {result['run_fraction']:.0%} (target ≤ "
        f"{TARGET:.0%}: {met}); the same verdict for {result['agreement']:.0%} of the compared settings, "
        f"opposite decisions for {result['contradictions']:.1%}"
    )
    if found:
        line += f"; Δ = 2δ found worse in {found['adaptive']:.0%} of sweeps (fixed: {found['fixed']:.0%})"
    return line + f" ({result['sweeps']} sweeps)."


def notes(result: dict, default: dict | None = None, false: dict | None = None) -> list[str]:
    plan = result["plan"]
    out = [
        f"Simulated sweeps of a reference and settings with true Δ = 0, δ, 2δ, 3δ, δ = {plan['resolution']:g} "
        f"points ({result['shared']:.0%} of the seed-to-seed variance shared by the settings of one seed); plan "
        f"min {plan['min']}, max {plan['max']}, batch {plan['batch']}, α {plan['alpha']:g} (looks at "
        f"{plan['looks']} seeds), futility threshold {plan['futility']:g}.",
        figures(result),
    ]
    if default:
        out.append(figures(default) + " That std is the built-in default's pooled seed-to-seed std.")
    if false:
        out.append(
            f"No true difference ({false['settings']} equal settings, std {false['std']:g}, "
            f"{false['sweeps']} sweeps): a false better/worse in {false['adaptive']:.1%} of the adaptive "
            f"sweeps and {false['fixed']:.1%} of the fixed ones (α = {false['alpha']:.0%})."
        )
    out.append(
        "The adaptive rule (ablate.report.sequential): Δ paired by seed with its variance pooled over the "
        "settings (settings × seeds residual); better/worse on Lan–DeMets Pocock-type boundaries with Holm "
        "over the comparisons; equivalence when the 95% repeated CI lies inside ±δ; a setting stops "
        "undecided when its predictive chance of a verdict by max is below the futility threshold and a difference "
        "of 2δ is no longer plausible. "
        "Disagreements are mostly a decision on one side and undecided on the other, for settings at the "
        "margin (true Δ = 0 or δ); opposite decisions are counted separately."
    )
    return out


def sensitivity(stds=SENSITIVITY, sweeps: int = 100, shared: float = SHARED) -> list[dict]:
    """Runs spent and agreement at other seed-to-seed stds (the figures depend on std / δ)."""
    return [{k: v for k, v in simulated(std, shared, sweeps).items() if k != "rows"} for std in stds]


def futilities(values=FUTILITIES, stds=(STD, DEFAULT_STD), sweeps: int = 100) -> list[dict]:
    """Runs spent and agreement at other futility thresholds (0: never stop undecided before max)."""
    return [
        {k: v for k, v in simulated(std, SHARED, sweeps, futility=g).items() if k != "rows"} | {"futility": g}
        for g in values
        for std in stds
    ]


def variants(
    options: list[tuple[dict, object]], stds=(STD, DEFAULT_STD), sweeps: int = 100, null_sweeps: int = 300
) -> list[dict]:
    """Runs spent, agreement and the false better/worse rate (over sweeps of equal settings) of each plan at each
    std; `options` pairs each plan with the labels its rows carry."""
    out = []
    for labels, base in options:
        false = null(sweeps=null_sweeps, base=base)["adaptive"]
        for std in stds:
            r = simulated(std, SHARED, sweeps, base=base)
            out.append({k: v for k, v in r.items() if k != "rows"} | labels | {"false": false})
    return out


def spendings(names=SPENDINGS, **kwargs) -> list[dict]:
    """`variants` over α-spending functions for better/worse: the later a function spends α, the closer its last
    look comes to the fixed test, and the later it stops."""
    from ablate.report.sequential import Plan

    return variants([({"spending": name}, Plan(spending=name)) for name in names], **kwargs)


def plans(looks=LOOKS, **kwargs) -> list[dict]:
    """`variants` over (min, batch) plans, max and α alike."""
    from ablate.report.sequential import Plan

    return variants(
        [({"min": first, "batch": batch}, Plan(min=first, batch=batch)) for first, batch in looks], **kwargs
    )


def _row(r: dict) -> list[str]:
    found = r.get("found_2δ", {})
    return [
        f"{r['std']:g}",
        str(r["sweeps"]),
        f"{r['run_fraction']:.0%}",
        f"{r['agreement']:.0%}",
        f"{r['contradictions']:.1%}",
        f"{found.get('adaptive', math.nan):.0%} / {found.get('fixed', math.nan):.0%}",
    ]


def run(quick: bool, results: dict) -> dict:
    """The benchmark group: the simulated sweeps (no training)."""
    t0 = time.perf_counter()
    sweeps = 20 if quick else SWEEPS
    result = simulated(sweeps=sweeps)
    default = simulated(DEFAULT_STD, sweeps=sweeps)
    false = null(sweeps=100 if quick else NULL_SWEEPS)
    others = sensitivity(sweeps=5 if quick else 100)
    gammas = futilities(sweeps=5 if quick else 100)
    by_looks = plans(sweeps=5 if quick else 100, null_sweeps=20 if quick else 300)
    by_spending = spendings(sweeps=5 if quick else 200, null_sweeps=20 if quick else 300)
    from benchmarks import repeats_designs

    by_design = repeats_designs.frontier(sweeps=3 if quick else SWEEPS, null_sweeps=3 if quick else NULL_SWEEPS)
    result["seconds"] = time.perf_counter() - t0
    headers = [
        "std (points)",
        "sweeps",
        "adaptive runs / fixed runs",
        "same verdict",
        "opposite decisions",
        "Δ = 2δ found: adaptive / fixed",
    ]
    stds = {
        "caption": f"The same at other seed-to-seed stds (δ = {result['plan']['resolution']:g}; fewer sweeps "
        "for the others)",
        "headers": headers,
        "rows": [_row(r) for r in sorted([result, default, *others], key=lambda r: r["std"])],
    }
    by_gamma = {
        "caption": "By futility threshold (a setting stops undecided below this predictive chance of a "
        f"verdict by max; the default is {result['plan']['futility']:g}, 0 never stops early)",
        "headers": ["futility", *headers],
        "rows": [[f"{r['futility']:g}", *_row(r)] for r in gammas],
    }
    by_plan = {
        "caption": "By plan: seeds before the first look (min) and seeds added per look (batch); max 10, α 0.05 "
        f"alike; the default is min {result['plan']['min']}, batch {result['plan']['batch']}. The false rate is over "
        "sweeps of five equal settings (std δ)",
        "headers": ["min", "batch", "looks", "false better/worse", *headers],
        "rows": [
            [str(r["min"]), str(r["batch"]), str(len(r["plan"]["looks"])), f"{r['false']:.1%}", *_row(r)]
            for r in by_looks
        ],
    }
    spending_table = {
        "caption": "By α-spending function for better/worse (from early to late spending; the default is "
        f"{result['plan']['spending']}). The false rate is over sweeps of five equal settings (std δ)",
        "headers": ["spending", "false better/worse", *headers],
        "rows": [[r["spending"], f"{r['false']:.1%}", *_row(r)] for r in by_spending],
    }
    default_table = {
        "caption": f"Per setting at std {DEFAULT_STD:g} (the built-in default's pooled std)",
        **table(default),
    }
    return {
        "title": TITLE,
        "table": table(result),
        "tables": [default_table, stds, by_gamma, by_plan, spending_table, repeats_designs.table(by_design)],
        "notes": notes(result, default, false),
        "default": {k: v for k, v in default.items() if k != "rows"},
        "null": false,
        "sensitivity": others,
        "futilities": gammas,
        "plans": by_looks,
        "spendings": by_spending,
        "designs": by_design,
        **result,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.repeats", description=__doc__.splitlines()[0])
    p.add_argument("--std", type=float, default=STD, help=f"seed-to-seed std of one setting, points (default {STD})")
    p.add_argument("--shared", type=float, default=SHARED, help="share of that variance common to one seed's runs")
    p.add_argument("--sweeps", type=int, default=SWEEPS, help=f"simulated sweeps (default {SWEEPS})")
    p.add_argument("--futility", type=float, default=None, help="futility threshold (default: the plan's)")
    p.add_argument("--min", type=int, default=None, help="seeds before the first look (default: the plan's)")
    p.add_argument("--batch", type=int, default=None, help="seeds added per look (default: the plan's)")
    p.add_argument("--sweep", default=None, help="a real sweep folder with fixed seeds 0…max−1: compare on its records")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    from ablate.errors import AblateError
    from ablate.report.sequential import Plan, plan

    d = Plan()
    try:
        base = plan(args.min or d.min, d.max, args.batch or d.batch, d.alpha, d.resolution, prefix="--")
    except AblateError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.sweep:
        try:
            result = from_sweep(args.sweep, base=base)
        except AblateError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(
            json.dumps(result, indent=1, default=str)
            if args.json
            else f"{args.sweep}: adaptive runs {result['run_fraction']:.0%} of the fixed n = {result['plan']['max']}; "
            f"the same verdict for {result['agreement']:.0%} of the settings; pooled std "
            f"{result['pooled_std']:.3f}; over {result['orders']['count']} orders of its seeds: runs "
            f"{result['orders']['run_fraction']:.0%}, the same verdict for {result['orders']['agreement']:.0%}\n"
            + "\n".join(
                f"  {s}: fixed {r['fixed']}, adaptive {r['adaptive']} after {r['runs']} seeds"
                for s, r in result["settings"].items()
            )
        )
        return 0
    result = simulated(args.std, args.shared, args.sweeps, futility=args.futility, base=base)
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

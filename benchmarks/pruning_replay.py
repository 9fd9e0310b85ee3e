"""Pruning replayed on recorded learning curves: many seeds of the same search, pruned and unpruned, no training.

`python -m benchmarks.pruning_replay record [--seed S] [--curves FILE]` trains every design of the search space of
`conf/sweep/search_pruning.yaml` to the end, once (a GridSampler multirun of that sweep, unpruned), and writes each
design's val error after every epoch to FILE (default
`reports/bench/pruning_curves_<training images>_val<val images>_seed<S>.json`),
and its held-out error: its trained model scored on the validation images outside the sweep's `data.val_subset`
(`benchmarks.heldout`), which no search selects on.

`python -m benchmarks.pruning_replay [--curves FILE] [--seeds N] [--pruners NAME,...] [--jobs K] [--json F]` then
runs the search of that sweep N times per pruner and N times unpruned, with sampler seeds 0…N-1, through the
project's own Optuna sweeper (`hydra/sweeper=ablate_optuna`: its sampler, pruner, duplicate rule and trial
count, with the sweep's own `params`, `n_trials`, sampler and pruner nodes), on a task that looks each design's
curve up instead of training it: it reports the recorded val error after every epoch to the trial, as the trainer
does, and stops when the pruner says so (before the last epoch, as the trainer does).

Why: `benchmarks/pruning.py` compares one pruned search with one unpruned search per seed, each costing minutes
of training, and two things blur that comparison. TPE proposes from what it has seen, so after the first trials
the two searches try different designs; and a seed's training noise is part of both searches' best error. Here
every design has one recorded outcome (training is deterministic for a given seed), so the two searches of a
seed differ only in what the search itself did, and many sampler seeds cost seconds each. The replay is exact
for the search (the same sweeper, sampler and pruner on the same values) under one assumption: a design's curve
does not depend on which search trains it, which holds for one training seed (the run seed is part of the
recorded file). It says nothing about other training seeds: record another curve file for that.

Per seed and pruner: the epochs the pruned search trained as a share of the unpruned search's (same seed), its
best val error (among completed trials, never a pruned one) minus the unpruned search's, the same for the held-out
errors of the two designs picked (where the curves hold them: a search's own best score is the lowest of its
completed trials' scores, and the lowest of more noisy scores is lower by luck, so the held-out difference is the
one the error target is judged on when present), and what it did with the
space's best design (trained it, or one tied with it, to the end; pruned it at an epoch; or never ran it), which
tells a pruner that stopped the winner from a sampler that never proposed it. Across seeds: the mean of each with
its 95 % t-interval (`scipy.stats`), how many seeds meet issue 14's targets (`pruning.EPOCH_TARGET`,
`pruning.ERROR_TARGET`), and the best design's fates counted. Not a test: nothing is asserted. Constraints of
the sweep are left out: every design of its space lies on the budget (tests/test_bench_pruning.py solves each).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from ablate.errors import override_value
from ablate.run.pruning import DEFAULT_ON, PRUNE_ON
from benchmarks import pruning
from benchmarks.heldout import heldout_error
from benchmarks.workload import ROOT

TITLE = "Pruning replayed on recorded curves: many seeds of the same search"
BENCH = Path(ROOT) / "reports" / "bench"
SWEEP_FILE = Path(ROOT) / "conf" / "sweep" / f"{pruning.SWEEP}.yaml"
SEEDS = 20
JOBS = 2  # searches at once (each is one process: the sweeper and the lookups use one core)
PRUNERS: dict[str, dict | None] = {  # "sweep": the sweep file's own pruner node
    "sweep": None,
    "hyperband-rf2": {"_target_": "optuna.pruners.HyperbandPruner", "min_resource": 1, "reduction_factor": 2},
    "hyperband-min2": {"_target_": "optuna.pruners.HyperbandPruner", "min_resource": 2, "reduction_factor": 3},
    "median": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 4, "n_warmup_steps": 2},
    # one bracket of successive halving: every trial meets rungs at epochs 1 and 3 (Hyperband's second bracket: 3 only)
    "successive-halving": {"_target_": "optuna.pruners.SuccessiveHalvingPruner", "min_resource": 1,
                           "reduction_factor": 3},
    "successive-halving-rate1": {"_target_": "optuna.pruners.SuccessiveHalvingPruner", "min_resource": 1,
                                 "reduction_factor": 3, "min_early_stopping_rate": 1},
}
DEFAULT_PRUNERS = ("sweep",)


def curves_file(seed: int, recipe: tuple[str, ...] = ()) -> Path:
    """The curve file of training seed `seed` for the sweep's recipe with the overrides `recipe`, named by its
    training images and val subset (`pruning_curves_4000_val5000_seed0.json`); the files named without them hold
    the former recipe's curves (1,000 augmented images, val subset 1,000). ValueError for a recipe override the
    name cannot hold: such curves need a name of their own."""
    from omegaconf import OmegaConf

    from ablate.errors import override_key

    data = OmegaConf.load(SWEEP_FILE).data
    given = {override_key(o): o.partition("=")[2] for o in recipe}
    other = sorted(set(given) - {"data.train_subset", "data.val_subset"})
    if other:
        raise ValueError(f"--recipe {other[0]}={given[other[0]]} changes more than the training images and the val "
                         "subset the default curve file is named by: name the file with --curves.")
    images = given.get("data.train_subset", data.train_subset)
    val = given.get("data.val_subset", data.val_subset)
    return BENCH / f"pruning_curves_{images}_val{val}_seed{seed}.json"


# ---------------------------------------------------------------------------------------------------- recording
def record_command(sweep_dir: Path, seed: int, n_designs: int, recipe: tuple[str, ...] = ()) -> list[str]:
    """The unpruned grid multirun of the sweep: every design once, to the end (no report); `recipe`: overrides of
    the sweep's training recipe (e.g. `data.train_subset=4000`), added last."""
    return [*pruning.command(sweep_dir, seed, ("hydra.sweeper.pruner=null",)),
            "hydra.sweeper.sampler={_target_: optuna.samplers.GridSampler}", f"hydra.sweeper.n_trials={n_designs}",
            *recipe]


def space_size(params: dict) -> int:
    """The number of designs of a space of `choice(...)` axes."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    size = 1
    for name, text in params.items():
        override = parser.parse_override(f"{name}={text}")
        if not override.is_choice_sweep():
            raise ValueError(f"{name}={text}: the replay needs a space of choice() axes, to record every design.")
        size *= len(override.value().list)
    return size


def sweep_node() -> dict:
    """`hydra.sweeper` of the sweep file, as plain data (`${seed}` left unresolved)."""
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(OmegaConf.load(SWEEP_FILE).hydra.sweeper, resolve=False)
    assert isinstance(node, dict)
    return node


def read_curves(sweep_dir: Path, seed: int) -> dict:
    """Every completed design's val error after each epoch, from the sweep folder's records."""
    from ablate.report import search as report
    from ablate.run.record import RunRecord

    study = report.read_study(sweep_dir)
    curves, precisions = [], set()
    for trial in study["trials"]:
        attrs = trial.get("user_attrs") or {}
        if trial.get("state") != "COMPLETE" or attrs.get("copy_of") is not None or not attrs.get("job_dir"):
            continue
        record = RunRecord.load(attrs["job_dir"]).to_dict()
        precisions.add((record.get("throughput") or {}).get("precision"))
        epochs = sorted(record.get("epochs") or [], key=lambda e: e["epoch"])
        held = heldout_error(attrs["job_dir"])
        curves.append({"params": trial["params"], "val_err": [round(float(e["val_err"]), 4) for e in epochs],
                       "train_loss": [round(float(e["train_loss"]), 6) for e in epochs],
                       "heldout_err": round(held["err"], 4), "heldout_images": held["images"]})
    return {"sweep": pruning.SWEEP, "seed": seed, "precision": ",".join(sorted(map(str, precisions))),
            "designs": len(curves), "curves": curves}


def record(seed: int, out: Path, keep: Path | None = None, recipe: tuple[str, ...] = ()) -> dict:
    """Train every design of the sweep's space to the end with training seed `seed` (the grid multirun, into
    `keep/grid` or a temporary folder) and write the curves to `out`. RuntimeError when a design did not complete."""
    node = sweep_node()
    n = space_size(node["params"])
    with tempfile.TemporaryDirectory(prefix="ablate-pruning-curves-") as tmp:
        sweep_dir = (keep or Path(tmp)) / "grid"
        tic = time.perf_counter()
        log = sweep_dir.with_name("grid.log")
        sweep_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            proc = subprocess.run(record_command(sweep_dir, seed, n, recipe), cwd=ROOT, stdout=f,
                                  stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"the grid multirun exited {proc.returncode}: {log.read_text()[-800:]}")
        data = read_curves(sweep_dir, seed)
    from benchmarks import machine

    data.update(wall_seconds=round(time.perf_counter() - tic, 1), cpu=machine.cpu_model(),
                cpu_flags=machine.cpu_flags(),
                command=" ".join(record_command(Path("DIR"), seed, n, recipe)[1:]))
    if data["designs"] != n:
        raise RuntimeError(f"{data['designs']} of the space's {n} designs completed: the curves are incomplete.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    return data


# ------------------------------------------------------------------------------------------------------ replaying
def _value(value):
    """A parameter value as the job's config holds it: the study stores a choice of lists as text (`[1,2,1,1]`)."""
    return json.loads(value) if isinstance(value, str) and value.startswith("[") else value


def key(values: list) -> str:
    """A design's lookup key: its parameter values, in the order of the sorted parameter names."""
    return json.dumps([_value(v) for v in values])


def lookup(curves: dict, field: str = "val_err") -> dict:
    """Each design's `field` (its val errors by default) by its key; designs recorded without it are left out."""
    names = sorted(curves["curves"][0]["params"])
    return {key([c["params"][n] for n in names]): c[field] for c in curves["curves"] if field in c}


def heldout_lookup(curves: dict) -> dict[str, float]:
    """Each design's held-out error by its key; empty for curves recorded without them."""
    return lookup(curves, "heldout_err")


def picked(sweep_dir: Path) -> str | None:
    """The design of the search's best trial (the lowest final value of a completed job; the first such job on a
    tie, as Optuna's best trial): the key its replay.json names."""
    jobs = sorted((int(p.parent.name), json.loads(p.read_text())) for p in sweep_dir.glob("*/replay.json")
                  if p.parent.name.isdigit())
    done = [(j["value"], n, j["design"]) for n, j in jobs if j["status"] == "completed" and "value" in j]
    return min(done)[2] if done else None


def prune_on(node: dict) -> str:
    """The epoch value a sweeper node reports to its pruner: its `prune_on`, else the sweeper's default."""
    return node.get("prune_on") or DEFAULT_ON


def reported_lookup(curves: dict, on: str) -> dict[str, list[float]]:
    """Each design's per-epoch values of `on` (the sweep's `prune_on`) by its key. ValueError for curves recorded
    without them."""
    if not all(on in c for c in curves["curves"]):
        raise ValueError(f"the curves hold no {on} of every design, which the sweep's prune_on={on} reports: record "
                         "them again, or replay them on their val errors with --prune-on val_err.")
    return lookup(curves, on)


def replayed(table: dict[str, list[float]], reported: dict[str, list[float]], names: list[str], cfg) -> float:
    """The Hydra task (with `table`, `reported` and the parameter `names` bound): the design's recorded curve of
    the sweep's `prune_on` (`reported`), reported epoch by epoch; pruned when the pruner says so. Its value is the
    design's final val error (`table`) either way."""
    import optuna
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from ablate.run.pruning import reporter

    values = [OmegaConf.to_container(v) if OmegaConf.is_config(v) else v
              for v in (OmegaConf.select(cfg, n) for n in names)]
    design = key(values)
    curve = table[design]
    report = reporter()
    out = Path(HydraConfig.get().runtime.output_dir)
    for epoch, value in enumerate(reported[design], 1):
        if report(epoch, value) and epoch < len(curve):
            (out / "replay.json").write_text(json.dumps({"epochs": epoch, "status": "pruned", "design": design}))
            raise optuna.TrialPruned()
    (out / "replay.json").write_text(json.dumps({"epochs": len(curve), "status": "completed", "design": design,
                                                 "value": float(curve[-1])}))
    return float(curve[-1])


def rung_ranks(curves: dict) -> list[dict]:
    """For every epoch but the last, how well the designs' val errors after it rank them as their final val errors
    do, and as their held-out errors do (where the curves hold them): Spearman's rank correlation (`scipy.stats`).
    A pruner can only keep the designs that finish best if their early ranking is their final one: near 0 at the
    rungs, it prunes at random."""
    from scipy import stats

    rows = curves["curves"]
    final = [c["val_err"][-1] for c in rows]
    held = [c["heldout_err"] for c in rows] if all("heldout_err" in c for c in rows) else None
    out = []
    for epoch in range(1, len(rows[0]["val_err"])):
        early = [c["val_err"][epoch - 1] for c in rows]
        row = {"epoch": epoch, "final": float(stats.spearmanr(early, final).statistic)}
        if held is not None:
            row["heldout"] = float(stats.spearmanr(early, held).statistic)
        if all("train_loss" in c for c in rows):  # what the mean training loss after the epoch says (prune_on)
            row["train_loss"] = float(stats.spearmanr([c["train_loss"][epoch - 1] for c in rows], final).statistic)
        out.append(row)
    return out


def search_worth(curves: dict, unpruned: dict[int, dict]) -> dict | None:
    """What the unpruned search's pick is worth against a design picked at random, held out: the space's mean
    held-out error and best one, and the picks' mean (None for curves without held-out errors). The error target
    reads against it: a pruned search within 0.3 points of an unpruned one that beats a random pick by little
    says little about pruning."""
    held = heldout_lookup(curves)
    picks = [r["best_heldout_err"] for r in unpruned.values() if r.get("best_heldout_err") is not None]
    if not held or not picks:
        return None
    space = sum(held.values()) / len(held)
    pick = sum(picks) / len(picks)
    return {"space_mean": space, "space_best": min(held.values()), "unpruned_pick_mean": pick,
            "gain_over_random": space - pick}


def best_designs(table: dict[str, list[float]]) -> set[str]:
    """The keys of the designs with the lowest final val error (several when they tie)."""
    best = min(curve[-1] for curve in table.values())
    return {k for k, curve in table.items() if curve[-1] == best}


def fate(jobs: list[dict], designs: set[str]) -> str:
    """What a search did with the best designs: `completed` (one trained to the end), `pruned at epoch N` (the
    furthest any got), or `not proposed` (no job ran one; a design proposed again is a copy of the job that ran it,
    so the jobs are what the search tried)."""
    ran = [j for j in jobs if j.get("design") in designs]
    if any(j["status"] == "completed" for j in ran):
        return "completed"
    if ran:
        return f"pruned at epoch {max(j['epochs'] for j in ran)}"
    return "not proposed"


def base_config(curves: dict) -> dict:
    """The task's config: the parameters' paths, filled with the first design's values."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({})
    for name, value in curves["curves"][0]["params"].items():
        OmegaConf.update(cfg, name, _value(value), force_add=True)
    container = OmegaConf.to_container(cfg)
    assert isinstance(container, dict)
    return container


def search(curves: dict, seed: int, pruner: dict | None, sweep_dir: Path, node: dict | None = None) -> dict:
    """One search in this process (Hydra's basic launcher, jobs in this process); its figures. `node`: the sweeper
    node whose `params`, `n_trials`, `n_jobs` (trials asked at once: TPE proposes each batch's trials without
    their values), `direction`, `sampler` and `prune_on` (the curve it reports) it runs (default: the sweep
    file's)."""
    from benchmarks.sweeper_app import multirun

    node = node or sweep_node()
    sampler = {**node["sampler"], "seed": seed} if node.get("sampler") else {"seed": seed}
    overrides = ["hydra/launcher=basic", f"hydra.sweep.dir={sweep_dir}",
                 f"hydra.sweeper.n_trials={node['n_trials']}",
                 *([f"hydra.sweeper.n_jobs={node['n_jobs']}"] if "n_jobs" in node else []),  # else the sweeper's
                 f"hydra.sweeper.direction={node['direction']}",
                 f"hydra.sweeper.study_name={node.get('study_name') or 'replay'}",
                 f"hydra.sweeper.sampler={override_value(sampler)}",
                 f"hydra.sweeper.pruner={override_value(pruner)}",
                 *(f"{name}={text}" for name, text in node["params"].items())]
    on = prune_on(node)
    overrides.append(f"hydra.sweeper.prune_on={on}")
    tic = time.perf_counter()
    table = lookup(curves)
    task = partial(replayed, table, reported_lookup(curves, on), sorted(curves["curves"][0]["params"]))
    multirun("pruning_replay", base_config(curves), task, overrides)
    jobs = [json.loads(p.read_text()) for p in sweep_dir.glob("*/replay.json")]
    best = _best(sweep_dir)
    held, design = heldout_lookup(curves), picked(sweep_dir)
    return {"seed": seed, "epochs": sum(j["epochs"] for j in jobs), "runs": len(jobs),
            "pruned": sum(j["status"] == "pruned" for j in jobs), "best_val_err": best,
            "best_heldout_err": held.get(design) if design is not None else None,
            "best_design": fate(jobs, best_designs(table)), "seconds": round(time.perf_counter() - tic, 2)}


def _best(sweep_dir: Path) -> float | None:
    study = json.loads((sweep_dir / "study.json").read_text())
    values = [t["values"][0] for t in study["trials"] if t.get("state") == "COMPLETE" and t.get("values")]
    return min(values) if values else None


def _one(args) -> tuple[str, dict]:
    curves, seed, name, pruner, node = args
    with tempfile.TemporaryDirectory(prefix=f"replay-{name}-{seed}-") as tmp:
        return name, search(curves, seed, pruner, Path(tmp) / "sweep", node)


def pruner_nodes(names: list[str], sweep: dict | None = None) -> dict[str, dict | None]:
    """The pruners to compare, by name (of `PRUNERS`, or given as nodes in a dict); "sweep" is the sweeper
    node's own pruner; a Hyperband pruner without `max_resource` gets the sweep's."""
    sweep = sweep or sweep_node()
    out: dict[str, dict | None] = {}
    for name in names:
        if name not in PRUNERS:
            raise ValueError(f"--pruners {name!r} is not a pruner of the replay: valid are {', '.join(PRUNERS)}.")
        node = PRUNERS[name] if name != "sweep" else sweep["pruner"]
        if node is not None and node.get("_target_", "").endswith("HyperbandPruner") and "max_resource" not in node:
            node = {"max_resource": sweep["pruner"]["max_resource"], **node}
        out[name] = node
    return out


def replay(curves: dict, seeds: int = SEEDS, pruners=DEFAULT_PRUNERS, jobs: int = JOBS, sweep: dict | None = None
           ) -> dict:
    """Every pruner and the unpruned search over sampler seeds 0…seeds-1; the per-seed figures and summaries.
    `pruners`: names of `PRUNERS`, or a dict of name to pruner node. `sweep`: the sweeper node to replay
    (default: the sweep file's)."""
    sweep = sweep or sweep_node()
    nodes = dict(pruners) if isinstance(pruners, dict) else pruner_nodes(list(pruners), sweep)
    tasks = [(curves, s, name, node, sweep) for s in range(seeds) for name, node in
             [("unpruned", None), *nodes.items()]]
    runs: dict[str, dict[int, dict]] = {name: {} for name in ["unpruned", *nodes]}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for name, result in pool.map(_one, tasks):
            runs[name][result["seed"]] = result
    summary = {name: summarise(runs[name], runs["unpruned"]) for name in nodes}
    table_best = min(c["val_err"][-1] for c in curves["curves"])
    return {"title": TITLE, "seeds": seeds, "curves_seed": curves["seed"], "designs": curves["designs"],
            "best_design_val_err": table_best, "rung_ranks": rung_ranks(curves),
            "search_worth": search_worth(curves, runs["unpruned"]),
            "pruners": {k: v for k, v in nodes.items()}, "runs": runs,
            "summary": summary}


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % t-interval (SciPy's t distribution); the interval is the mean alone for one value or
    for values without spread."""
    from scipy import stats

    mean = sum(values) / len(values)
    if len(values) < 2 or stats.sem(values) == 0:  # one value, or all alike: no spread to scale the interval
        return mean, mean, mean
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, float(low), float(high)


def summarise(pruned: dict[int, dict], unpruned: dict[int, dict]) -> dict:
    """Across seeds: epoch share and error difference (means with intervals), seeds meeting each target; the same
    for the held-out errors of the picked designs where the curves hold them."""
    seeds = sorted(set(pruned) & set(unpruned))
    share = {s: pruned[s]["epochs"] / unpruned[s]["epochs"] for s in seeds}
    share_ci = interval(list(share.values()))
    own = _differences(pruned, unpruned, seeds, "best_val_err")
    held = _differences(pruned, unpruned, seeds, "best_heldout_err")
    diff_ci, held_ci = interval(list(own.values())) if own else None, interval(list(held.values())) if held else None
    fates = Counter(pruned[s]["best_design"] for s in seeds if "best_design" in pruned[s])
    return {"seeds": len(seeds), "epoch_share": share_ci, "error_difference": diff_ci,
            "heldout_difference": held_ci, "seeds_heldout_met": sum(map(_error_met, held.values())),
            "seeds_heldout_both_met": sum(_error_met(d) and share[s] <= pruning.EPOCH_TARGET for s, d in held.items()),
            "best_design": dict(sorted(fates.items())),
            "seeds_epochs_met": sum(x <= pruning.EPOCH_TARGET for x in share.values()),
            "seeds_error_met": sum(map(_error_met, own.values())),
            "seeds_both_met": sum(_error_met(d) and share[s] <= pruning.EPOCH_TARGET for s, d in own.items()),
            "seeds_without_completed": len(seeds) - len(own),
            "mean_met": share_ci[0] <= pruning.EPOCH_TARGET
            and diff_ci is not None and diff_ci[0] <= pruning.ERROR_TARGET,
            "heldout_mean_met": None if held_ci is None else share_ci[0] <= pruning.EPOCH_TARGET
            and held_ci[0] <= pruning.ERROR_TARGET}


def _differences(pruned: dict[int, dict], unpruned: dict[int, dict], seeds: list[int], field: str) -> dict:
    """By seed, the pruned search's `field` minus the unpruned one's, where both searches have it."""
    return {s: pruned[s][field] - unpruned[s][field] for s in seeds
            if pruned[s].get(field) is not None and unpruned[s].get(field) is not None}


def _error_met(difference: float) -> bool:
    """Issue 14's error target, with room for the rounding of recorded errors."""
    return difference <= pruning.ERROR_TARGET + 1e-9


def describe(node: dict | None) -> str:
    if node is None:
        return "none"
    kind = node["_target_"].rsplit(".", 1)[-1]
    return kind + "(" + ", ".join(f"{k}={v}" for k, v in node.items() if k != "_target_") + ")"


def _ci(ci: tuple[float, float, float] | None) -> str:
    return "– (no completed trial)" if ci is None else f"{ci[0]:+.2f} ({ci[1]:+.2f} to {ci[2]:+.2f})"


def table(result: dict) -> dict:
    """One row per pruner; with held-out errors in the curves, two more columns: the picked designs' held-out
    difference and the seeds meeting the targets on it."""
    held = any(s.get("heldout_difference") is not None for s in result["summary"].values())
    rows = []
    for name, s in result["summary"].items():
        share = s["epoch_share"]
        row = [name, describe(result["pruners"][name]), f"{share[0]:.0%} ({share[1]:.0%}–{share[2]:.0%})",
               _ci(s["error_difference"]),
               f"{s['seeds_epochs_met']} / {s['seeds_error_met']} / {s['seeds_both_met']} of {s['seeds']}"]
        if held:
            row += [_ci(s.get("heldout_difference")),
                    f"{s.get('seeds_heldout_met', 0)} / {s.get('seeds_heldout_both_met', 0)} of {s['seeds']}"]
        rows.append(row)
    headers = ["pruner", "node", "epochs, share of unpruned (95 % CI)", "best error − unpruned best, points (95 % CI)",
               "seeds meeting ≤ 50 % epochs / ≤ +0.3 / both"]
    if held:
        headers += ["held-out error of the picked design − unpruned's, points (95 % CI)",
                    "seeds meeting ≤ +0.3 held out / and ≤ 50 % epochs"]
    return {"headers": headers, "rows": rows}


def notes(result: dict) -> list[str]:
    out = [f"{result['designs']} designs of `+sweep={pruning.SWEEP}` trained to the end once (training seed "
           f"{result['curves_seed']}; the best final val error {result['best_design_val_err']:.2f} %), then each "
           f"search replayed with sampler seeds 0–{result['seeds'] - 1} through the project's sweeper, the curves "
           "looked up instead of trained: pruned and unpruned searches differ only in what the search did."]
    if result.get("rung_ranks"):
        ranks = ", ".join(f"{r['epoch']}: {r['final']:+.2f}" + (f" ({r['heldout']:+.2f})" if "heldout" in r else "")
                          for r in result["rung_ranks"])
        out.append(f"How the val error after each epoch ranks the designs as their final val error does (held out in "
                   f"brackets), Spearman's rho by epoch: {ranks}. Near 0 at a rung, the pruner stops designs at "
                   "random there.")
        if all("train_loss" in r for r in result["rung_ranks"]):
            losses = ", ".join(f"{r['epoch']}: {r['train_loss']:+.2f}" for r in result["rung_ranks"])
            out.append(f"The same for the epoch's mean training loss (what `prune_on: train_loss` reports): {losses}.")
    worth = result.get("search_worth")
    if worth:
        out.append(f"Held out, a design picked at random scores {worth['space_mean']:.2f} % on average (the space's "
                   f"best {worth['space_best']:.2f} %) and the unpruned search's pick "
                   f"{worth['unpruned_pick_mean']:.2f} %: the search beats a random pick by "
                   f"{worth['gain_over_random']:+.2f} points, the yardstick of the differences below.")
    for name, s in result["summary"].items():
        verdict = "met" if s["mean_met"] else "missed"
        diff = "no completed trial" if s["error_difference"] is None else f"{s['error_difference'][0]:+.2f}"
        fates = "; ".join(f"{what} in {n}" for what, n in (s.get("best_design") or {}).items())
        out.append(f"{name}: on average {s['epoch_share'][0]:.0%} of the epochs and {diff} "
                   f"points (targets ≤ {pruning.EPOCH_TARGET:.0%} and ≤ +{pruning.ERROR_TARGET}: {verdict}); both "
                   f"targets in {s['seeds_both_met']} of {s['seeds']} seeds; the space's best design: {fates}.")
        held = s.get("heldout_difference")
        if held is not None:
            verdict = "met" if s["heldout_mean_met"] else "missed"
            out.append(f"{name}, judged on held-out errors (the designs each search picked, scored on the "
                       f"validation images no search selected on): {held[0]:+.2f} points on average (95 % CI "
                       f"{held[1]:+.2f} to {held[2]:+.2f}; with the epochs, {verdict}); both targets in "
                       f"{s['seeds_heldout_both_met']} of {s['seeds']} seeds.")
    return out


def run(quick: bool, results: dict) -> dict:
    """The benchmark group: the committed curves replayed (quick: two seeds, the sweep's pruner only)."""
    curves = json.loads(curves_file(pruning.SEED).read_text())
    result = replay(curves, 2 if quick else SEEDS, DEFAULT_PRUNERS if quick else tuple(PRUNERS))
    return {**result, "quick": quick, "table": table(result), "notes": notes(result)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pruning_replay", description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", default="replay", choices=("replay", "record"))
    p.add_argument("--curves", default=None, help="the curve file (default: record writes "
                   "reports/bench/pruning_curves_<training images>_val<val images>_seed<S>.json, the replay reads "
                   "the seed-0 one)")
    p.add_argument("--seed", type=int, default=pruning.SEED, help="record: the training seed")
    p.add_argument("--keep", default=None, help="record: keep the grid sweep folder here")
    p.add_argument("--recipe", nargs="*", default=[], metavar="OVERRIDE",
                   help="record: overrides of the sweep's training recipe, e.g. data.train_subset=4000")
    p.add_argument("--seeds", type=int, default=SEEDS, help=f"replay: sampler seeds 0…N-1 (default {SEEDS})")
    p.add_argument("--pruners", default=",".join(DEFAULT_PRUNERS),
                   help=f"replay: comma-separated, of {', '.join(PRUNERS)} (default {','.join(DEFAULT_PRUNERS)})")
    p.add_argument("--jobs", type=int, default=JOBS, help=f"replay: searches at once (default {JOBS})")
    p.add_argument("--json", default=None, help="replay: write the figures to this JSON file")
    p.add_argument("--startup-trials", type=int, default=None,
                   help="replay: TPE's random start-up trials in every search, pruned and unpruned (default: the sweep "
                        "file's sampler, TPE's own 10)")
    p.add_argument("--prune-on", default=None, choices=PRUNE_ON,
                   help="replay: the curve each epoch reports to the pruner (default: the sweep file's prune_on; "
                        "val_err for curve files recorded without training losses)")
    args = p.parse_args(argv)
    if args.action == "record":
        try:
            out = Path(args.curves) if args.curves else curves_file(args.seed, tuple(args.recipe))
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        try:
            data = record(args.seed, out, Path(args.keep) if args.keep else None, tuple(args.recipe))
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{data['designs']} designs, {data['wall_seconds']} s on {data['cpu']}: {out}")
        return 0
    names = [n.strip() for n in args.pruners.split(",") if n.strip()]
    unknown = [n for n in names if n not in PRUNERS]
    if unknown or args.seeds < 1:
        what = f"--pruners {unknown[0]!r} is not one of {', '.join(PRUNERS)}" if unknown else \
            f"--seeds {args.seeds} must be at least 1"
        print(f"error: {what}.", file=sys.stderr)
        return 2
    curves = json.loads(Path(args.curves or curves_file(pruning.SEED)).read_text())
    sweep = sweep_node()
    if args.startup_trials is not None:
        sweep["sampler"] = {**(sweep.get("sampler") or {}), "n_startup_trials": args.startup_trials}
    if args.prune_on is not None:
        sweep["prune_on"] = args.prune_on
    try:
        reported_lookup(curves, prune_on(sweep))  # refused here, before any search starts
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = replay(curves, args.seeds, names, args.jobs, sweep=sweep)
    t = table(result)
    print(f"## {TITLE}\n")
    print(f"{result['designs']} designs recorded with training seed {result['curves_seed']} "
          f"(best final val error {result['best_design_val_err']:.2f} %); sampler seeds 0–{args.seeds - 1}.\n")
    print("| " + " | ".join(t["headers"]) + " |\n|" + "---|" * len(t["headers"]))
    print("\n".join("| " + " | ".join(r) + " |" for r in t["rows"]))
    print("\n" + "\n".join(f"- {line}" for line in notes(result)[1:]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

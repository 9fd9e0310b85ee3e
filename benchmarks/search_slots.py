"""`python -m benchmarks.search_slots [--trials N] [--slots K] [--lengths A-B,...] [--out DIR]`: how busy the Optuna
sweeper keeps its slots.

A tiny Hydra app whose trials sleep for unequal lengths (the same lengths, by job number, in
every mode) runs through `hydra/sweeper=ablate_optuna` on the joblib launcher with `n_jobs`
slots, twice: as it runs by default (each trial launched alone, a new one as soon as a slot
frees) and as batches of `n_jobs` that wait for their slowest member (the loop before; forced
here with `hydra.sweeper.asynchronous=false`). Each job records when it started and ended.

Three figures per mode and length range:
- occupancy while trials are left to start: the slots' busy time from the first start to the last
  start, over slots × that time (the scheduling figure: a slot that frees should start the next
  trial at once; after the last start, slots idle because there is nothing left to run);
- slot occupancy: the jobs' summed run time over slots × (last end − first start);
- over the whole sweep: the same sum over slots × the multirun's wall time (Hydra's start, the
  study, the launcher's workers and the sweeper's own work included).
Sleeping jobs use no CPU, so the figures measure scheduling, not the machine. Not a test: nothing
is asserted; the table is printed and, with `--out`, written to `search_slots.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

SEED = 0
LENGTHS = "2-12,0.5-3"  # seconds a trial sleeps, shortest-longest: trials of a few seconds, and of under one
CONFIG = {"x": 0.0, "shortest": 1.0, "longest": 1.0}


def durations(n: int, shortest: float, longest: float) -> list[float]:
    """The sleep of job 0, 1, …, n-1: uniform between `shortest` and `longest`, the same list in every mode."""
    rng = random.Random(SEED)
    return [round(rng.uniform(shortest, longest), 2) for _ in range(n)]


def sleeper(cfg) -> float:
    """Sleeps as long as `durations` gives its job number; records when it started and ended."""
    from hydra.core.hydra_config import HydraConfig

    num = HydraConfig.get().job.num
    start = time.time()
    time.sleep(durations(num + 1, cfg.shortest, cfg.longest)[num])
    end = time.time()
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "result.json").write_text(json.dumps({"job_num": num, "start": start, "end": end}))
    return float(cfg.x)


def run(mode: str, n_trials: int, slots: int, lengths: tuple[float, float], sweep_dir: Path) -> dict:
    """One multirun in this process; returns its figures."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from joblib.externals.loky import get_reusable_executor

    from hydra_plugins.ablate_optuna_sweeper import register

    register()
    ConfigStore.instance().store(name="search_slots", node=CONFIG)
    GlobalHydra.instance().clear()
    version.setbase("1.3")
    hydra = Hydra.create_main_hydra2(task_name="search_slots", config_search_path=create_config_search_path(None))
    overrides = ["hydra.mode=MULTIRUN", "hydra/sweeper=ablate_optuna", "hydra/launcher=joblib",
                 f"hydra.launcher.n_jobs={slots}", f"hydra.sweeper.n_jobs={slots}",
                 f"hydra.sweeper.n_trials={n_trials}",
                 f"hydra.sweep.dir={sweep_dir}", "hydra/hydra_logging=none", "hydra/job_logging=none",
                 "x=interval(0,1)", f"shortest={lengths[0]}", f"longest={lengths[1]}",
                 f"hydra.sweeper.asynchronous={str(mode == 'asynchronous').lower()}"]
    tic = time.perf_counter()
    try:
        hydra.multirun(config_name="search_slots", task_function=sleeper, with_log_configuration=False,
                       overrides=overrides)
    finally:
        GlobalHydra.instance().clear()
        get_reusable_executor().shutdown(wait=True)
    wall = time.perf_counter() - tic
    jobs = [json.loads(p.read_text()) for p in sweep_dir.glob("[0-9]*/result.json")]
    busy = sum(j["end"] - j["start"] for j in jobs)
    first, last_start = min(j["start"] for j in jobs), max(j["start"] for j in jobs)
    span = max(j["end"] for j in jobs) - first
    busy_while_left = sum(max(min(j["end"], last_start) - j["start"], 0.0) for j in jobs)
    return {"mode": mode, "lengths": list(lengths), "trials": len(jobs), "slots": slots, "job_seconds": round(busy, 2),
            "span_seconds": round(span, 2), "wall_seconds": round(wall, 2),
            "occupancy_while_left": round(busy_while_left / (slots * (last_start - first)), 3),
            "occupancy": round(busy / (slots * span), 3), "occupancy_of_wall": round(busy / (slots * wall), 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.search_slots", description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--lengths", default=LENGTHS, help=f"trial lengths in seconds, shortest-longest, comma-separated "
                                                       f"(default {LENGTHS})")
    p.add_argument("--out", default=None, help="folder for search_slots.json (default: print only)")
    args = p.parse_args(argv)
    lengths = [tuple(float(x) for x in item.split("-")) for item in args.lengths.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ablate-search-slots-") as tmp:
        for i, span in enumerate(lengths):
            for mode in ("batches", "asynchronous"):
                rows.append(run(mode, args.trials, args.slots, span, Path(tmp) / f"{i}-{mode}"))
    print(f"{args.trials} trials of unequal lengths (seed {SEED}), {args.slots} slots, joblib launcher, "
          f"{os.cpu_count()} cores")
    print("| trial lengths (s) | mode | jobs' time (s) | first start to last end (s) | multirun wall (s) | "
          "busy while trials are left | slot occupancy | of the wall time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['lengths'][0]:g}-{r['lengths'][1]:g} | {r['mode']} | {r['job_seconds']} | {r['span_seconds']} | "
              f"{r['wall_seconds']} | {r['occupancy_while_left']:.0%} | {r['occupancy']:.0%} | "
              f"{r['occupancy_of_wall']:.0%} |")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "search_slots.json"), "w") as f:
            json.dump({"trials": args.trials, "slots": args.slots, "seed": SEED, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

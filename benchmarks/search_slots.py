"""`python -m benchmarks.search_slots [--quick] [--trials N] [--slots K] [--lengths A-B,...] [--out DIR]`: how busy
the Optuna sweeper keeps its slots.

Also the benchmark group `search_slots` (`python -m benchmarks --only search_slots`): `run(quick, results)`.

A tiny Hydra app whose trials sleep for unequal lengths (the same lengths, by job number, in
every mode) runs through `hydra/sweeper=ablate_optuna` on the joblib launcher with `n_jobs`
slots, twice: as it runs by default (each trial launched alone, a new one as soon as a slot
frees) and as batches of `n_jobs` that wait for their slowest member (the loop before; forced
here with `hydra.sweeper.asynchronous=false`). A third mode, "launcher alone", launches the same jobs from the
same number of threads straight through Hydra's joblib launcher, one job per thread at a time, with no study,
sampler or database (`sweeper_app.launcher_slots`): the floor any sweeper on that launcher has, so the gap
between it and the asynchronous loop is the sweeper's own cost. Each job records when it started and ended.

Three figures per mode and length range:
- occupancy while trials are left to start: the slots' busy time from the first start to the last
  start, over slots × that time (the scheduling figure: a slot that frees should start the next
  trial at once; after the last start, slots idle because there is nothing left to run);
- slot occupancy: the jobs' summed run time over slots × (last end − first start);
- over the whole sweep: the same sum over slots × the multirun's wall time (Hydra's start, the
  study, the launcher's workers and the sweeper's own work included).
Sleeping jobs use no CPU, so the figures measure scheduling, not the machine. Not a test: nothing
is asserted; the table is printed and, with `--out`, written to `search_slots.json`. Issue 14's target:
the asynchronous loop keeps its slots at least `TARGET` busy while trials are left to start, for every
length range; the batches are the baseline. `--quick`: fewer, shorter trials (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from benchmarks.cli import writable

SEED = 0
LENGTHS = "2-12,0.5-3"  # seconds a trial sleeps, shortest-longest: trials of a few seconds, and of under one
TRIALS, SLOTS = 24, 4
QUICK = {"trials": 8, "slots": 2, "lengths": "0.5-2"}
TITLE = "Slots kept busy by the Optuna sweeper: asynchronous against batches"
TARGET = 0.90  # issue 14: slots ≥ 90% busy while trials are left to start
CONFIG = {"x": 0.0, "shortest": 1.0, "longest": 1.0}
LAUNCHER = "launcher alone"  # the same jobs from the same slots with no sweeper: the launcher's floor
MODES = ("batches", "asynchronous", LAUNCHER)


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


def sweep(mode: str, n_trials: int, slots: int, lengths: tuple[float, float], sweep_dir: Path) -> dict:
    """One multirun in this process; returns its figures."""
    from joblib.externals.loky import get_reusable_executor

    from benchmarks.sweeper_app import launcher_slots, multirun

    launcher = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={slots}", f"hydra.sweep.dir={sweep_dir}"]
    task = [f"shortest={lengths[0]}", f"longest={lengths[1]}"]  # a job is composed from its own overrides
    tic = time.perf_counter()
    try:
        if mode == LAUNCHER:
            launcher_slots("search_slots", CONFIG, sleeper, launcher, [["x=0.5", *task]] * n_trials, slots)
        else:
            multirun("search_slots", CONFIG, sleeper,
                     [*launcher, *task, f"hydra.sweeper.n_jobs={slots}", f"hydra.sweeper.n_trials={n_trials}",
                      "x=interval(0,1)", f"hydra.sweeper.asynchronous={str(mode == 'asynchronous').lower()}"])
    finally:
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


def parse_lengths(text: str) -> list[tuple[float, float]]:
    """`2-12,0.5-3` as [(2.0, 12.0), (0.5, 3.0)]."""
    return [(float(a), float(b)) for a, b in (item.split("-") for item in text.split(","))]


def measure(trials: int = TRIALS, slots: int = SLOTS, lengths: str = LENGTHS) -> list[dict]:
    """Every mode for each length range, each into a fresh temporary sweep folder."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="ablate-search-slots-") as tmp:
        for i, span in enumerate(parse_lengths(lengths)):
            for mode in MODES:
                rows.append(sweep(mode, trials, slots, span, Path(tmp) / f"{i}-{mode}"))
    return rows


HEADERS = ["trial lengths (s)", "mode", "jobs' time (s)", "first start to last end (s)", "multirun wall (s)",
           "busy while trials are left", "slot occupancy", "of the wall time"]


def table(rows: list[dict]) -> dict:
    return {"headers": HEADERS,
            "rows": [[f"{r['lengths'][0]:g}-{r['lengths'][1]:g}", r["mode"], f"{r['job_seconds']:g}",
                      f"{r['span_seconds']:g}", f"{r['wall_seconds']:g}", f"{r['occupancy_while_left']:.0%}",
                      f"{r['occupancy']:.0%}", f"{r['occupancy_of_wall']:.0%}"] for r in rows]}


def busy(rows: list[dict], mode: str = "asynchronous") -> float | None:
    """The target's figure: the lowest occupancy while trials are left to start, over the length ranges."""
    values = [r["occupancy_while_left"] for r in rows if r["mode"] == mode]
    return min(values) if values else None


def notes(result: dict) -> list[str]:
    asynchronous, batches = busy(result["rows"]), busy(result["rows"], "batches")
    met = "–" if asynchronous is None else ("met" if asynchronous >= TARGET else "missed")
    out = [f"{result['trials']} trials of unequal lengths (seed {SEED}), {result['slots']} slots, joblib launcher, "
           f"{os.cpu_count()} cores; the jobs sleep, so the figures measure scheduling, not the machine.",
           f"asynchronous: slots {asynchronous:.0%} busy while trials are left to start (the lowest over the length "
           f"ranges; target ≥ {TARGET:.0%}: {met}); batches (the loop before, the baseline): {batches:.0%}."]
    floor = busy(result["rows"], LAUNCHER)
    if floor is not None:
        out.append(f"{LAUNCHER} (the same jobs from the same slots through Hydra's joblib launcher, no sweeper): "
                   f"{floor:.0%}: what the launcher's own per-job work leaves idle, whatever the sweeper does.")
    if result["quick"]:
        out.append("--quick: fewer and shorter trials (a smoke test).")
    return out


def run(quick: bool, results: dict) -> dict:
    """The benchmark group: the three modes at the default sizes, or (quick) fewer and shorter trials."""
    sizes = QUICK if quick else {"trials": TRIALS, "slots": SLOTS, "lengths": LENGTHS}
    rows = measure(**sizes)
    result = {"title": TITLE, "quick": quick, "trials": sizes["trials"], "slots": sizes["slots"],
              "lengths": sizes["lengths"], "rows": rows, "busy": busy(rows), "baseline": busy(rows, "batches")}
    return {**result, "table": table(rows), "notes": notes(result)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.search_slots", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"a smoke test: {QUICK}")
    p.add_argument("--trials", type=int, default=None, help=f"default {TRIALS}")
    p.add_argument("--slots", type=int, default=None, help=f"default {SLOTS}")
    p.add_argument("--lengths", default=None, help=f"trial lengths in seconds, shortest-longest, comma-separated "
                                                   f"(default {LENGTHS})")
    p.add_argument("--out", default=None, help="folder for search_slots.json (default: print only)")
    args = p.parse_args(argv)
    if args.out:
        writable(p, args.out)
    sizes = dict(QUICK) if args.quick else {"trials": TRIALS, "slots": SLOTS, "lengths": LENGTHS}
    sizes.update({k: v for k, v in (("trials", args.trials), ("slots", args.slots), ("lengths", args.lengths))
                  if v is not None})
    rows = measure(**sizes)
    result = {"quick": args.quick, **sizes, "rows": rows}
    t = table(rows)
    print("| " + " | ".join(t["headers"]) + " |")
    print("|---|---|" + "---:|" * (len(t["headers"]) - 2))
    print("\n".join("| " + " | ".join(r) + " |" for r in t["rows"]))
    print("\n".join(f"- {n}" for n in notes(result)))
    if args.out:
        with open(os.path.join(args.out, "search_slots.json"), "w") as f:
            json.dump({"trials": sizes["trials"], "slots": sizes["slots"], "seed": SEED, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The built-in default's recipe: val error and wall time of the epoch counts and augmentation around it.

`python -m benchmarks.recipe [--seeds 0,1,2] [--out DIR] [-- OVERRIDE ...]` runs `python -m ablate` once per recipe
and seed, one after another, each in a fresh folder under a temporary directory, and writes `recipe.json` and
`recipe.md` to `--out` (default reports/bench/): per recipe, the val error of every seed, their mean, and the wall
time and images/s of each run. The recipes (`RECIPES`): 3 epochs on augmented images (the former default) and 2,
then 1, 2 (the default) and 3 epochs unaugmented; overrides after `--` go to every run
(small data for a check: `-- data=synthetic data.num_samples=256`). Why the default trains 2 epochs unaugmented
is in the README (Benchmarks); this is the command that measures it again on any machine. Each figure is one run:
run it with nothing else running, and name the CPU with its figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import machine
from benchmarks.cli import writable, write_figures
from benchmarks.time_to_result import run_ablate
from benchmarks.workload import ROOT

RECIPES = {  # name: overrides of the default's recipe
    "3 epochs, augmented (the former default)": ["optim.epochs=3", "data.augment=true"],
    "2 epochs, augmented": ["optim.epochs=2", "data.augment=true"],
    "1 epoch, unaugmented": ["optim.epochs=1", "data.augment=false"],
    "2 epochs, unaugmented (the default)": ["optim.epochs=2", "data.augment=false"],
    "3 epochs, unaugmented": ["optim.epochs=3", "data.augment=false"],
}


def measure(name: str, seed: int, extra: list[str], folder: Path) -> dict:
    """One run of recipe `name` with `seed` (and the `extra` overrides) in `folder`, as a row of the report."""
    proc, wall, records = run_ablate([*RECIPES[name], *extra, f"seed={seed}"], False, folder)
    record = records[0] if records else {}
    final = record.get("final") or {}
    return {
        "recipe": name,
        "seed": seed,
        "exit_status": proc.returncode,
        "wall_seconds": round(wall, 1),
        "val_err": final.get("val_err"),
        "epochs": len(record.get("epochs") or []),
        "augment": ((record.get("config") or {}).get("data") or {}).get("augment"),
        "images_per_second": (record.get("throughput") or {}).get("images_per_s"),
        "stderr_tail": proc.stderr.strip().splitlines()[-3:] if proc.returncode else [],
    }


def _listed(values: list, fmt: str) -> str:
    return ", ".join("–" if v is None else format(v, fmt) for v in values) or "–"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"# The default's recipe ({m.get('cpu_kind') or m.get('cpu')}, {m.get('cores')} cores)",
        "",
        "| recipe | val error by seed (%) | mean (%) | wall by seed (s) | images/s |",
        "|---|---|---|---|---|",
    ]
    for name in RECIPES:
        rows = [r for r in report["runs"] if r["recipe"] == name]
        errors = [r["val_err"] for r in rows]
        mean = f"{sum(errors) / len(errors):.2f}" if errors and None not in errors else "–"
        walls = [r["wall_seconds"] for r in rows]
        rates = [r["images_per_second"] for r in rows]
        lines.append(
            f"| {name} | {_listed(errors, '.2f')} | {mean} | {_listed(walls, '.0f')} | {_listed(rates, ',.0f')} |"
        )
    extra = " ".join(report["overrides"])
    lines += [
        "",
        f"Every run: `python -m ablate <recipe> seed=S{' ' + extra if extra else ''}`, one after another.",
        f"Load average at start {m.get('load_average_start')}, at end {m.get('load_average')}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    p = argparse.ArgumentParser(prog="python -m benchmarks.recipe", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0", help="comma-separated seeds, each run with every recipe")
    p.add_argument("--out", default=os.path.join(ROOT, "reports", "bench"))
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds {args.seeds!r} is not a list of whole numbers: give e.g. 0,1,2.")
    if not seeds:
        p.error(f"--seeds {args.seeds!r} names no seed: give e.g. 0,1,2.")
    writable(p, args.out)
    info = machine.describe("cpu")
    info["load_average_start"] = machine.load_average()
    report: dict = {"machine": info, "overrides": extra, "measured_at": time.strftime("%Y-%m-%d %H:%M"), "runs": []}
    with tempfile.TemporaryDirectory(prefix="ablate-recipe-") as tmp:
        for seed in seeds:
            for i, name in enumerate(RECIPES):
                row = measure(name, seed, extra, Path(tmp, f"seed{seed}", str(i)))
                report["runs"].append(row)
                print(
                    f"[recipe] {name}, seed {seed}: val error {_listed([row['val_err']], '.2f')} %, "
                    f"{row['wall_seconds']:.0f} s, "
                    f"exit {row['exit_status']}",
                    file=sys.stderr,
                    flush=True,
                )
    info["load_average"] = machine.load_average()
    write_figures(args.out, "recipe", report, markdown(report))
    return 0 if all(r["exit_status"] == 0 for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())

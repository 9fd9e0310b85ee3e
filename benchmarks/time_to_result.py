"""Time to result: the README's first commands, timed end to end, against issue 15's targets.

`python -m benchmarks.time_to_result [--only default,main,seeds] [--out DIR]` runs, each in a fresh
folder under a temporary directory (nothing of the project's own sweeps or reports is touched):

- default: `python -m ablate` (the built-in default): ≤ 150 s wall, ≥ 90% accuracy;
- main: `python -m ablate +sweep=cardinality_vs_width -m`, report included: ≤ 8 minutes, every member ≥ 88%;
- seeds: the same with `seed=0,1,2`: ≤ 25 minutes.

Wall time is the command's, from start to exit (Python start-up, Hydra, every member, the report).
Each figure is one run: on a shared machine run it with nothing else running, and name the CPU
(written with the figures). Not part of `python -m benchmarks` (it takes about 40 minutes on 2
cores); it writes `time_to_result.json` and `.md` to `--out` (default reports/bench/), where a job measured now
replaces that job's earlier row from the same CPU kind (name and vector-unit flags) and keeps the others of that kind.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import machine
from benchmarks.cli import chosen, writable, write_figures
from benchmarks.workload import ROOT

SWEEP = "+sweep=cardinality_vs_width"
JOBS = {  # name: (arguments of python -m ablate, multirun, wall target in s, accuracy floor %)
    "default": ([], False, 150, 90.0),
    "main": ([SWEEP, "-m"], True, 8 * 60, 88.0),
    "seeds": ([SWEEP, "-m", "seed=0,1,2"], True, 25 * 60, 88.0),
}


def _records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("result.json"))]


def run_ablate(args: list[str], multirun: bool, folder: Path) -> tuple[subprocess.CompletedProcess, float, list[dict]]:
    """`python -m ablate ARGS` from the repository's root with its run (or sweep and report) in `folder`: the
    finished process, its wall time from start to exit, and the run records it left."""
    where = (
        [f"hydra.sweep.dir={folder / 'sweep'}", f"++hydra.callbacks.report.out={folder / 'report'}"]
        if multirun
        else [f"hydra.run.dir={folder / 'run'}"]
    )
    command = [sys.executable, "-m", "ablate", *args, *where]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return proc, time.perf_counter() - start, _records(folder)


def time_job(name: str, tmp: Path) -> dict:
    args, multirun, target, floor = JOBS[name]
    proc, wall, records = run_ablate(args, multirun, tmp / name)
    errors = [r["final"]["val_err"] for r in records if r.get("final") and r["final"].get("val_err") is not None]
    accuracy = 100 - max(errors) if errors else None
    return {
        "job": name,
        "command": "python -m ablate " + " ".join(args),
        "exit_status": proc.returncode,
        "wall_seconds": wall,
        "target_seconds": target,
        "members": len(records),
        "statuses": sorted({r.get("status") for r in records}),
        "val_errors": errors,
        "min_accuracy": accuracy,
        "accuracy_floor": floor,
        "member_seconds": [r.get("wall_seconds") for r in records],
        "world_size": sorted({(r.get("env") or {}).get("world_size") for r in records}, key=str),
        "met": proc.returncode == 0 and wall <= target and accuracy is not None and accuracy >= floor,
        "stderr_tail": proc.stderr.strip().splitlines()[-3:] if proc.returncode else [],
    }


def _kind(row: dict, machine: dict | None = None) -> tuple:
    """The CPU kind a row (or a machine) was measured on: `ablate.run.cpu.kind()` (name, family and model numbers,
    instruction set), which tells apart two AVX-512 BF16 EPYCs of other generations; for a row written before it, its
    name and vector-unit flags (AMD EPYC with AVX-512 BF16, and with AVX2 only). A row without either has its file's
    machine's."""
    kind = row.get("cpu_kind", (machine or {}).get("cpu_kind"))
    if kind:
        return (kind,)
    flags = row.get("cpu_flags", (machine or {}).get("cpu_flags"))
    return row.get("cpu"), tuple(flags or ())


def markdown(report: dict) -> str:
    m = report["machine"]
    flags = f"{' '.join(m['cpu_flags'])}, " if m.get("cpu_flags") and not m.get("cpu_kind") else ""
    lines = [
        f"# Time to result ({m.get('cpu_kind') or m.get('cpu')}, {flags}{m.get('cores')} cores)",
        "",
        "| job | command | wall | target | members | lowest accuracy | met |",
        "|---|---|---|---|---|---|---|",
    ]
    report["jobs"].sort(key=lambda r: list(JOBS).index(r["job"]))
    for r in report["jobs"]:
        acc = "–" if r["min_accuracy"] is None else f"{r['min_accuracy']:.2f}% (≥ {r['accuracy_floor']:.0f}%)"
        lines.append(
            f"| {r['job']} | `{r['command']}` | {r['wall_seconds']:.0f} s | ≤ {r['target_seconds']} s | "
            f"{r['members']} | {acc} | {'yes' if r['met'] else 'no'} |"
        )
    lines += ["", f"Load average at start {m.get('load_average_start')}, at end {m.get('load_average')}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.time_to_result", description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(JOBS), help=f"comma-separated jobs, of: {', '.join(JOBS)}")
    p.add_argument("--out", default=os.path.join(ROOT, "reports", "bench"))
    args = p.parse_args(argv)
    names = chosen(p, args.only, JOBS, "job")
    writable(p, args.out)
    info = machine.describe("cpu")
    info["load_average_start"] = machine.load_average()
    path = Path(args.out, "time_to_result.json")
    earlier = json.loads(path.read_text()) if path.exists() else {}
    kind = _kind(info)
    kept = [r for r in earlier.get("jobs", []) if r["job"] not in names and _kind(r, earlier.get("machine")) == kind]
    report: dict = {"machine": info, "jobs": kept}  # a job measured now replaces its earlier row on this CPU kind
    with tempfile.TemporaryDirectory(prefix="ablate-ttr-") as tmp:
        for name in names:
            print(f"[time_to_result] {name} ...", file=sys.stderr, flush=True)
            load = machine.load_average()
            row = {
                **time_job(name, Path(tmp)),
                "cpu": info["cpu"],
                "cpu_flags": info.get("cpu_flags"),
                "cpu_kind": info.get("cpu_kind"),
                "load_average_before": load,
                "measured_at": time.strftime("%Y-%m-%d %H:%M"),
            }
            report["jobs"].append(row)
            print(
                f"[time_to_result] {name}: {row['wall_seconds']:.0f} s, exit {row['exit_status']}, lowest "
                f"accuracy {row['min_accuracy']}",
                file=sys.stderr,
                flush=True,
            )
    info["load_average"] = machine.load_average()
    report["jobs"].sort(key=lambda r: list(JOBS).index(r["job"]))
    write_figures(args.out, "time_to_result", report, markdown(report))
    return 0 if all(r["exit_status"] == 0 for r in report["jobs"]) else 1


if __name__ == "__main__":
    sys.exit(main())

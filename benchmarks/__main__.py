"""`python -m benchmarks [--quick] [--only NAME,...] [--out DIR]`: run the groups, write bench.json and bench.md.

The full run (every group, full repetitions) writes `reports/bench/`; a `--quick` or `--only`
run writes `reports/bench/partial/` unless `--out` says otherwise, so a smoke test never
overwrites the committed figures. What runs depends only on the flags, never on the machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import datetime, timezone

from benchmarks import GROUPS, machine
from benchmarks.cli import chosen, writable
from benchmarks.report import markdown, targets
from benchmarks.workload import ROOT


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer and smaller steps: a smoke test of a minute or two")
    p.add_argument("--only", default=None, help=f"comma-separated groups to run, of: {', '.join(GROUPS)}")
    p.add_argument("--out", default=None, help="output folder (default reports/bench, or reports/bench/partial "
                                               "for --quick/--only)")
    args = p.parse_args(argv)
    args.groups = list(GROUPS) if args.only is None else chosen(p, args.only, GROUPS, "group")
    if args.out is None:
        partial = args.quick or args.only
        args.out = os.path.join(ROOT, "reports", "bench", "partial" if partial else "")
    writable(p, args.out)
    return args


def write(report: dict, results: dict, out: str) -> str:
    """bench.json and bench.md from what has run so far (rewritten after every group)."""
    report["targets"] = targets(results)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    text = markdown(report)
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(text)
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    info = machine.describe("cpu")
    info["load_average_start"] = machine.load_average()
    results: dict = {}
    report = {"command": "python -m benchmarks" + (" --quick" if args.quick else "")
                         + (f" --only {','.join(args.groups)}" if args.only else ""),
              "machine": info, "group_seconds": {}, "groups": results}
    failed = False
    for name in args.groups:
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            results[name] = module.run(args.quick, results)
        except Exception as e:  # one group's failure must not lose the others' figures
            failed = True
            message = f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"
            print(f"[bench] {name} failed: {message}", file=sys.stderr, flush=True)
            results[name] = {"title": name, "error": message, "notes": [f"failed: {message}"]}
        report["group_seconds"][name] = time.perf_counter() - t0
        print(f"[bench] {name}: {report['group_seconds'][name]:.0f} s", file=sys.stderr, flush=True)
        info["load_average"] = machine.load_average()
        report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        report["seconds"] = time.perf_counter() - started
        text = write(report, results, args.out)
    print(text)
    print(f"[bench] wrote {os.path.join(args.out, 'bench.md')} and bench.json in {report['seconds']:.0f} s",
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

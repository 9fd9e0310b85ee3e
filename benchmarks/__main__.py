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
from benchmarks.report import markdown, targets
from benchmarks.workload import ROOT


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer and smaller steps: a smoke test of a minute or two")
    p.add_argument("--only", default=None, help=f"comma-separated groups to run, of: {', '.join(GROUPS)}")
    p.add_argument("--out", default=None, help="output folder (default reports/bench, or reports/bench/partial "
                                               "for --quick/--only)")
    args = p.parse_args(argv)
    if args.only is not None:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        if not names:  # not read as no --only: that runs every group, an hour or more
            p.error(f"--only {args.only!r} names no group: give one or more of {', '.join(GROUPS)}.")
        unknown = [n for n in names if n not in GROUPS]
        if unknown:
            p.error(f"--only {unknown[0]!r} is not a group: valid groups are {', '.join(GROUPS)}.")
        args.groups = [g for g in GROUPS if g in names]
    else:
        args.groups = list(GROUPS)
    if args.out is None:
        partial = args.quick or args.only
        args.out = os.path.join(ROOT, "reports", "bench", "partial" if partial else "")
    unwritable = _unwritable(args.out)
    if unwritable is not None:  # found before the groups run, not when their figures are written
        p.error(f"--out {args.out} cannot be written ({unwritable}): give a folder one can write.")
    return args


def _unwritable(out: str) -> str | None:
    """Why files cannot be written into folder `out` (made if missing), or None where they can."""
    import tempfile

    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            return None
    except OSError as e:
        return e.strerror or type(e).__name__


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

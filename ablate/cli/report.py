"""`python -m ablate.report SWEEP_DIR [--out DIR]`: the report of a sweep, from its run records.

Reads every `result.json` under SWEEP_DIR (and Hydra's `multirun.yaml` for the members that
never wrote one) and writes tables, figures and `index.html` into DIR, by default
`reports/<sweep name>/`. Safe to run while a sweep is still going, and again after it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ablate.cli.common import user_errors
from ablate.report import write_report


@user_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ablate.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="a sweep folder, e.g. sweeps/cardinality_vs_width")
    parser.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: reports/<sweep name>/)")
    args = parser.parse_args(argv)
    out = write_report(args.sweep_dir, args.out)
    print(f"wrote the report of {args.sweep_dir} to {out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m ablate.report SWEEP_DIR [--out DIR] [--reference SETTING] [--resolution POINTS]`: a sweep's report.

Reads every `result.json` under SWEEP_DIR (and Hydra's `multirun.yaml` for the members that
never wrote one) and writes tables, figures and `index.html` into DIR, by default
`reports/<sweep name>/`. Each setting is compared with a reference setting (default: the
sweep config's `report.reference`, else its first setting); differences whose 95% CI lies
inside ±POINTS of top-1 error are called equivalent (default: `report.resolution`, 0.2).
Where settings have repeats, each is also judged against the best of the others (Hsu's MCB:
`the best`, `not the best`, `may be the best`, `within ±POINTS of the best`).
Safe to run while a sweep is still going, and again after it.
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
    parser.add_argument(
        "sweep_dir", type=Path, metavar="SWEEP_DIR", help="a sweep folder, e.g. sweeps/cardinality_vs_width"
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: reports/<sweep name>/)")
    parser.add_argument(
        "--reference",
        metavar="SETTING",
        help="the setting the others are compared with: overrides such as 'model.cardinality=1' or "
        "'+variant=baseline', a value such as baseline, or a label such as 1×64d "
        "(default: report.reference of the sweep's config, else its first setting)",
    )
    parser.add_argument(
        "--resolution",
        metavar="POINTS",
        help="δ in top-1 error points: a difference whose 95%% CI lies inside ±δ is called "
        "equivalent, and a setting surely less than δ behind the best is within ±δ of it "
        "(default: report.resolution of the sweep's config, 0.2)",
    )
    args = parser.parse_args(argv)
    out = write_report(args.sweep_dir, args.out, args.reference, args.resolution)
    print(f"wrote the report of {args.sweep_dir} to {out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

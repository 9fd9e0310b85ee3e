"""Reports of a sweep: tables, figures and one HTML page from its run records.

`collect(sweep_dir)` reads the runs once into two DataFrames; `write_report(sweep_dir, out)`
writes `runs.csv`, `epochs.csv`, `table.{md,csv,tex}`, `table2.{md,csv,tex}`, the figures
(png + svg) and `index.html` into `out` (default `reports/<sweep name>/`). Every table says,
per setting, how sure its numbers are (`ablate.report.stats`: intervals, differences from a
reference setting, Holm-corrected p-values, verdicts, and which settings may be the best,
`ablate.report.best`; for a sweep of adaptive repeats,
`ablate.report.sequential`'s verdicts and why each setting stopped). The same function runs from the
command line (`python -m ablate.report SWEEP_DIR`) and from the Hydra callback at the end of
a multirun. Every file is written to a temporary name and renamed (`ablate.report.output`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ablate.report.collect import Sweep, collect, tracebacks
from ablate.report.options import ReportConfig
from ablate.report.output import write_text

__all__ = ["ReportConfig", "Sweep", "collect", "default_out", "write_report"]
REPORTS = Path("reports")


def default_out(sweep: Sweep) -> Path:
    """`reports/<sweep name>/`, relative to the working directory."""
    return REPORTS / sweep.name


def write_report(
    sweep_dir,
    out=None,
    reference: str | None = None,
    resolution: float | str | None = None,
    option: str = "--out DIR",
) -> Path:
    """Collect a sweep and write its whole report into `out`; returns that folder.

    The reference setting and the resolution δ come from the `report:` node of the sweep's
    own config (its multirun.yaml); `reference` and `resolution`, as given on the report's
    command line (`--reference`, `--resolution`), take their place. Raises `DataError` for a
    sweep folder without runs and `ConfigError` for options the sweep cannot meet (a reference
    that is not one of its settings, δ ≤ 0) or a report folder that cannot be written or holds
    the report of another sweep folder (`report.json` says which, and the sentence says to choose
    another folder with `option`); nothing is written then.
    """
    from ablate.report import figures, html, output, search, sequential, stats, tables
    from ablate.report import options as report_options

    sweep = collect(sweep_dir)
    options = report_options.from_sweep(sweep.multirun, reference, resolution)
    adaptive = sequential.read_plan(sweep.directory)  # a sweep of hydra/sweeper=ablate_repeats
    analysis = sequential.analyse(sweep.runs, options, adaptive) if adaptive else stats.analyse(sweep.runs, options)
    out = Path(out) if out is not None else default_out(sweep)
    output.check_owner(out, sweep.directory, option)  # another sweep's report is never written over
    _check_writable(out)
    write_text(out / "runs.csv", sweep.runs.to_csv(index=False))
    write_text(out / "epochs.csv", sweep.epochs.to_csv(index=False))
    table = tables.summary(sweep.runs, analysis)
    shown = tables.display(table)
    labels = tables.labels(table)
    about = tables.about(sweep)
    head, foot = tables.head_notes(sweep, analysis), tables.foot_notes(analysis, labels)
    logs = {i: os.path.relpath(p, out) for i, p in tracebacks(sweep.directory, sweep.runs).items()}
    output.write_table(
        out,
        "table",
        table,
        shown,
        tables.header(sweep.title, about, head),
        "\n\n".join(p for p in ("\n".join(f"- {n}" for n in foot), tables.problems(sweep.runs, logs)) if p),
    )
    t2 = tables.table2_of(sweep)
    t2_shown = tables.table2_display(t2.frame) if t2 else None
    if t2:
        output.write_table(out, "table2", t2.frame, t2_shown, t2.title)
    figs = figures.draw(sweep, table, labels, out, analysis.resolution)
    sections: list[str] = []  # the files of the search and design-space sections, for the page
    if search.applies(sweep.directory):  # an Optuna search: its trials, Pareto front and best model
        from ablate.report import finalists

        study = search.read_study(sweep.directory)
        trials = search.trials_frame(study, sweep.directory)
        summary = tables.best_summary(analysis)  # whether the best trial's design is the best, and the finalists
        picked = finalists.write(study, trials, sweep.directory, out, analysis.best)
        notes = [n for n in (summary and f"the best of all? {summary}", picked.line) if n]
        written = search.write_search_report(sweep.directory, out, notes, study, trials) + picked.paths
        sections = [p.relative_to(out).as_posix() for p in written]
    from ablate.report import design_spaces

    if design_spaces.applies(sweep):  # hydra/sweeper=ablate_design_spaces: EDFs per space, KS test, bootstrap CIs
        sections += [p.name for p in design_spaces.write(sweep, out)]
    write_text(
        out / "index.html",
        html.page(
            sweep, shown, t2_shown, t2.title if t2 else None, figs, about, sections, head=head, foot=foot, logs=logs
        ),
    )
    output.write_source(out, sweep.directory, sweep.title)
    return out


def _check_writable(out: Path) -> None:
    from ablate.errors import ConfigError

    try:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / ".write-test", "")
        (out / ".write-test").unlink()
    except OSError as e:
        raise ConfigError(
            f"the report directory {str(out)!r} cannot be written ({e.strerror or e}): "
            "give a writable folder with --out."
        ) from None

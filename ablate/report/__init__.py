"""Reports of a sweep: tables, figures and one HTML page from its run records.

`collect(sweep_dir)` reads the runs once into two DataFrames; `write_report(sweep_dir, out)`
writes `runs.csv`, `epochs.csv`, `table.{md,csv,tex}`, `table2.{md,csv,tex}`, the figures
(png + svg) and `index.html` into `out` (default `reports/<sweep name>/`). The same function
runs from the command line (`python -m ablate.report SWEEP_DIR`) and from the Hydra callback
at the end of a multirun. Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

from pathlib import Path

from ablate.report.collect import Sweep, collect
from ablate.run.record import atomic_write_bytes

__all__ = ["Sweep", "atomic_write_text", "collect", "default_out", "write_report"]
REPORTS = Path("reports")


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text through `ablate.run.record.atomic_write_bytes` (temporary file, then rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def default_out(sweep: Sweep) -> Path:
    """`reports/<sweep name>/`, relative to the working directory."""
    return REPORTS / sweep.name


def write_report(sweep_dir, out=None) -> Path:
    """Collect a sweep and write its whole report into `out`; returns that folder.

    Raises `DataError` for a sweep folder without runs and `ConfigError` for a report folder
    that cannot be written.
    """
    from ablate.report import figures, html, tables

    sweep = collect(sweep_dir)
    out = Path(out) if out is not None else default_out(sweep)
    _check_writable(out)
    atomic_write_text(out / "runs.csv", sweep.runs.to_csv(index=False))
    atomic_write_text(out / "epochs.csv", sweep.epochs.to_csv(index=False))
    table = tables.summary(sweep.runs)
    shown = tables.display(table)
    about = tables.about(sweep)
    tables.write_table(out, "table", table, shown, tables.header(sweep.name, about), tables.problems(sweep.runs))
    t2 = tables.table2_of(sweep)
    t2_shown = tables.table2_display(t2.frame) if t2 else None
    if t2:
        tables.write_table(out, "table2", t2.frame, t2_shown, t2.title)
    figs = figures.draw(sweep, table, tables.labels(table), out)
    search = []
    if (sweep.directory / "study.json").is_file():  # an Optuna search: its trials, Pareto front and best model
        from ablate.report.search import write_search_report

        search = [p.name for p in write_search_report(sweep.directory, out)]
    atomic_write_text(out / "index.html",
                      html.page(sweep, shown, t2_shown, t2.title if t2 else None, figs, about, search))
    return out


def _check_writable(out: Path) -> None:
    from ablate.errors import ConfigError

    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / ".write-test", "")
        (out / ".write-test").unlink()
    except OSError as e:
        raise ConfigError(f"the report directory {str(out)!r} cannot be written ({e.strerror or e}): "
                          "give a writable folder with --out.") from None

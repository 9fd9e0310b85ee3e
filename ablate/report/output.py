"""One writer per output format of a report: text, tables (Markdown, CSV, LaTeX), figures, YAML.

Every file goes through `ablate.run.record.atomic_write_bytes` (a temporary name, then a
rename), so a report killed while it is written never leaves a half-written file. Tables are
written by pandas (`to_markdown`, `to_csv`, `to_latex`), YAML by OmegaConf, figures by
matplotlib on an Agg canvas.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.run.record import atomic_write_bytes

if TYPE_CHECKING:  # the writers get frames and figures from their callers, which load pandas and matplotlib
    import pandas as pd
    from matplotlib.figure import Figure

FIGURE_FORMATS = ("png", "svg")
NO_ROWS = "(no rows)"
SOURCE = "report.json"  # beside index.html: which sweep folder the report was written from
PAGE = "index.html"
LEGACY_SWEEP = re.compile(r"^- sweep: .* \((?P<dir>.+)\)$", re.M)  # table.md's line, in reports without SOURCE


def write_text(path: Path, text: str) -> Path:
    """UTF-8 text, written atomically; returns `path`."""
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def markdown(shown: pd.DataFrame, empty: str = NO_ROWS) -> str:
    """A table of strings as a Markdown (pipe) table; `empty` when it has no rows."""
    if not len(shown):
        return empty
    return shown.fillna("").to_markdown(index=False, disable_numparse=True)


def latex(shown: pd.DataFrame) -> str:
    """A table of strings as a LaTeX tabular, with ±, ×, Δ and δ as math."""
    tex = shown.to_latex(index=False, escape=True)
    for text, math in (("±", r"$\pm$"), ("×", r"$\times$"), ("Δ", r"$\Delta$"), ("δ", r"$\delta$")):
        tex = tex.replace(text, math)
    return tex


def write_table(
    out: Path, stem: str, data: pd.DataFrame, shown: pd.DataFrame, header: str = "", footer: str = ""
) -> list[Path]:
    """`stem.csv` (every number of `data`), `stem.md` (header, `shown`, footer) and `stem.tex` (`shown`)."""
    md = "\n\n".join(p for p in (header.strip(), markdown(shown), footer.strip()) if p) + "\n"
    return [
        write_text(out / f"{stem}.csv", data.to_csv(index=False)),
        write_text(out / f"{stem}.md", md),
        write_text(out / f"{stem}.tex", latex(shown)),
    ]


def write_figure(fig: Figure, stem: Path) -> list[Path]:
    """`stem.png` and `stem.svg` of a matplotlib figure, each written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    paths = []
    for fmt in FIGURE_FORMATS:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight")
        paths.append(Path(stem).with_suffix(f".{fmt}"))
        atomic_write_bytes(paths[-1], buf.getvalue())
    return paths


def yaml(data: Mapping[str, Any], comments: Iterable[str] = ()) -> str:
    """`data` as YAML text through OmegaConf, below `# comment` lines."""
    from omegaconf import OmegaConf

    head = "".join(f"# {line}\n" for line in comments)
    return head + OmegaConf.to_yaml(OmegaConf.create(dict(data)))


def write_yaml(path: Path, data: Mapping[str, Any], comments: Iterable[str] = ()) -> Path:
    """`data` as YAML through OmegaConf, below `# comment` lines, written atomically."""
    return write_text(path, yaml(data, comments))


# ----------------------------------------------------------------------------- whose report a folder holds
def source_of(out: Path) -> Path | None:
    """The sweep folder whose report `out` holds (resolved), None when it holds no report (no index.html).

    `report.json` says; a report written before it existed says so in table.md's `- sweep: NAME (DIR)` line (DIR
    relative to where it was written: the working directory, as for any report). A report that says neither is
    of an unknown sweep: `Path()` (never equal to a sweep folder)."""
    if (out / SOURCE).is_file():
        try:
            return (out / json.loads((out / SOURCE).read_text())["sweep_dir"]).resolve()  # absolute, or from out
        except (OSError, ValueError, KeyError, TypeError):
            return Path()
    if not (out / PAGE).is_file():
        return None
    try:
        found = LEGACY_SWEEP.search((out / "table.md").read_text())
    except OSError:
        found = None
    return Path(found["dir"]).resolve() if found else Path()


FIRST = "runs.csv"  # the first file a report writes (report.json, SOURCE, is its last)
SHOWN = 4  # names of a crowded folder's files in the refusal


def check_owner(out: Path, sweep_dir: Path, option: str = "--out DIR") -> None:
    """Refuse to write a sweep's report into `out` when `out` holds the report of another sweep folder (a report
    of the same sweep is brought up to date), or files but no report at all (`--out /`, `--out .`); `option` is how
    the user names another folder. Raises ConfigError."""
    from ablate.errors import ConfigError

    theirs = source_of(out)
    if theirs is None:
        others = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        if others and not {SOURCE, PAGE, FIRST} & set(others):  # no report, not even one cut short
            shown = ", ".join(others[:SHOWN]) + (", …" if len(others) > SHOWN else "")
            raise ConfigError(
                f"the report folder {str(out)!r} holds other files and no report ({shown}): give the report a new or "
                f"empty folder with {option}."
            )
        return
    if theirs == Path(sweep_dir).resolve():
        return
    what = (
        f"the report of another sweep, {os.path.relpath(theirs)}"
        if theirs != Path()
        else "a report of an unknown sweep"
    )
    raise ConfigError(
        f"the report folder {str(out)!r} holds {what}: give this sweep's report its own folder with "
        f"{option}, or delete {str(out)!r} to replace that report."
    )


def write_source(out: Path, sweep_dir: Path, name: str) -> Path:
    """`report.json`: the sweep folder, relative to the report (so a report committed beside its sweep folder stays
    that sweep's in any clone), and the name this report was written from; written last, so a report killed half
    way claims nothing."""
    data = {"sweep_dir": os.path.relpath(Path(sweep_dir).resolve(), out.resolve()), "sweep": name}
    return write_text(out / SOURCE, json.dumps(data, indent=2) + "\n")

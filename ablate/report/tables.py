"""The sweep's table in the paper's shape, the paper's numbers beside ours, and Table 2.

`summary(runs)` turns the runs frame into one row per setting (a member's overrides without
its seed): C×d, the fields that differ between settings, params, FLOPs, top-1/top-5 error as
mean ± std over seeds and the count n. Where the template is one of the paper's models (same
stem, widths, depths and classes as conf/model/resnet50.yaml and friends) the paper's error
for that setting stands beside ours, with the table it comes from. `table2(template)` is the
complexity-only Table 2 of a template: the solver's d for each cardinality, no training.
Each table is written as Markdown, CSV and LaTeX through pandas.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ablate.cli.common import human
from ablate.report import atomic_write_text
from ablate.report.collect import STATUSES

# The paper's top-1 / top-5 errors (%), from ../shared/reference/resnext-facts.md:
# (table, architecture, C, d, shortcut, top-1, top-5).
PAPER = (
    # Table 3 — ImageNet-1K, 224 single crop, complexity preserved
    ("Table 3", "50-layer", 1, 64, True, 23.9, None),
    ("Table 3", "50-layer", 2, 40, True, 23.0, None),
    ("Table 3", "50-layer", 4, 24, True, 22.6, None),
    ("Table 3", "50-layer", 8, 14, True, 22.3, None),
    ("Table 3", "50-layer", 32, 4, True, 22.2, None),
    ("Table 3", "101-layer", 1, 64, True, 22.0, None),
    ("Table 3", "101-layer", 2, 40, True, 21.7, None),
    ("Table 3", "101-layer", 4, 24, True, 21.4, None),
    ("Table 3", "101-layer", 8, 14, True, 21.3, None),
    ("Table 3", "101-layer", 32, 4, True, 21.2, None),
    # Table 4 — increasing complexity to ~2× ResNet-101
    ("Table 4", "101-layer", 1, 64, True, 22.0, 6.0),
    ("Table 4", "101-layer", 32, 4, True, 21.2, 5.6),
    ("Table 4", "200-layer", 1, 64, True, 21.7, 5.8),
    ("Table 4", "101-layer", 1, 100, True, 21.3, 5.7),
    ("Table 4", "101-layer", 2, 64, True, 20.7, 5.5),
    ("Table 4", "101-layer", 64, 4, True, 20.4, 5.3),
    # Residual connections (§5.1): the same 50-layer models without shortcuts
    ("no-shortcut (§5.1)", "50-layer", 1, 64, False, 31.2, None),
    ("no-shortcut (§5.1)", "50-layer", 32, 4, False, 26.1, None),
    # Table 7 — CIFAR test error, mean of 10 runs
    ("Table 7", "29-layer CIFAR-10", 8, 64, True, 3.65, None),
    ("Table 7", "29-layer CIFAR-10", 16, 64, True, 3.58, None),
    ("Table 7", "29-layer CIFAR-100", 8, 64, True, 17.77, None),
    ("Table 7", "29-layer CIFAR-100", 16, 64, True, 17.31, None),
)
# The paper's architectures: a model config, and changes to it; C, d and shortcut are free.
PAPER_ARCHS = {
    "50-layer": ("resnet50", {}),
    "101-layer": ("resnet101", {}),
    "200-layer": ("resnet200", {}),
    "29-layer CIFAR-10": ("resnext29_8x64d", {"num_classes": 10}),
    "29-layer CIFAR-100": ("resnext29_8x64d", {"num_classes": 100}),
}
FREE_FIELDS = ("cardinality", "bottleneck_width", "shortcut")
TABLE2_CARDINALITIES = (1, 2, 4, 8, 32)  # Table 2's columns
TABLE2_COLUMNS = ("cardinality", "bottleneck_width", "group_width", "params", "flops", "metric", "scope", "achieved",
                  "target", "deviation", "note")
MACHINE_KEYS = ("hostname", "device", "threads", "torch", "python")  # of a record's env
# Columns shown only where they differ between settings: (runs column, heading).
VARYING = (("variant", "variant"), ("depths", "depths"), ("width", "width"), ("shortcut", "shortcut"),
           ("budget_vary", "solved"), ("budget_scale", "budget ×"), ("model", "model"), ("data", "data"))


def paper_arch(run) -> str | None:
    """The paper's name for a run's architecture (e.g. "50-layer"), or None if it is not one.

    `run` is a row of the runs frame (or any mapping of template fields; depths as "3-4-6-3").
    """
    fields = {k: run.get(k) for k in _paper_references()[0][1]}
    if isinstance(fields.get("depths"), (list, tuple)):
        fields["depths"] = "-".join(str(x) for x in fields["depths"])
    for arch, reference in _paper_references():
        if all(_same(fields.get(k), v) for k, v in reference.items()):
            return arch
    return None


@functools.lru_cache(maxsize=1)
def _paper_references() -> tuple:
    from ablate.config.loading import load_template

    out = []
    for arch, (name, changes) in PAPER_ARCHS.items():
        ref = load_template(name).replace(**changes).to_dict()
        ref["depths"] = "-".join(str(x) for x in ref["depths"])
        out.append((arch, {k: v for k, v in ref.items() if k not in FREE_FIELDS}))
    return tuple(out)


def _same(a, b) -> bool:
    return bool(pd.notna(a) and a == b)


def paper_errors(arch: str | None, cardinality, bottleneck_width, shortcut) -> dict | None:
    """The paper's top-1/top-5 (%) for one setting and the tables they come from, if printed."""
    hits = [p for p in PAPER if (p[1], p[2], p[3], p[4]) == (arch, cardinality, bottleneck_width, shortcut)]
    if not hits:
        return None
    top5 = next((p[6] for p in hits if p[6] is not None), None)
    return {"paper_top1": hits[0][5], "paper_top5": top5, "paper_table": ", ".join(p[0] for p in hits)}


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per setting, in sweep order: complexity, error mean ± std over seeds, paper numbers."""
    rows = []
    for setting, group in runs.groupby("setting", sort=False):
        done = group[(group.status == "completed") & group.final_val_err.notna()]
        known = group[group.params.notna()]
        first = (known if len(known) else group).iloc[0]
        row = {"setting": setting, "label": first.label}
        row.update({c: first[c] for c, _ in VARYING})
        row.update({c: first[c] for c in ("cardinality", "bottleneck_width", "group_width", "params", "flops",
                                           "acts", "budget_deviation")})
        row.update({
            "top1_mean": done.final_val_err.mean(), "top1_std": done.final_val_err.std(ddof=1),
            "top5_mean": done.final_val_top5_err.mean(), "top5_std": done.final_val_top5_err.std(ddof=1),
            "best_top1_mean": done.best_val_err.mean(), "n": len(done), "runs": len(group),
            **{s: int((group.status == s).sum()) for s in ("failed", "diverged", "missing", "running")},
        })
        paper = paper_errors(paper_arch(first), first.cardinality, first.bottleneck_width, first.shortcut)
        row.update(paper or {"paper_top1": None, "paper_top5": None, "paper_table": None})
        rows.append(row)
    return pd.DataFrame(rows)


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The summary as the paper prints it: strings, only the columns that say something."""
    out = pd.DataFrame({"setting": table.label})
    for column, heading in VARYING:
        values = table[column].dropna().astype(str)
        if values.nunique() > 1:
            out[heading] = table[column].map(_text)
    out["params"] = table.params.map(_count)
    out["FLOPs"] = table.flops.map(_count)
    out["top-1 err (%)"] = [_mean_std(m, s, n) for m, s, n in zip(table.top1_mean, table.top1_std, table.n)]
    if table.top5_mean.notna().any():
        out["top-5 err (%)"] = [_mean_std(m, s, n) for m, s, n in zip(table.top5_mean, table.top5_std, table.n)]
    out["n"] = table.n.astype(int).astype(str)
    problems = table[["failed", "diverged", "missing", "running"]]
    if problems.to_numpy().sum():
        out["not completed"] = [", ".join(f"{int(v)} {k}" for k, v in r.items() if v) or "" for _, r in problems.iterrows()]
    if table.paper_top1.notna().any():
        out["paper top-1 (%)"] = table.paper_top1.map(_text)
        if table.paper_top5.notna().any():
            out["paper top-5 (%)"] = table.paper_top5.map(_text)
        out["paper"] = table.paper_table.map(_text)
    return out


def table2(template, cardinalities=TABLE2_CARDINALITIES, metric: str = "params", scope: str = "network") -> pd.DataFrame:
    """Table 2 of any template: for each C, the d the solver picks at the template's own budget.

    No training and no torch: `ablate.budget.solve` per cardinality, with the deviation shown
    instead of refusing rows outside a tolerance (Table 2 itself is "≈ 70k").
    """
    from ablate.budget import Budget, solve
    from ablate.engine.complexity import complexity
    from ablate.errors import AblateError

    budget = Budget.relative(template, 1.0, metric=metric, scope=scope, tolerance=math.inf)
    rows = []
    for c in sorted(set(cardinalities)):
        try:
            sol = solve(template.replace(cardinality=c), budget)
        except AblateError as e:
            rows.append({"cardinality": c, "note": str(e)})
            continue
        t, cx = sol.template, complexity(sol.template)
        rows.append({"cardinality": c, "bottleneck_width": t.bottleneck_width, "group_width": t.group_width,
                     "params": cx.params, "flops": cx.flops, "metric": metric, "scope": scope,
                     "achieved": sol.achieved, "target": sol.target, "deviation": sol.deviation, "note": None})
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def table2_display(t2: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as the paper prints it, one row per C."""
    out = pd.DataFrame({
        "C": t2.cardinality.astype(str),
        "d": t2.bottleneck_width.map(_int),
        "width of group conv (C·d)": t2.group_width.map(_int),
        "params": t2.params.map(_count),
        "FLOPs": t2.flops.map(_count),
        "deviation": t2.deviation.map(lambda x: "" if pd.isna(x) else f"{x:+.1%}"),
    })
    if t2.note.notna().any():
        out["note"] = t2.note.map(_text)
    return out


def write_table(out: Path, stem: str, data: pd.DataFrame, shown: pd.DataFrame, header: str = "",
                footer: str = "") -> list[Path]:
    """`stem.csv` (all numbers), `stem.md` (header, table, footer) and `stem.tex`, atomically."""
    paths = [out / f"{stem}.csv", out / f"{stem}.md", out / f"{stem}.tex"]
    atomic_write_text(paths[0], data.to_csv(index=False))
    md = shown.to_markdown(index=False, disable_numparse=True) if len(shown) else "(no rows)"
    atomic_write_text(paths[1], "\n\n".join(p for p in (header.strip(), md, footer.strip()) if p) + "\n")
    tex = shown.to_latex(index=False, escape=True).replace("±", r"$\pm$").replace("×", r"$\times$")
    atomic_write_text(paths[2], tex)
    return paths


def _count(x) -> str:
    return "" if pd.isna(x) else human(float(x))


def _int(x) -> str:
    return "" if pd.isna(x) else str(int(x))


def _text(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return ""
    return str(x)


def _mean_std(mean, std, n) -> str:
    if not n or pd.isna(mean):
        return "—"
    return f"{mean:.2f}" if n < 2 or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"


class Table2(NamedTuple):
    """The sweep template's Table 2: its frame and a one-line title."""

    frame: pd.DataFrame
    title: str


def table2_of(sweep) -> Table2 | None:
    """Table 2 of the sweep's reference template (the model config as written, which the
    budget solver matches), under the sweep's budget metric and scope (params at network scope
    when the sweep has no budget), over Table 2's cardinalities and the sweep's own."""
    from ablate.config.loading import load_template
    from ablate.errors import AblateError

    runs = sweep.runs
    names = runs.budget_reference.dropna().tolist() + runs.model.dropna().tolist()
    if not names:
        return None
    try:
        template = load_template(str(names[0]))
    except AblateError:
        return None
    budgeted = runs[runs.budget_metric.notna()]
    metric = budgeted.budget_metric.iloc[0] if len(budgeted) else "params"
    scope = budgeted.budget_scope.iloc[0] if len(budgeted) and pd.notna(budgeted.budget_scope.iloc[0]) else "network"
    cardinalities = set(TABLE2_CARDINALITIES) | {int(c) for c in runs.cardinality.dropna()}
    frame = table2(template, cardinalities, metric=metric, scope=scope)
    title = (f"# Table 2 of {names[0]}: d for each cardinality C at its {metric} "
             f"({'whole network' if scope == 'network' else 'equation-4 block'}), from the solver alone")
    return Table2(frame, title)


def about(sweep) -> list[tuple[str, str]]:
    """What a reader needs to reproduce the table: command, machine, wall time, counts."""
    from ablate.report.collect import wall_time

    runs = sweep.runs
    items = [("sweep", f"{sweep.name} ({sweep.directory})")]
    if sweep.command:
        items.append(("command", sweep.command))
    envs = runs.env.dropna()
    if len(envs):
        env = json.loads(envs.iloc[0])
        machine = ", ".join(f"{k} {env[k]}" for k in MACHINE_KEYS if env.get(k) is not None)
        if "precision" in runs:
            precisions = sorted(runs.precision.dropna().unique())
            if precisions:
                machine += f", precision {'/'.join(precisions)}"
        items.append(("machine", machine or "unknown"))
        if env.get("git_commit"):
            items.append(("commit", str(env["git_commit"])))
    wall = wall_time(runs)
    if wall["elapsed_seconds"] is not None or wall["run_seconds"] is not None:
        parts = []
        if wall["elapsed_seconds"] is not None:
            parts.append(f"{_duration(wall['elapsed_seconds'])} from first start to last finish")
        if wall["run_seconds"] is not None:
            parts.append(f"{_duration(wall['run_seconds'])} summed over runs")
        items.append(("wall time", "; ".join(parts)))
    counts = runs.status.value_counts()
    items.append(("members", ", ".join(f"{int(counts[s])} {s}" for s in STATUSES if s in counts)))
    for column, heading in (("model", "model"), ("data", "data")):
        values = runs[column].dropna().unique()
        if len(values) == 1:
            items.append((heading, str(values[0])))
    items.append(("error", "top-1/top-5 error (%) on the validation split after the last epoch; "
                           "mean ± sample std over seeds, n completed runs"))
    return items


def header(name: str, items: list[tuple[str, str]]) -> str:
    """The README-style head of table.md from `about`'s items."""
    lines = [f"# {name}: top-1 error by setting", ""]
    lines += [f"- {k}: `{v}`" if k == "command" else f"- {k}: {v}" for k, v in items]
    return "\n".join(lines)


def problems(runs: pd.DataFrame) -> str:
    """Markdown list of the members that did not complete, with their reason."""
    bad = runs[runs.status != "completed"]
    if not len(bad):
        return ""
    lines = ["## Members that did not complete", ""]
    for r in bad.itertuples():
        where = f"`{r.run}`" if isinstance(r.run, str) else "(no folder)"
        lines.append(f"- {where} [{r.overrides}]: **{r.status}** — {_text(r.reason) or 'no reason recorded'}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def labels(table: pd.DataFrame) -> dict:
    """Setting → a short label for figures: C×d and the columns that tell settings apart."""
    shown = display(table)
    columns = list(shown.columns[: list(shown.columns).index("params")])
    out = {}
    for setting, row in zip(table.setting, shown[columns].itertuples(index=False)):
        parts = [row[0]] + [f"{h}={v}" for h, v in zip(columns[1:], row[1:]) if v]
        out[setting] = " · ".join(parts)
    return out

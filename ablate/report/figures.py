"""Figures of a sweep, as png and svg: the paper's Figure 5 and Figure 7 shapes, and the evidence.

`curves`: train (dashed) and validation (solid) error against epochs, one colour per
setting, the mean over seeds with the 95% CI of the mean as a band where a setting has repeats
(Figure 5); runs of a single epoch get `one_epoch`'s points per setting instead of a curve.
Every point and line is labelled with every field that varies between settings (`tables.labels`).
`complexity`: final top-1 error against params and against FLOPs, one series per way of
adding complexity (variant, solved dimension or shortcut), the 95% CI of the mean as error
bars where there are repeats (Figure 7). `difference`: each setting's difference in top-1
error from the reference with its 95% CI, one row per setting, the ±δ band of equivalence
shaded. `best`, where the sweep has repeats: each setting's simultaneous interval for its error
minus the lowest of the others' (`ablate.report.best`), with its verdict. Drawn with
matplotlib's object API on Agg canvases: no pyplot state, no display needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ablate.report import stats
from ablate.report.output import write_figure
from ablate.report.tables import varying_overrides

SERIES_COLUMNS = ("variant", "budget_vary", "shortcut")
MARKED_EPOCHS = 12  # curves of this many epochs or fewer mark each epoch
LEGEND_INSIDE = 12  # settings whose legend fits inside the axes; more go below them
LABEL_INCHES = 0.075  # the width of a character of a small tick label
ANNOTATED_LABEL = 24  # the longest label written in full beside a point of the complexity figure
DESIGN_SPACE = "design_space"  # the key of the override (+design_space=NAME) a design-space sweep gives each member
VERDICT_COLORS = {"better": "tab:green", "worse": "tab:red", "equivalent": "tab:blue"}
BEST_COLORS = {"the best": "tab:green", "not the best": "tab:red"}  # within ±δ of the best: blue; may be: grey


def draw(sweep, table: pd.DataFrame, labels: dict, out: Path, resolution: float = 0.2) -> list[str]:
    """Write every figure into `out` as png and svg; returns their stems."""
    written = []
    drawn = [
        ("curves", curves(sweep.epochs, labels)),
        ("error_vs_complexity", complexity(table, labels)),
        ("difference", difference(table, labels, resolution)),
    ]
    if table.best.notna().any():  # which settings may be the best: only where it was judged
        drawn.append(("best", best(table, labels, resolution)))
    for stem, fig in drawn:
        write_figure(fig, out / stem)
        written.append(stem)
    return written


def curves(epochs: pd.DataFrame, labels: dict) -> Figure:
    """Train and validation error (%) against epochs, mean over seeds per setting, the 95% CI of the mean as a
    band (Figure 5). Runs of one epoch have no curve: `one_epoch` draws their errors instead."""
    if len(epochs) and epochs.epoch.max() <= 1:
        return one_epoch(epochs, labels)
    fig = _figure(1)
    ax = fig.axes[0]
    ax.set(
        xlabel="epoch",
        ylabel="top-1 error (%), mean and 95% CI over seeds",
        title="training curves (dashed: train, solid: val)",
    )
    if not len(epochs):
        _empty(ax)
        return fig
    colors = _colors(labels)
    last = int(epochs.epoch.max())
    for setting in _in_table_order(epochs, labels):
        group = epochs[epochs.setting == setting]
        for column, style in (("train_err", "--"), ("val_err", "-")):
            x, mean, low, high = _by_epoch(group, column)
            ax.plot(
                x,
                mean,
                style,
                color=colors.get(setting),
                label=labels.get(setting, setting) if style == "-" else None,
                marker="o" if last <= MARKED_EPOCHS else None,
                markersize=4,
            )
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=colors.get(setting), alpha=0.15, linewidth=0)
    ax.set_xlim(1, last)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig, ax)
    return fig


def one_epoch(epochs: pd.DataFrame, labels: dict) -> Figure:
    """Runs of one epoch: each setting's train (open) and validation (filled) error after it, the mean over seeds
    with its 95% CI, one row per setting — a single point per setting on an epoch axis would be no curve."""
    order = _in_table_order(epochs, labels)
    longest = max((len(labels.get(s, s)) for s in order), default=0)  # the row labels are set beside the axes
    fig = _figure(1, height=max(2.5, 1.2 + 0.45 * len(order)), width=max(6.0, 3.0 + LABEL_INCHES * longest))
    ax = fig.axes[0]
    ax.set(
        xlabel="top-1 error (%) after epoch 1, mean and 95% CI over seeds",
        title="one epoch: no curve (open: train, filled: val)",
    )
    colors = _colors(labels)
    y = np.arange(len(order))[::-1]
    for yi, setting in zip(y, order, strict=True):
        group = epochs[epochs.setting == setting]
        for column, face in (("train_err", "none"), ("val_err", colors.get(setting))):
            _, mean, low, high = _by_epoch(group, column)
            err = None if not np.isfinite(low).all() else [mean - low, high - mean]
            ax.errorbar(
                mean,
                [yi],
                xerr=err,
                marker="o",
                markersize=7,
                capsize=3,
                linestyle="none",
                color=colors.get(setting),
                markerfacecolor=face,
            )
    ax.set_yticks(y, [labels.get(s, s) for s in order], fontsize="small")
    ax.set_ylim(-0.8, len(order) - 0.2)
    ax.grid(False, axis="y")
    return fig


def _in_table_order(epochs: pd.DataFrame, labels: dict) -> list[str]:
    present = list(epochs.setting.unique())
    return [s for s in labels if s in present] + [s for s in present if s not in labels]


def _by_epoch(group: pd.DataFrame, column: str) -> tuple[np.ndarray, ...]:
    """Epochs, and per epoch the mean of `column` (an error, %) over seeds and its 95% CI (NaN with one run)."""
    by_epoch = group.groupby("epoch")[column]  # an error in %
    rows = [(epoch, stats.interval(values.dropna(), bounds=stats.PERCENT)) for epoch, values in by_epoch]
    x = np.array([e for e, _ in rows], dtype=float)
    mean, low, high = (np.array([getattr(i, k) for _, i in rows], dtype=float) for k in ("mean", "low", "high"))
    return x, mean, low, high


def complexity(table: pd.DataFrame, labels: dict) -> Figure:
    """Final top-1 error against params and FLOPs, one line per series, 95% CI bars (Figure 7)."""
    fig = _figure(2)
    done = table[(table.n > 0) & table.params.notna()]
    series_column = next((c for c in SERIES_COLUMNS if done[c].dropna().astype(str).nunique() > 1), None)
    spaces = varying_overrides(done.setting.tolist()).get(DESIGN_SPACE)  # the override each design-space member has
    if series_column is None and spaces is not None:  # sampled designs from several spaces: points by their space
        done, series_column = done.assign(design_space=spaces), DESIGN_SPACE
    joined = series_column != DESIGN_SPACE  # a series of settings is a line; sampled designs are not
    annotate = len(done) <= LEGEND_INSIDE  # labels beside a few points; many would cover one another
    for ax, column, name in zip(fig.axes, ("params", "flops"), ("params", "FLOPs (multiply-adds)"), strict=True):
        ax.set(
            xlabel=f"{name}, millions", ylabel="top-1 error (%), mean and 95% CI", title=f"error vs {name.split()[0]}"
        )
        if not len(done):
            _empty(ax)
            continue
        groups = done.groupby(done[series_column].astype(str), sort=False) if series_column else [(None, done)]
        for series, group in groups:
            group = group.sort_values(column)
            x = group[column].to_numpy(dtype=float) / 1e6
            y = group.top1_mean.to_numpy(dtype=float)
            low = (group.top1_mean - group.top1_ci_low).fillna(0).to_numpy(dtype=float)
            high = (group.top1_ci_high - group.top1_mean).fillna(0).to_numpy(dtype=float)
            ax.errorbar(
                x,
                y,
                yerr=np.vstack([low, high]) if (low.any() or high.any()) else None,
                marker="o",
                capsize=3,
                linestyle="-" if series_column and joined else "none",
                label=f"{series_column}={series}" if series_column else None,
            )
            # each point names its setting, in full (no two alike) or, where that is long and a legend names the
            # series, by its C×d where no two of the series are alike
            full = [labels.get(s, s) for s in group.setting]
            short = [label.split(" · ")[0] for label in full]
            brief = series_column and len(set(short)) == len(short) and max(map(len, full)) > ANNOTATED_LABEL
            names = short if brief else full
            for xi, yi, label in zip(x, y, names, strict=True) if annotate else ():
                ax.annotate(
                    label,
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize="x-small",
                )
        if series_column:
            ax.legend(fontsize="small")
    return fig


def difference(table: pd.DataFrame, labels: dict, resolution: float) -> Figure:
    """Δ top-1 error (setting − reference) with its 95% CI, one row per setting in the table's order."""
    rows = len(table)
    longest = max((len(labels.get(s, s)) for s in table.setting), default=0) + len(" (reference)")
    # the labels beside the plot: ~0.065 inch a character at the tick font, and 5 inches left for the plot
    fig = _figure(1, height=max(2.5, 1.2 + 0.45 * rows), width=max(6.0, 5.0 + 0.065 * longest))
    ax = fig.axes[0]
    judged = [str(r.verdict) for r in table.itertuples() if r.verdict != stats.REFERENCE and not pd.isna(r.delta)]
    # one verdict every setting shares (a design-space sweep's `undecided (n=1)`) is said once, not beside each point
    shared = judged[0] if len(judged) > 1 and len(set(judged)) == 1 else None
    ax.set(
        xlabel="Δ top-1 error vs reference (points), 95% CI; left of 0: fewer errors",
        title=f"difference from the reference (shaded: equivalent within ±{resolution:g})"
        + (f"\nevery setting: {shared}" if shared else ""),
    )
    ax.axvspan(-resolution, resolution, color="0.85", linewidth=0)
    ax.axvline(0, color="0.3", linewidth=1)
    y = np.arange(rows)[::-1]
    names = []
    for yi, r in zip(y, table.itertuples(), strict=True):
        name = labels.get(r.setting, r.setting)
        verdict = str(r.verdict) if isinstance(r.verdict, str) else ""
        if verdict == stats.REFERENCE:
            ax.plot([0], [yi], marker="D", color="black")
            name += " (reference)"
        elif not pd.isna(r.delta):
            color = next((c for k, c in VERDICT_COLORS.items() if verdict.startswith(k)), "0.4")
            _interval(ax, yi, r.delta, r.delta_ci_low, r.delta_ci_high, color, None if shared else verdict)
        else:
            ax.text(0, yi, f"  {verdict or 'no completed run'}", va="center", fontsize="x-small", color="0.4")
        names.append(name)
    _rows(ax, y, names, table[["delta_ci_low", "delta_ci_high", "delta"]], resolution)
    return fig


def best(table: pd.DataFrame, labels: dict, resolution: float) -> Figure:
    """Each setting's 95% simultaneous interval for its error minus the lowest of the others' (Hsu's MCB), the
    point at its observed gap, its verdict beside it; one row per setting in the table's order, 0 marked and the
    band up to δ shaded (a gap below δ: within ±δ of the best)."""
    rows = len(table)
    longest = max((len(labels.get(s, s)) for s in table.setting), default=0)
    fig = _figure(1, height=max(2.5, 1.2 + 0.45 * rows), width=max(6.0, 5.0 + 0.065 * longest))
    ax = fig.axes[0]
    ax.set(
        xlabel="top-1 error minus the lowest of the others' (points), 95% simultaneous; ≤ 0: the best",
        title=f"which settings may be the best (shaded: within {resolution:g} of the best)",
    )
    ax.axvspan(0, resolution, color="0.85", linewidth=0)
    ax.axvline(0, color="0.3", linewidth=1)
    y = np.arange(rows)[::-1]
    for yi, r in zip(y, table.itertuples(), strict=True):
        if pd.isna(r.best_gap):
            ax.text(0, yi, "  left out", va="center", fontsize="x-small", color="0.4")
            continue
        verdict = str(r.best)
        color = BEST_COLORS.get(verdict.split(",")[0], "tab:blue" if verdict.startswith("within") else "0.4")
        _interval(ax, yi, r.best_gap, r.best_gap_low, r.best_gap_high, color, verdict)
    _rows(ax, y, [labels.get(s, s) for s in table.setting], table[["best_gap_low", "best_gap_high"]], resolution)
    return fig


def _interval(ax, y: float, x: float, low: float, high: float, color, verdict: str | None) -> None:
    """One row's point with its interval (none where either end is unknown), its verdict above it if given."""
    err = None if pd.isna(low) or pd.isna(high) else [[x - low], [high - x]]
    ax.errorbar([x], [y], xerr=err, marker="o", capsize=4, color=color, linestyle="none")
    if verdict is not None:
        ax.annotate(
            verdict, (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize="x-small", color=color
        )


def _rows(ax, y: np.ndarray, names: list[str], values: pd.DataFrame, resolution: float) -> None:
    """A one-row-per-setting axis: the names as ticks, x symmetric about 0 and wide enough for every value and
    for the ±δ band, gridlines along x only."""
    ax.set_yticks(y, names, fontsize="small")
    ax.set_ylim(-0.8, len(names) - 0.2)
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    span = max([resolution * 1.5, *np.abs(finite)]) if len(finite) else resolution * 1.5
    ax.set_xlim(-span * 1.1, span * 1.1)
    ax.grid(True, axis="x", alpha=0.3)
    ax.grid(False, axis="y")


def _legend(fig: Figure, ax) -> None:
    """The legend inside the axes for a few settings; below them, in columns, for more (a design-space sweep has
    tens), the figure growing by its rows so that the plot keeps its size."""
    handles, names = ax.get_legend_handles_labels()
    if len(names) <= LEGEND_INSIDE:
        ax.legend(fontsize="small")
        return
    columns = max(1, min(4, int(fig.get_figwidth() * 10 // max(len(n) for n in names))))
    rows = -(-len(names) // columns)
    fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + 0.17 * rows)
    fig.legend(handles, names, loc="outside lower center", ncols=columns, fontsize="x-small")


def _figure(ncols: int, height: float = 4.5, width: float = 6.0) -> Figure:
    """`ncols` axes side by side, each `width` inches wide."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.subplots(1, ncols)
    for ax in fig.axes:
        ax.grid(True, alpha=0.3)
    return fig


def _colors(labels: dict) -> dict:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {s: cmap(i % cmap.N) for i, s in enumerate(labels)}


def _empty(ax) -> None:
    ax.text(0.5, 0.5, "no completed runs", ha="center", va="center", transform=ax.transAxes)

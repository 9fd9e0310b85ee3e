"""Figures of a sweep, as png and svg: the paper's Figure 5 and Figure 7 shapes.

`curves`: train (dashed) and validation (solid) error against epochs, one colour per
setting, the mean over seeds with a ±1 std band where a setting has repeats (Figure 5).
`complexity`: final top-1 error against params and against FLOPs, one series per way of
adding complexity (variant, solved dimension or shortcut), error bars where there are
repeats (Figure 7). Drawn with matplotlib's object API on Agg canvases: no pyplot state,
no display needed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ablate.run.record import atomic_write_bytes

FORMATS = ("png", "svg")
SERIES_COLUMNS = ("variant", "budget_vary", "shortcut")


def draw(sweep, table: pd.DataFrame, labels: dict, out: Path) -> list[str]:
    """Write every figure into `out` as png and svg; returns their stems."""
    written = []
    for stem, fig in (("curves", curves(sweep.epochs, labels)), ("error_vs_complexity", complexity(table, labels))):
        save(fig, out / stem)
        written.append(stem)
    return written


def save(fig: Figure, stem: Path) -> None:
    """`stem.png` and `stem.svg`, each written atomically."""
    for fmt in FORMATS:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight")
        atomic_write_bytes(stem.with_suffix(f".{fmt}"), buf.getvalue())


def curves(epochs: pd.DataFrame, labels: dict) -> Figure:
    """Train and validation error (%) against epochs, mean over seeds per setting (Figure 5)."""
    fig = _figure(1)
    ax = fig.axes[0]
    ax.set(xlabel="epoch", ylabel="top-1 error (%)", title="training curves (dashed: train, solid: val)")
    if not len(epochs):
        _empty(ax)
        return fig
    colors = _colors(labels)
    present = list(epochs.setting.unique())
    order = [s for s in labels if s in present] + [s for s in present if s not in labels]  # the table's order
    for setting in order:
        group = epochs[epochs.setting == setting]
        stats = group.groupby("epoch")[["train_err", "val_err"]].agg(["mean", "std", "count"])
        x = stats.index.to_numpy()
        for column, style in (("train_err", "--"), ("val_err", "-")):
            mean, std, n = (stats[column][k].to_numpy(dtype=float) for k in ("mean", "std", "count"))
            ax.plot(x, mean, style, color=colors[setting], label=labels.get(setting, setting) if style == "-" else None,
                    marker="o" if len(x) < 3 else None)
            if (n > 1).any():
                ax.fill_between(x, mean - std, mean + std, color=colors[setting], alpha=0.15, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    return fig


def complexity(table: pd.DataFrame, labels: dict) -> Figure:
    """Final top-1 error against params and FLOPs, one line per series (Figure 7)."""
    fig = _figure(2)
    done = table[(table.n > 0) & table.params.notna()]
    series_column = next((c for c in SERIES_COLUMNS if done[c].dropna().astype(str).nunique() > 1), None)
    for ax, column, name in zip(fig.axes, ("params", "flops"), ("params", "FLOPs (multiply-adds)")):
        ax.set(xlabel=f"{name}, millions", ylabel="top-1 error (%)", title=f"error vs {name.split()[0]}")
        if not len(done):
            _empty(ax)
            continue
        groups = done.groupby(done[series_column].astype(str), sort=False) if series_column else [(None, done)]
        for series, group in groups:
            group = group.sort_values(column)
            x = group[column].to_numpy(dtype=float) / 1e6
            y = group.top1_mean.to_numpy(dtype=float)
            yerr = group.top1_std.where(group.n > 1).fillna(0).to_numpy(dtype=float)
            ax.errorbar(x, y, yerr=yerr if yerr.any() else None, marker="o", capsize=3,
                        linestyle="-" if series_column else "none",
                        label=f"{series_column}={series}" if series_column else None)
            for xi, yi, setting in zip(x, y, group.setting):
                ax.annotate(labels.get(setting, setting).split(" · ")[0], (xi, yi), textcoords="offset points",
                            xytext=(4, 4), fontsize="x-small")
        if series_column:
            ax.legend(fontsize="small")
    return fig


def _figure(ncols: int) -> Figure:
    fig = Figure(figsize=(6 * ncols, 4.5), layout="constrained")
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

"""The sweep's table in the paper's shape, the paper's numbers beside ours, and Table 2.

`summary(runs)` turns the runs frame into one row per setting (a member's overrides without
its seed): C×d, the fields that differ between settings, params, FLOPs, top-1/top-5 error as
mean ± std over seeds, the count n, and `ablate.report.stats`'s evidence: the 95% CI of the
mean, the difference from the reference setting with its CI and test, the Holm-corrected
p-value and the verdict. Where the template is one of the paper's models (same stem, widths,
depths and classes as conf/model/resnet50.yaml and friends) the paper's error for that
setting stands beside ours, with the table it comes from. `table2(template)` is the
complexity-only Table 2 of a template: the solver's d for each cardinality, no training.
Each table is written as Markdown, CSV and LaTeX by `ablate.report.output.write_table`.
"""

from __future__ import annotations

import functools
import json
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ablate.cli.common import human
from ablate.report import best as mcb
from ablate.report import search, stats
from ablate.report.collect import STATUSES, override_key

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
TABLE2_COLUMNS = (
    "cardinality",
    "bottleneck_width",
    "group_width",
    "params",
    "flops",
    "metric",
    "scope",
    "achieved",
    "target",
    "deviation",
    "note",
)
MACHINE_KEYS = ("hostname", "device", "gpu", "cpu", "world_size", "threads", "torch", "python")  # of a record's env
MACHINE_LABELS = {"world_size": "processes", "threads": "threads per process"}
# `stats.Analysis.frame` columns carried into the summary (and table.csv).
EVIDENCE = tuple(c for c in stats.COLUMNS if c not in ("setting", "n", "top1_mean", "top1_std"))
REPEATS = "seed=0,1,2"
NOT_COMPLETED = ("failed", "diverged", "missing", "running", "killed")  # counted per setting, in this order
# Columns shown only where they differ between settings: (runs column, heading).
VARYING = (
    ("variant", "variant"),
    ("depths", "depths"),
    ("width", "width"),
    ("shortcut", "shortcut"),
    ("budget_vary", "solved"),
    ("budget_scale", "budget ×"),
    ("model", "model"),
    ("data", "data"),
)
# Override keys those columns (and the C×d label) already show; any other override that differs between settings
# gets a column of its own, so every field that varies is in the table and in the figures' labels.
SHOWN_KEYS = (
    "model.cardinality",
    "model.bottleneck_width",
    "variant",
    "model.depths",
    "model.width",
    "model.shortcut",
    "budget.vary",
    "budget.scale",
    "model",
    "data",
)


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


def summary(runs: pd.DataFrame, analysis: stats.Analysis | None = None) -> pd.DataFrame:
    """One row per setting, in sweep order: complexity, error mean ± std over seeds, intervals,
    the comparison with the reference setting and its verdict (`analysis`, by default
    `stats.analyse(runs)`), paper numbers."""
    analysis = analysis or stats.analyse(runs)
    evidence = analysis.frame.set_index("setting")
    rows = []
    for setting, group in runs.groupby("setting", sort=False):
        done = group[(group.status == "completed") & group.final_val_err.notna()]
        known = group[group.params.notna()]
        first = (known if len(known) else group).iloc[0]
        row = {"setting": setting, "label": first.label}
        row.update({c: first[c] for c, _ in VARYING})
        row.update(
            {
                c: first[c]
                for c in (
                    "cardinality",
                    "bottleneck_width",
                    "group_width",
                    "params",
                    "flops",
                    "acts",
                    "budget_deviation",
                )
            }
        )
        row.update(
            {
                "top1_mean": done.final_val_err.mean(),
                "top1_std": done.final_val_err.std(ddof=1),
                "top5_mean": done.final_val_top5_err.mean(),
                "top5_std": done.final_val_top5_err.std(ddof=1),
                "best_top1_mean": done.best_val_err.mean(),
                "n": len(done),
                "runs": len(group),
                **{s: int((group.status == s).sum()) for s in NOT_COMPLETED},
            }
        )
        row.update({c: evidence.at[setting, c] for c in EVIDENCE})
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
    for key, values in varying_overrides(table.setting.tolist()).items():
        if key not in SHOWN_KEYS and key not in out.columns:
            out[key] = values
    out["params"] = table.params.map(_count)
    out["FLOPs"] = table.flops.map(_count)
    out["top-1 err (%)"] = [
        _mean_std(m, s, n) for m, s, n in zip(table.top1_mean, table.top1_std, table.n, strict=True)
    ]
    out["95% CI"] = [_range(lo, hi, "") for lo, hi in zip(table.top1_ci_low, table.top1_ci_high, strict=True)]
    if table.top5_mean.notna().any():
        out["top-5 err (%)"] = [
            _mean_std(m, s, n) for m, s, n in zip(table.top5_mean, table.top5_std, table.n, strict=True)
        ]
    out["n"] = table.n.astype(int).astype(str)
    reference = table.verdict == stats.REFERENCE
    out["Δ top-1 vs ref. (pts)"] = [
        "reference" if ref else _signed(d) for ref, d in zip(reference, table.delta, strict=True)
    ]
    level = table.delta_ci_level.dropna()
    level = float(level.iloc[0]) if len(level) else stats.CONFIDENCE
    adaptive = table.stopped.notna().any()
    out[f"{100 * level:.4g}% CI of Δ"] = [
        _range(lo, hi, "+") for lo, hi in zip(table.delta_ci_low, table.delta_ci_high, strict=True)
    ]
    out["test"] = [_test(r) for r in table.itertuples()]
    out["p (adj.)" if adaptive else "p (Holm)"] = table.p_adjusted.map(_p_value)
    out["verdict"] = table.verdict.map(_text)
    if adaptive:
        out["stopped"] = table.stopped.map(_text)
    if table.best.notna().any():  # which settings may be the best (ablate.report.best): only where it was judged
        # a setting with runs outside the compared layout is left out (the note says why); one without, has none
        out["vs best (MCB)"] = [
            _text(v) or ("left out" if n else "—") for v, n in zip(table.best, table.n, strict=True)
        ]
    problems = table[list(NOT_COMPLETED)]
    if problems.to_numpy().sum():
        out["not completed"] = [
            ", ".join(f"{int(v)} {k}" for k, v in r.items() if v) or "" for _, r in problems.iterrows()
        ]
    if table.paper_top1.notna().any():
        out["paper top-1 (%)"] = table.paper_top1.map(_text)
        if table.paper_top5.notna().any():
            out["paper top-5 (%)"] = table.paper_top5.map(_text)
        out["paper"] = table.paper_table.map(_text)
    return out


def varying_overrides(settings: Sequence[str]) -> dict[str, list[str]]:
    """Override key (as typed, without `+`) → each setting's value, for the keys whose value differs between
    settings ("" where a setting does not set the key), in the order they first appear."""
    parsed = [{override_key(o): o.split("=", 1)[1] if "=" in o else "" for o in str(s).split()} for s in settings]
    keys = list(dict.fromkeys(k for p in parsed for k in p))
    return {k: [p.get(k, "") for p in parsed] for k in keys if len({p.get(k, "") for p in parsed}) > 1}


def table2(
    template, cardinalities=TABLE2_CARDINALITIES, metric: str = "params", scope: str = "network"
) -> pd.DataFrame:
    """Table 2 of any template: for each C, the d the solver picks at the template's own budget.

    No training and no torch: `ablate.budget.table2`, one cardinality at a time, with the deviation shown
    instead of refusing rows outside a tolerance (Table 2 itself is "≈ 70k").
    """
    from ablate.budget import Budget
    from ablate.budget import table2 as solve_table2
    from ablate.engine.complexity import complexity
    from ablate.errors import AblateError

    budget = Budget.relative(template, 1.0, metric=metric, scope=scope, tolerance=math.inf)
    rows = []
    for c in sorted(set(cardinalities)):
        try:
            (sol,) = solve_table2(template, [c], budget)  # the one Table 2, row by row to note a failed C
        except AblateError as e:
            rows.append({"cardinality": c, "note": str(e)})
            continue
        t, cx = sol.template, complexity(sol.template)
        rows.append(
            {
                "cardinality": c,
                "bottleneck_width": t.bottleneck_width,
                "group_width": t.group_width,
                "params": cx.params,
                "flops": cx.flops,
                "metric": metric,
                "scope": scope,
                "achieved": sol.achieved,
                "target": sol.target,
                "deviation": sol.deviation,
                "note": None,
            }
        )
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


def table2_display(t2: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as the paper prints it, one row per C."""
    out = pd.DataFrame(
        {
            "C": t2.cardinality.astype(str),
            "d": t2.bottleneck_width.map(_int),
            "width of group conv (C·d)": t2.group_width.map(_int),
            "params": t2.params.map(_count),
            "FLOPs": t2.flops.map(_count),
            "deviation": t2.deviation.map(lambda x: "" if pd.isna(x) else f"{x:+.1%}"),
        }
    )
    if t2.note.notna().any():
        out["note"] = t2.note.map(_text)
    return out


def _count(x) -> str:
    return "" if pd.isna(x) else human(float(x))


def _int(x) -> str:
    return "" if pd.isna(x) else str(int(x))


def _text(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return ""
    if isinstance(x, (bool, np.bool_)):  # a yes/no field of the template (shortcut), as the paper's tables say it
        return "yes" if x else "no"
    return str(x)


def _mean_std(mean, std, n) -> str:
    if not n or pd.isna(mean):
        return "—"
    return f"{mean:.2f}" if n < 2 or pd.isna(std) else f"{mean:.2f} ± {std:.2f}"


def _range(low, high, sign: str) -> str:
    if pd.isna(low) or pd.isna(high):
        return "—"
    return f"[{low:{sign}.2f}, {high:{sign}.2f}]"


def _signed(x) -> str:
    return "—" if pd.isna(x) else f"{x:+.2f}"


def _p_value(p) -> str:
    if pd.isna(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _test(row) -> str:
    """What Δ was computed by: paired t over shared seeds, Welch's t, or none (too few runs)."""
    if row.test == stats.PAIRED:
        k = int(row.unpaired_left_out) if not pd.isna(row.unpaired_left_out) else 0
        left = f", {k} unpaired run{'s' if k != 1 else ''} left out" if k else ""
        return f"paired t, {int(row.test_n)} seeds{left}"
    if row.test == stats.WELCH:
        return f"Welch t, n={int(row.test_n)} vs {int(row.reference_n)}"
    return "" if row.test == stats.REFERENCE else "none"


class Table2(NamedTuple):
    """The sweep template's Table 2: its frame and a one-line title."""

    frame: pd.DataFrame
    title: str


def table2_of(sweep) -> Table2 | None:
    """Table 2 of the sweep's reference template, over Table 2's cardinalities and the sweep's own: with a budget,
    the budget's reference model config as written (which the solver matched) under its metric and scope; without
    one, the template the sweep's first setting ran (command-line overrides of the model included), at its params."""
    from ablate.config.loading import load_template
    from ablate.errors import AblateError

    runs = sweep.runs
    budgeted = runs[runs.budget_metric.notna()]
    known = runs[runs.params.notna() & runs.depths.notna()]  # runs whose record holds their solved template
    names = runs.budget_reference.dropna().tolist() + runs.model.dropna().tolist()
    if not len(budgeted) and len(known):
        template = _template_of(known.iloc[0])
        if template is None:  # a block that no longer imports here: no table rather than another model's
            return None
        name = f"{names[0] if names else 'the model'} as the sweep's first setting ran it ({known.iloc[0].setting})"
    elif names:
        try:
            template, name = load_template(str(names[0])), str(names[0])
        except AblateError:
            return None
    else:
        return None
    metric = budgeted.budget_metric.iloc[0] if len(budgeted) else "params"
    scope = budgeted.budget_scope.iloc[0] if len(budgeted) and pd.notna(budgeted.budget_scope.iloc[0]) else "network"
    cardinalities = set(TABLE2_CARDINALITIES) | {int(c) for c in runs.cardinality.dropna()}
    frame = table2(template, cardinalities, metric=metric, scope=scope)
    title = (
        f"# Table 2 of {name}: d for each cardinality C at its {metric} "
        f"({'whole network' if scope == 'network' else 'equation-4 block'}), from the solver alone"
    )
    return Table2(frame, title)


def _template_of(row):
    """The solved template of a run's row, or None where it cannot be rebuilt here."""
    from ablate.engine.template import Template
    from ablate.errors import AblateError

    try:
        template = Template(
            depths=tuple(int(n) for n in str(row.depths).split("-")),
            width=int(row.width),
            cardinality=int(row.cardinality),
            bottleneck_width=int(row.bottleneck_width),
            block=str(row.block),
            stem=str(row.stem),
            stem_width=int(row.stem_width),
            in_channels=int(row.in_channels),
            resolution=int(row.resolution),
            num_classes=int(row.num_classes),
            shortcut=bool(row.shortcut),
        )
    except (AblateError, TypeError, ValueError):  # a record of an older layout, or a block that no longer imports
        return None
    return template


def _has_top5(runs: pd.DataFrame) -> bool:
    """Whether any run has a top-5 error (none has on a data set of five classes or fewer)."""
    return bool(runs.final_val_top5_err.notna().any())


def about(sweep) -> list[tuple[str, str]]:
    """What a reader needs to reproduce the table: command, machine, wall time, counts."""
    from ablate.report.collect import wall_time

    runs = sweep.runs
    items = [("sweep", f"{sweep.name} ({sweep.directory})")]
    if sweep.command:
        items.append(("command", sweep.command))
    if sweep.unread:
        items.append(
            (
                "multirun.yaml",
                f"cannot be read ({sweep.unread.rstrip('.')}): the sweep's command line, its report options and the "
                "members that never wrote a result are not known, so the report is written without them",
            )
        )
    envs = runs.env.dropna()
    if len(envs):
        env = json.loads(envs.iloc[0])
        machine = ", ".join(f"{MACHINE_LABELS.get(k, k)} {env[k]}" for k in MACHINE_KEYS if env.get(k) is not None)
        items.append(("machine", machine or "unknown"))
        kinds = _hardware(envs)
        if len(kinds) > 1:  # a cluster's members: a kind's kernels round differently from another's
            counted = "; ".join(f"{n} on {kind}" for kind, n in kinds.items())
            items.append(
                (
                    "hardware",
                    f"the runs ran on {len(kinds)} kinds ({counted}): their numbers may differ by "
                    "the kernels of each, beside the seeds",
                )
            )
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
    members = ", ".join(f"{int(counts[s])} {s}" for s in STATUSES if s in counts)
    if sweep.repeated:
        pairs = "; ".join(f"{left} as {kept}" for left, kept in sweep.repeated[:3])
        more = f"; and {len(sweep.repeated) - 3} more" if len(sweep.repeated) > 3 else ""
        one = len(sweep.repeated) == 1
        folders = f"{len(sweep.repeated)} more folder{'' if one else 's'} hold{'s' if one else ''}"
        members += f"; {folders} a run of the same config as another ({pairs}{more}): each is counted once"
    items.append(("members", members))
    models = runs.model.dropna().unique()
    if len(models) == 1:
        items.append(("model", str(models[0])))
    items += recipe(sweep)
    items.append(
        (
            "error",
            f"{'top-1/top-5' if _has_top5(runs) else 'top-1'} error (%) on the validation split after the last "
            "epoch; mean ± sample std over seeds, n completed runs",
        )
    )
    items.append(
        (
            "error bars",
            "the 95% CI column, the error bars of the error-vs-complexity figure and the bands "
            "of the training curves are the 95% confidence interval of the mean over seeds "
            "(Student's t, n − 1 degrees of freedom, cut to 0–100 %; none for a setting with one completed run); "
            "the bars of the difference figure are the CI of Δ, as in the table",
        )
    )
    return items


def member_configs(sweep) -> list[dict]:
    """The resolved configs the sweep's members ran with (their result.json): the completed runs' when there are
    any (the table's numbers are theirs), else every member's that wrote one."""
    from ablate.run.record import RESULT, RecordError, RunRecord

    runs = sweep.runs[sweep.runs.run.notna()]
    done = runs[runs.status == "completed"]
    configs = []
    for run in (done if len(done) else runs).run:
        try:
            config = RunRecord.read(sweep.directory / run / RESULT).config
        except RecordError:
            continue
        if config:
            configs.append(config)
    return configs


def readers(configs: list[dict]) -> tuple[Callable[..., list], Callable[..., str]]:
    """Two readers of a config field over the members' configs: `values` (each distinct value once) and `text`
    (the value, or each one and "(varies)")."""
    from ablate.report.collect import nested

    def values(*keys: str) -> list:
        seen: dict[str, Any] = {}
        for c in configs:
            v = nested(c, *keys)
            seen.setdefault(json.dumps(v, sort_keys=True, default=str), v)
        return list(seen.values())

    def text(*keys: str, fmt: Callable[[Any], str] = lambda v: _text(v) or "null") -> str:
        found = values(*keys)
        return fmt(found[0]) if len(found) == 1 else " / ".join(fmt(v) for v in found) + " (varies)"

    return values, text


def recipe(sweep) -> list[tuple[str, str]]:
    """What the members ran with, one item each: the data set and its subsets, the training recipe, the precision
    and the budget; a value that differs between members lists each one ("0.1 / 0.2 (varies)")."""
    from ablate.report.collect import nested

    configs = member_configs(sweep)
    if not configs:
        return []

    values, text = readers(configs)

    def subset(split: str) -> Callable[[Any], str]:
        return lambda n: f"all {split} images" if n is None else f"{n} {split} images (seeded class-balanced subset)"

    def yes(v: Any) -> str:
        return "yes" if v is True else "no" if v is False else _text(v)

    present = {node for c in configs for node, v in c.items() if isinstance(v, dict)}
    items = []
    if "data" in present:
        items.append(
            (
                "data",
                f"{text('data', 'name')}: {text('data', 'train_subset', fmt=subset('training'))}, "
                f"{text('data', 'val_subset', fmt=subset('validation'))}; "
                f"augmented: {text('data', 'augment', fmt=yes)}",
            )
        )
    if "optim" in present:
        schedule = values("optim", "schedule")
        if schedule == ["step"]:
            how = f"step schedule (lr × {text('optim', 'gamma')} at epochs {text('optim', 'milestones', fmt=_listed)})"
        elif schedule == ["cosine"]:
            how = f"cosine schedule (down to {text('optim', 'min_lr_factor')} × lr)"
        else:
            how = f"{text('optim', 'schedule')} schedule"
        warm = (
            ""
            if values("optim", "warmup_epochs") in ([0], [0.0], [None])
            else f", linear warm-up over {text('optim', 'warmup_epochs')} epochs "
            f"from {text('optim', 'warmup_start')} × lr"
        )
        items.append(
            (
                "recipe",
                f"{text('optim', 'epochs')} epoch{'' if values('optim', 'epochs') == [1] else 's'}, batch "
                f"{text('optim', 'batch_size')}, SGD lr "
                f"{text('optim', 'lr')}, momentum {text('optim', 'momentum')} (Nesterov: "
                f"{text('optim', 'nesterov', fmt=yes)}), weight decay {text('optim', 'weight_decay')} "
                f"(on norm and bias: {text('optim', 'decay_norm_and_bias', fmt=yes)}), {how}{warm}, "
                f"label smoothing {text('optim', 'label_smoothing')}",
            )
        )
    ran = sorted(sweep.runs.precision.dropna().unique()) if "precision" in sweep.runs else []
    if "trainer" in present or ran:
        configured = f"trainer.precision={text('trainer', 'precision')}" if "trainer" in present else "precision"
        items.append(("precision", configured + (f", ran as {' / '.join(ran)}" if ran else "")))
    if "budget" in present:
        budgeted = [c for c in configs if nested(c, "budget", "metric") is not None]
        if 0 < len(budgeted) < len(configs):  # e.g. complexity_2x's baseline: its model config as written
            unmatched = len(configs) - len(budgeted)
            item = _budget(sweep.runs, *readers(budgeted)) + (
                f"; none for {unmatched} of {len(configs)} runs (budget.metric=null: the model config as written)"
            )
        else:
            item = _budget(sweep.runs, values, text)
        items.append(("budget", item))
    return items


def _budget(runs: pd.DataFrame, values: Callable[..., list], text: Callable[..., str]) -> str:
    """The budget item: metric and scope, what the target is, the solved field and the tolerance."""
    if values("budget", "metric") == [None]:
        return "none: each setting's complexity is what its model config gives"
    scope = text(
        "budget",
        "scope",
        fmt=lambda s: "the whole network" if s == "network" else "the equation-4 block" if s == "block" else _text(s),
    )
    if values("budget", "target") == [None]:
        target = f"{text('budget', 'reference')} × {text('budget', 'scale')}"
    else:
        target = text("budget", "target", fmt=lambda t: _count(t) if t is not None else "reference × scale")
    solved = sorted({_count(t) for t in runs.budget_target.dropna()}) if "budget_target" in runs else []
    if solved:
        target += f" = {' / '.join(solved)}"
    return (
        f"{text('budget', 'metric')} of {scope} matched to {target} by solving {text('budget', 'vary')}, "
        f"tolerance {text('budget', 'tolerance', fmt=_share)}"
    )


def _listed(v: Any) -> str:
    return ", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) and v else "none"


def _share(v: Any) -> str:
    """A tolerance (a fraction) as ±percent."""
    return f"±{100 * float(v):.3g}%" if isinstance(v, (int, float)) and not isinstance(v, bool) else _text(v)


def _hardware(envs: pd.Series) -> dict[str, int]:
    """The runs per kind of hardware (the GPU, else the CPU, of each record's env), most first; records that name
    neither (written before `env.cpu`) are left out."""
    kinds = pd.Series([e.get("gpu") or e.get("cpu") for e in map(json.loads, envs)]).dropna()
    return {str(kind): int(n) for kind, n in kinds.value_counts().items()}


def header(name: str, items: list[tuple[str, str]], notes: Sequence[str] = ()) -> str:
    """The README-style head of table.md from `about`'s items, below `head_notes`' warning if any."""
    lines = [f"# {name}: top-1 error by setting", ""]
    lines += [*(f"{n}\n" for n in notes)]
    lines += [f"- {k}: `{v}`" if k == "command" else f"- {k}: {v}" for k, v in items]
    return "\n".join(lines)


def head_notes(sweep, analysis: stats.Analysis) -> list[str]:
    """The report's first lines when no setting has repeats: no difference can be judged, and how to get one (or,
    where no member completed, that nothing can be compared)."""
    if analysis.repeats:
        return []
    if len(analysis.frame) and not analysis.frame.n.any():  # more seeds would only fail as often
        return ["**Nothing can be compared: no member completed**; the members that did not complete say why (below)."]
    if search.applies(sweep.directory):  # a search takes seed=0,1,2 as every trial's repeats, in a new folder
        command = repeats_command(sweep.command)
        how = f"`{command}`" if command else f"`{REPEATS}` on the search's command line"
        return [
            "**No difference can be judged: a search runs each design once**, so seed-to-seed noise is unknown; "
            f"`search_trials.md` ranks its trials. To judge differences, search with repeats: {how} trains every "
            "trial's design with each seed and tells the trial their mean (in a new sweep folder: a study keeps "
            "the repeats it started with)."
        ]
    command = repeats_command(sweep.command_into_folder)
    how = f"`{command}`" if command else f"`{REPEATS}` on the sweep's command line"
    return [
        f"**No difference can be judged: no setting has two completed runs**, so seed-to-seed noise is unknown. "
        f"Add repeats with {how} and report again."
    ]


def repeats_command(command: str | None) -> str | None:
    """The sweep's command with its seed overrides replaced by `seed=0,1,2`."""
    if not command:
        return None
    words = [w for w in shlex.split(command) if not (("=" in w) and override_key(w) == "seed")]
    at = len(words) - 1 if words and words[-1] in ("-m", "--multirun") else len(words)
    return shlex.join([*words[:at], REPEATS, *words[at:]])


def foot_notes(analysis: stats.Analysis, labels: dict) -> list[str]:
    """Under the table: the reference, how Δ, p and the verdicts were reached, the pooled seed-to-seed std."""
    delta = f"{analysis.resolution:g}"
    ref = analysis.reference
    if ref is None:
        if len(analysis.frame) and not analysis.frame.n.any():
            return ["No setting has a completed run: nothing is compared; the members that did not complete say why."]
        return []
    named = _reference_name(ref, labels)
    how = (
        (
            "the sweep's first setting with a completed run; choose another with `report.reference=…` "
            "(or `--reference …`)"
        )
        if analysis.reference_given is None
        else f"chosen by {analysis.reference_given}"
    )
    if analysis.plan is not None:
        return [*adaptive_notes(analysis, labels, named), *_pooled(analysis)]
    lines = [
        f"Reference: {named}, {how}.",
        "Δ: a setting's top-1 error minus the reference's, in points (negative: fewer errors); its 95% CI "
        "from a paired t test over the seeds both settings ran where they share two or more, Welch's t "
        f"otherwise (column test); {_holm_over(analysis.comparisons)}.",
        f"Verdict: better or worse where the Holm-corrected p < {stats.ALPHA:.2f}; equivalent within ±{delta} "
        f"where the 95% CI of Δ lies inside ±{delta} points (`report.resolution={delta}`); otherwise undecided.",
    ]
    return [*lines, *_pooled(analysis), *best_notes(analysis, labels)]


def best_summary(analysis: stats.Analysis) -> str | None:
    """How many settings (a search's designs) got each MCB verdict, in one clause for the search report; None
    where the best was not judged."""
    b = analysis.best
    if not isinstance(b, mcb.Best):
        return None
    said = [
        f"{len(group)} {'' if v.startswith('may') else 'is ' if len(group) == 1 else 'are '}{v}"
        for v, group in b.by_verdict().items()
    ]
    return (
        f"of the {len(b.settings)} designs compared on their {len(b.seeds)} seeds (Hsu's MCB, "
        f"{100 * b.confidence:.0f}% simultaneous; table.md, column `vs best (MCB)`, and best.png), "
        + (", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0])
    )


def best_notes(analysis: stats.Analysis, labels: dict) -> list[str]:
    """Under the table: which settings may be the best (MCB), how that was judged, and what was left out."""
    b = analysis.best
    if b is None:
        return []
    if isinstance(b, mcb.NotJudged):
        return [f"Which setting is the best is not judged: {b.reason}."]
    n, k, r = len(b.seeds), len(b.settings), analysis.resolution

    def named(group: list[str]) -> str:  # a long group by its count: the short ones are the finding
        return (
            ", ".join(str(labels.get(s, s)) for s in group) if len(group) <= 4 else f"{len(group)} of the {k} settings"
        )

    found = "; ".join(f"{v}: {named(group)}" for v, group in b.by_verdict().items())
    lines = [
        f"Best (column vs best): {found}. Hsu's multiple comparisons with the best, {100 * b.confidence:.0f}% "
        f"simultaneous, paired by the {n} seeds every compared setting ran: with D a setting's mean minus the "
        f"lowest other mean and h = d·s·√(2/{n}) = {b.half_width:.2f} points, a setting is not the best where "
        f"D > h (another is as good or better), the best where D < −h, within ±{r:g} of the best where "
        f"D < {r:g} − h (its gap to the best is below {r:g} points); d = {b.critical:.3f} (one-sided Dunnett, "
        f"{k - 1} comparisons, {b.df} degrees of freedom), s = {b.std:.2f} points (the residual std once each "
        "seed's effect is removed). table.csv's best_gap, best_gap_low and best_gap_high hold D and the interval "
        "of the gap."
    ]
    if "the best" not in b.verdict.values() and b.half_width > r:
        more = mcb.seeds_for(r, k, b.std, 1 - b.confidence)
        lines.append(
            f"More seeds: at this noise (s = {b.std:.2f}) h would fall to the resolution, {r:g} points, at about "
            f"{more if more < mcb.MAX_SEEDS else f'{mcb.MAX_SEEDS:,} or more'} seeds per setting (a planning figure: s "
            "is itself an estimate)."
        )
    if b.left_out or b.extra_runs:
        parts = []
        if b.left_out:
            parts.append(
                "left out, too few runs on those seeds: " + ", ".join(str(labels.get(s, s)) for s in b.left_out)
            )
        if b.extra_runs:
            parts.append(f"{b.extra_runs} run{'s' if b.extra_runs != 1 else ''} on other seeds not counted")
        lines.append(f"Best: {'; '.join(parts)}.")
    return lines


def _reference_name(ref, labels: dict) -> str:
    """`1×12d (`model.cardinality=1`)`: the reference's label and the override that tells it apart, or the label
    alone where the two are the same (a report of one run folder)."""
    label = str(labels.get(ref, ref))
    named = str(stats.distinguishing(list(labels), labels).get(ref, ref))
    return label if named == label else f"{label} (`{named}`)"


def _holm_over(comparisons: int) -> str:
    if comparisons == 0:
        return "no p-value here: a test needs two completed runs of both settings"
    return f"p-values Holm-corrected over the table's {comparisons} comparison{'s' if comparisons != 1 else ''}"


def adaptive_notes(analysis: stats.Analysis, labels: dict, named: str) -> list[str]:
    """How an adaptive sweep (hydra/sweeper=ablate_repeats) reached its verdicts."""
    from ablate.report.sequential import describe

    plan = analysis.plan
    return [
        f"Reference: {named}, as the adaptive sweep was planned.",
        describe(plan, analysis.comparisons),
        "Δ (a setting's top-1 error minus the reference's, in points; negative: fewer errors), its CI, test and "
        "p are those of the look where the setting stopped (column stopped).",
    ]


def _pooled(analysis: stats.Analysis) -> list[str]:
    if analysis.pooled_df:
        return [
            f"Seed-to-seed std, pooled over the {analysis.pooled_settings} setting"
            f"{'s' if analysis.pooled_settings != 1 else ''} with repeats: {analysis.pooled_std:.2f} points "
            f"({analysis.pooled_df} degree{'s' if analysis.pooled_df != 1 else ''} of freedom)."
        ]
    return ["Seed-to-seed std: unknown, no setting has two completed runs."]


def problems(runs: pd.DataFrame, logs: Mapping | None = None) -> str:
    """Markdown list of the members that did not complete, with their reason; `logs` maps a row to the link of
    its traceback (error.log, relative to the report)."""
    bad = runs[runs.status != "completed"]
    if not len(bad):
        return ""
    lines = ["## Members that did not complete", ""]
    for i, r in bad.iterrows():
        where = f"`{r.run}`" if isinstance(r.run, str) else "(no folder)"
        log = f" (traceback: [error.log]({logs[i]}))" if logs and i in logs else ""
        lines.append(f"- {where} [{r.overrides}]: **{r.status}** — {_text(r.reason) or 'no reason recorded'}{log}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def labels(table: pd.DataFrame) -> dict:
    """Setting → a short label for figures: C×d and every column that tells settings apart (the template's fields
    and any other override that differs between settings), so no two settings share a label."""
    shown = display(table)
    columns = list(shown.columns[: list(shown.columns).index("params")])
    out = {}
    for setting, row in zip(table.setting, shown[columns].itertuples(index=False), strict=True):
        parts = [row[0]] + [f"{h}={v}" for h, v in zip(columns[1:], row[1:], strict=True) if v]
        out[setting] = " · ".join(parts)
    twins = [s for s, label in out.items() if list(out.values()).count(label) > 1]
    if twins:  # settings the columns cannot tell apart (a key set in one and absent from another): their overrides
        own = stats.distinguishing(list(out), out)
        out.update({s: f"{out[s]} · {own[s]}" for s in twins})
    return out

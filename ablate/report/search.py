"""The report of an Optuna search: trials table, Pareto front (error against FLOPs), best model.

The sweeper writes `<sweep_dir>/study.json` (every trial of the study, with its parameters,
values, state and job folder); each trial's `result.json` adds the solved template, its
complexity, the budget's deviation and the run's wall time. `write_search_report` writes
into `out_dir`:
- `search_trials.csv` and `search_trials.md`: one row per trial, its status (completed, pruned,
  failed) and the epoch it reached, the budget deviation of each and whether it is within
  tolerance; the summary above the table counts the trials by status (the pruned ones with the
  epochs they stopped at), the training epochs they took, and the search's wall time against the
  sum of its trials' times (how well the launcher kept the cores busy);
- `search_pareto.png` / `.svg`: val error against FLOPs, the non-dominated trials joined;
- `model/<study>_best.yaml`: the best trial (lowest val error among the feasible completed
  trials; never a pruned one, whose error is from the epoch its pruner stopped it at) as a
  model config, in a `model/` folder so that the report folder is a config search path as it
  is: `python -m ablate 'hydra.searchpath=[file://<report>]' model=<study>_best`
  (`best_model_command`) trains it, with no copying into ablate's own `conf/`.
"""

from __future__ import annotations

import json
import math
import numbers
import shlex
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ablate.errors import AblateError, DataError, override_value
from ablate.report.collect import nested
from ablate.report.output import markdown as markdown_table
from ablate.report.output import write_figure, write_text, yaml
from ablate.run.record import RunRecord

STUDY_RECORD = "study.json"
STATUS = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
"""Each Optuna trial state as the report names it (the run record's words)."""


def applies(sweep_dir) -> bool:
    """Whether `sweep_dir` is a search by the Optuna sweeper: it holds the study record the sweeper writes."""
    return (Path(sweep_dir) / STUDY_RECORD).is_file()


def write_search_report(
    sweep_dir, out_dir, notes: Sequence[str] = (), study: dict | None = None, trials: pd.DataFrame | None = None
) -> list[Path]:
    """Write the search report of `sweep_dir` into `out_dir`; returns the files written. `notes` are said under
    the best trial (where the report judged which designs may be the best: how many, and the finalists); `study`
    and `trials`, where the caller has read them already (`read_study`, `trials_frame`), are not read again.

    Raises DataError when the folder holds no `study.json` (not a search by the Optuna sweeper).
    """
    sweep_dir, out_dir = Path(sweep_dir), Path(out_dir)
    study = read_study(sweep_dir) if study is None else study
    trials = trials_frame(study, sweep_dir) if trials is None else trials
    written = [
        write_text(out_dir / "search_trials.csv", trials.to_csv(index=False)),
        write_text(out_dir / "search_trials.md", markdown(study, trials, sweep_dir, out_dir, notes)),
    ]
    written += write_figure(pareto_figure(study, trials), out_dir / "search_pareto")
    best = best_row(trials)
    if best is not None:
        yaml_text = best_model_yaml(study, best, sweep_dir, out_dir)
        if yaml_text:
            written.append(write_text(out_dir / "model" / f"{best_model_name(study)}.yaml", yaml_text))
    return written


def best_model_name(study: dict) -> str:
    """The best trial's model config name: `<study name>_best`."""
    return f"{study.get('study_name') or 'search'}_best"


def best_model_command(study: dict, out_dir: Path, params: dict | None = None) -> str:
    """The command that trains the best trial's model from the report folder, which is a config search path, with
    the values the trial searched outside the model (`params`: its parameters, e.g. `optim.lr`); `model.*` is in the
    written model, and `budget.*` too, solved already."""
    recipe = [
        shlex.quote(f"{key}={override_value(value)}")
        for key, value in (params or {}).items()
        if not key.startswith(("model.", "budget.")) and key not in ("model", "budget")
    ]
    return " ".join([f"python -m ablate '{searchpath_override(out_dir)}' model={best_model_name(study)}"] + recipe)


def searchpath_override(folder: Path) -> str:
    """`hydra.searchpath=[file://…]` naming `folder` relative to the working folder when it lies under it (where a
    report is written from and its commands are typed; Hydra reads a relative `file://` from there), so that a
    committed report's commands hold in any clone; an absolute path otherwise."""
    path = Path(folder).resolve()
    try:
        path = path.relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return f"hydra.searchpath=[file://{path.as_posix()}]"


def _searched_recipe(study: dict, number) -> str:
    """What to add to the best model's command to train it as the search did: the data and optim fields the
    search's sweep config set (`finalists.recipe_overrides`), less those the command gives already."""
    from ablate.report.finalists import recipe_overrides

    trial: dict = next((t for t in study.get("trials", []) if t.get("number") == number), {})
    config = (record_of(trial.get("user_attrs", {}).get("job_dir")) or {}).get("config") or {}
    try:
        extra = [o for o in recipe_overrides(config) if o.split("=", 1)[0] not in _trial_params(study, number)]
    except AblateError:  # a data config of the user's own: not on ablate's path
        data = (config.get("data") or {}).get("name")
        return (
            f" (the search's data set {data} is not one of ablate's configs: give its folder with --config-dir and "
            "the search's data and optim settings)"
        )
    return f" (add `{' '.join(shlex.quote(o) for o in extra)}` for the search's)" if extra else ""


def _trial_params(study: dict, number) -> dict:
    return next((t.get("params") or {} for t in study.get("trials", []) if t.get("number") == number), {})


def read_study(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / STUDY_RECORD
    try:
        return json.loads(path.read_text())
    except OSError:
        raise DataError(
            f"{path} does not exist: the search report needs a sweep run by hydra/sweeper=ablate_optuna."
        ) from None
    except ValueError:
        raise DataError(f"{path} is not valid JSON: re-run the sweep to rewrite it.") from None


def record_of(job_dir) -> dict | None:
    """The trial's run record as its JSON object (the dotted names the sweeper's objectives use), or None."""
    record = RunRecord.load(job_dir) if job_dir else None
    return record.to_dict() if record else None


def trials_frame(study: dict, sweep_dir: Path | None = None) -> pd.DataFrame:
    """One row per trial: parameters, val error, complexity, budget deviation, time, Pareto membership. A trial with
    repeats (`seed=0,1,2` in the search) has the mean val error and summed time of the repeats that ran (`runs`)."""
    rows = []
    returns_error = (study.get("objectives") or ["return"])[0] == "return"
    retried_as = {t["retry_of"]: t["number"] for t in study.get("trials", []) if t.get("retry_of") is not None}
    for t in study.get("trials", []):
        attrs = t.get("user_attrs", {})
        copy_of = attrs.get("copy_of")  # told the values of an earlier trial of the same design
        records = [record_of(d) for d in attrs.get("job_dirs") or [attrs.get("job_dir")]]  # one per repeat that ran
        record = records[0]  # the design's template, complexity and budget are every repeat's
        values = t.get("values") or []
        errs = [nested(r, "final", "val_err") for r in records]
        err = sum(errs) / len(errs) if None not in errs else None  # with repeats, their mean: the trial's value
        if err is None and values and returns_error:
            err = values[0]
        walls = [nested(r, "wall_seconds") for r in records]
        deviation = nested(record, "budget", "deviation")
        tolerance = nested(record, "budget", "tolerance")
        reached = _last_epoch(record)
        row = {"trial": t["number"], "state": t["state"], "copy_of": copy_of}
        row.update({f"param:{k}": v for k, v in (t.get("params") or {}).items()})
        row.update(
            {
                "val_err": err,
                "epoch": reached,  # the last epoch the run trained: where a pruned trial stopped
                "epochs": nested(record, "config", "optim", "epochs"),  # the epochs its recipe asks for
                "runs": len(records),  # its jobs that ran: one per repeat, fewer for a repeat pruned or failed
                "planned_runs": len(attrs.get("repeats") or [None]),
                "epochs_trained": sum(_last_epoch(r) or 0 for r in records),
                "flops": nested(record, "model", "complexity", "flops"),
                "params": nested(record, "model", "complexity", "params"),
                "cardinality": nested(record, "model", "template", "cardinality"),
                "bottleneck_width": nested(record, "model", "template", "bottleneck_width"),
                "depths": "-".join(map(str, nested(record, "model", "template", "depths") or [])) or None,
                "budget_metric": nested(record, "budget", "metric"),
                "budget_deviation": deviation,
                "budget_tolerance": tolerance,
                "within_tolerance": None if deviation is None or tolerance is None else abs(deviation) <= tolerance,
                "feasible": all(v <= 0 for v in (t.get("constraints") or {}).values())
                if t["state"] == "COMPLETE"
                else None,
                "seconds": None if copy_of is not None or None in walls else sum(walls),
                "status": nested(record, "status"),
                "reason": _retried(attrs.get("fail_reason"), retried_as.get(t["number"]))
                or (None if copy_of is not None else nested(record, "reason")),
                "job_dir": _relative(attrs.get("job_dir"), sweep_dir),
            }
        )
        for i, value in enumerate(values):
            row[f"value_{i}"] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["copy_of"] = _originals(frame)
    run = frame["copy_of"].isna()
    frame["copies"] = frame["trial"].map(frame.loc[~run, "copy_of"].value_counts()).fillna(0).astype(int)
    frame["pareto"] = pareto_mask(frame) & run
    return frame.sort_values("trial").reset_index(drop=True)


def _last_epoch(record: dict | None) -> int | None:
    """The number of the last epoch in the record (1-based), or None when it holds none."""
    found = [e.get("epoch") for e in (nested(record, "epochs") or []) if isinstance(e, dict)]
    epochs: list[int] = [n for n in found if isinstance(n, int) and not isinstance(n, bool)]
    return max(epochs) if epochs else None


def _originals(frame: pd.DataFrame) -> pd.Series:
    """`copy_of` followed back to the trial that ran (a copy may name another copy)."""
    source = dict(zip(frame["trial"], frame["copy_of"], strict=True))

    def root(n):
        seen = set()
        while (
            n is not None
            and not (isinstance(n, float) and math.isnan(n))
            and source.get(n) is not None
            and not (isinstance(source[n], float) and math.isnan(source[n]))
            and n not in seen
        ):
            seen.add(n)
            n = source[n]
        return n

    return (
        frame["copy_of"]
        .map(lambda n: None if n is None or (isinstance(n, float) and math.isnan(n)) else int(root(int(n))))
        .astype("object")
    )


def _relative(path, base) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path(base).resolve())) if base else str(path)
    except ValueError:
        return str(path)


def pareto_mask(frame: pd.DataFrame) -> pd.Series:
    """True for the completed, feasible trials that no other such trial beats on both error and FLOPs."""
    ok = _usable(frame) & frame["flops"].notna()
    points = frame.loc[ok, ["val_err", "flops"]].astype(float)
    mask = pd.Series(False, index=frame.index)
    for i, (err, flops) in points.iterrows():
        dominated = (
            (points["val_err"] <= err)
            & (points["flops"] <= flops)
            & ((points["val_err"] < err) | (points["flops"] < flops))
        ).any()
        mask[i] = not dominated
    return mask


def _usable(frame: pd.DataFrame) -> pd.Series:
    """Completed, feasible trials with a val error that ran (not copies of a design already run). Never a pruned
    run, even where the study says COMPLETE: its error is from the epoch where it stopped, not the recipe's last."""
    feasible = frame["feasible"].map(lambda v: v is True or v == 1.0)
    ran = frame["copy_of"].isna() if "copy_of" in frame else True
    pruned = frame["status"] == "pruned" if "status" in frame else False
    return (frame["state"] == "COMPLETE") & ~pruned & feasible & frame["val_err"].notna() & ran


def best_row(trials: pd.DataFrame):
    """The feasible completed trial with the lowest val error (ties: fewer FLOPs), or None."""
    if trials.empty:
        return None
    ok = trials[_usable(trials)]
    if ok.empty:
        return None
    return ok.sort_values(["val_err", "flops", "trial"]).iloc[0]


def _lowest_of(trials: pd.DataFrame) -> str:
    """Where the best is the lowest of several noisy errors, that it is biased low: the design's error on seeds
    that did not pick it is likely higher (the finalists' fresh seeds measure it)."""
    n = int(_usable(trials).sum())
    return f" (the lowest of {n} completed designs, so likely below what it scores on fresh seeds)" if n > 1 else ""


def _ran(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that ran a job (not copies told an earlier trial's values)."""
    return trials[trials["copy_of"].isna()] if not trials.empty else trials


def status_counts(trials: pd.DataFrame) -> dict[str, int]:
    """Trials that ran, by status (`STATUS`'s words), in the order completed, pruned, failed, running, waiting."""
    counts = Counter(_ran(trials)["state"].map(lambda s: STATUS.get(s, str(s).lower()))) if not trials.empty else {}
    order = list(STATUS.values())
    return {k: counts[k] for k in sorted(counts, key=lambda k: order.index(k) if k in order else len(order))}


def pruned_at(trials: pd.DataFrame) -> dict[int | None, int]:
    """How many trials that ran were pruned at each epoch (None: a pruned trial whose record has no epochs)."""
    runs = _ran(trials)
    if runs.empty:
        return {}
    epochs = runs.loc[runs["state"] == "PRUNED", "epoch"]
    counts = Counter(None if _missing(e) else int(e) for e in epochs)
    return dict(sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))


def epochs_trained(trials: pd.DataFrame) -> dict:
    """The epochs the trials that ran trained (each up to the epoch it reached, a pruned one where it stopped),
    against the epochs their recipes ask for: the compute a pruner saved. `planned` is None when a record lacks
    its recipe's epochs."""
    runs = _ran(trials)
    if runs.empty:
        return {"trials": 0, "trained": 0, "planned": 0, "share": None}
    trained = int(runs["epochs_trained"].sum())
    planned = None if runs["epochs"].isna().any() else int((runs["epochs"] * runs["planned_runs"]).sum())
    return {
        "trials": len(runs),
        "trained": trained,
        "planned": planned,
        "share": trained / planned if planned else None,
    }


def _status_line(study: dict, trials: pd.DataFrame) -> str:
    """`24 for n_trials=24: 15 completed, 8 pruned (5 at epoch 1, 3 at epoch 3 of 8), 1 failed`."""
    parts = []
    for status, n in status_counts(trials).items():
        text = f"{n} {status}"
        if status == "pruned":
            at = [
                f"{k} at epoch {e}" if e is not None else f"{k} at an unknown epoch"
                for e, k in pruned_at(trials).items()
            ]
            planned = _ran(trials).loc[lambda f: f["state"] == "PRUNED", "epochs"].dropna().unique()
            text += f" ({', '.join(at)}{f' of {int(planned[0])}' if len(planned) == 1 else ''})"
        parts.append(text)
    return f"{len(_ran(trials))} for n_trials={study.get('n_trials')}" + (f": {', '.join(parts)}" if parts else "")


def wall_time(study: dict, trials: pd.DataFrame) -> dict:
    """This sweep folder's wall time (its sweeper runs) against the sum of its trials' run times."""
    wall = sum(r.get("wall_seconds") or 0.0 for r in study.get("runs", []))
    launched = {n for r in study.get("runs", []) for n in r.get("trials", [])}
    mine = trials[trials["trial"].isin(launched)] if not trials.empty else trials
    total = float(mine["seconds"].fillna(0).sum()) if not mine.empty else 0.0
    return {"wall_seconds": wall, "trial_seconds": total, "ratio": wall / total if total else None}


def markdown(
    study: dict, trials: pd.DataFrame, sweep_dir: Path, out_dir: Path | None = None, notes: Sequence[str] = ()
) -> str:
    """The summary and the trials table as Markdown; with `out_dir` (the report folder), how to train the best."""
    runs = _ran(trials)
    time = wall_time(study, trials)
    lines = [f"# Search {study.get('study_name')} ({sweep_dir})", ""]
    lines.append(
        f"- storage: {study.get('storage')}; sampler: {study.get('sampler')}"
        + (f"; pruner: {study['pruner']}" if study.get("pruner") else "")
    )
    objectives = ", ".join(
        f"{d} {o}" for d, o in zip(study.get("directions", []), study.get("objectives", []), strict=False)
    )
    lines.append(f"- objectives: {objectives}; constraints: {', '.join(study.get('constraints') or []) or 'none'}")
    lines.append(
        f"- trials run: {_status_line(study, trials)}; {study.get('n_jobs')} at once; "
        f"{len(trials) - len(runs)} more sampled a design already run and took its values (column `copies`)"
    )
    repeats = study.get("repeats")
    if repeats:
        lines.append(
            f"- repeats: each trial trained its design with {repeats['key']}={','.join(map(str, repeats['values']))}"
            " (column `runs`) and was told the mean; `val err %` is that mean, and the report's table by setting "
            "gives each design's 95% CI, verdict and whether it may be the best (column `vs best (MCB)`)"
        )
    pruned = bool(status_counts(trials).get("pruned"))
    epochs = epochs_trained(trials)
    if (pruned or study.get("pruner")) and epochs["share"] is not None:
        lines.append(
            f"- epochs trained: {epochs['trained']} of the {epochs['planned']} these trials would train unpruned "
            f"({epochs['share']:.0%}); a pruned trial's error is from the epoch it reached, so none is the best"
        )
    if time["ratio"] is not None:
        lines.append(
            f"- wall time {time['wall_seconds']:.0f} s against {time['trial_seconds']:.0f} s "
            "of trial run time: "
            f"{time['ratio']:.2f}× (1.0: one trial at a time; 1/n_jobs: perfect overlap)"
        )
    if not runs.empty and runs["budget_deviation"].notna().any():
        within = runs["within_tolerance"].dropna()
        worst = runs["budget_deviation"].abs().max()
        lines.append(
            f"- budget: {int(within.sum())} of {len(within)} trials within tolerance (largest |deviation| {worst:.2%})"
        )
    best = best_row(trials)
    if best is not None:
        lines.append(
            f"- best: trial {best['trial']}, val error {best['val_err']:.2f}%"
            + _lowest_of(trials)
            + (f", {best['flops'] / 1e6:.1f} MFLOPs" if _number(best.get("flops")) else "")
            + (
                f"; train it with ablate's default recipe: "
                f"`{best_model_command(study, out_dir, _trial_params(study, best['trial']))}`"
                + _searched_recipe(study, best["trial"])
                if out_dir is not None
                else ""
            )
        )
        lines += [f"- {n}" for n in notes]  # the best trial has the lowest mean: whether it is the best, MCB says
    lines += ["", _table(runs), ""]
    return "\n".join(lines)


def _number(x) -> bool:
    """A finite real number (numpy scalars included), not a boolean."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) and math.isfinite(x)


def _table(trials: pd.DataFrame) -> str:
    if trials.empty:
        return "(no trials)"
    shown = pd.DataFrame(
        {
            "trial": trials["trial"],
            "status": trials["state"].map(lambda s: STATUS.get(s, str(s).lower())),
            **{c.split(":", 1)[1]: trials[c] for c in trials.columns if c.startswith("param:")},
            "d": trials["bottleneck_width"].map(_fmt(".0f")),
            "val err %": trials["val_err"].map(_fmt(".2f")),
            "epochs": [_reached(e, n) for e, n in zip(trials["epoch"], trials["epochs"], strict=True)],
            "MFLOPs": (trials["flops"] / 1e6).map(_fmt(".1f")),
            "params": trials["params"].map(_fmt(",.0f")),
            "budget dev.": trials["budget_deviation"].map(_fmt("+.2%")),
            "in tol.": trials["within_tolerance"].map({True: "yes", False: "NO"}).fillna(""),
            "feasible": trials["feasible"].map({True: "yes", False: "no"}).fillna(""),
            "Pareto": trials["pareto"].map({True: "*", False: ""}),
            "copies": trials["copies"],
            **({"runs": trials["runs"]} if (trials["planned_runs"] > 1).any() else {}),
            "s": trials["seconds"].map(_fmt(".0f")),
            "note": trials["reason"].fillna(""),
        }
    )
    return markdown_table(shown.astype(object).map(lambda v: "" if _missing(v) else str(v)))


def _reached(epoch, planned) -> str:
    """`3/8`: the epoch a trial reached of its recipe's; `3` without the recipe's; empty without epochs."""
    if _missing(epoch):
        return ""
    return f"{int(epoch)}/{int(planned)}" if not _missing(planned) else str(int(epoch))


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _fmt(spec: str):
    return lambda x: "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def pareto_figure(study: dict, trials: pd.DataFrame):
    """Val error against FLOPs: every completed trial, the Pareto front joined, the best marked; pruned trials
    faint, at the error of the epoch where they stopped."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    ax.set(
        xlabel="FLOPs (M multiply-adds)",
        ylabel="val top-1 error (%)",
        title=f"search {study.get('study_name')}: error against FLOPs",
    )
    done = (
        trials[
            (trials["state"] == "COMPLETE")
            & trials["val_err"].notna()
            & trials["flops"].notna()
            & trials["copy_of"].isna()
        ]
        if not trials.empty
        else trials
    )
    if done.empty:
        ax.text(0.5, 0.5, "no completed trial", ha="center", va="center", transform=ax.transAxes)
        return fig
    pruned = trials[
        (trials["state"] == "PRUNED") & trials["copy_of"].isna() & trials["val_err"].notna() & trials["flops"].notna()
    ]
    if not pruned.empty:
        ax.scatter(
            pruned["flops"] / 1e6,
            pruned["val_err"],
            marker=".",
            color="0.75",
            zorder=1,
            label="pruned (error when stopped)",
        )
    x, y = done["flops"] / 1e6, done["val_err"]
    feasible = _usable(done)
    ax.scatter(x[feasible], y[feasible], color="0.6", label="trial", zorder=2)
    if (~feasible).any():
        ax.scatter(x[~feasible], y[~feasible], marker="x", color="tab:red", label="infeasible", zorder=2)
    front = done[done["pareto"]].sort_values("flops")
    ax.step(front["flops"] / 1e6, front["val_err"], where="post", color="tab:blue", zorder=3)
    ax.scatter(front["flops"] / 1e6, front["val_err"], color="tab:blue", label="Pareto front", zorder=4)
    for _, row in front.drop_duplicates(["flops", "val_err"]).iterrows():  # a design sampled twice: one label
        ax.annotate(
            _label(row), (row["flops"] / 1e6, row["val_err"]), textcoords="offset points", xytext=(4, 4), fontsize=8
        )
    best = best_row(trials)
    if best is not None and _number(best.get("flops")):
        ax.scatter(
            [best["flops"] / 1e6],
            [best["val_err"]],
            s=160,
            facecolors="none",
            edgecolors="black",
            label=f"best (trial {best['trial']})",
            zorder=5,
        )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: no point hidden
    return fig


def _label(row) -> str:
    if _number(row.get("cardinality")) and _number(row.get("bottleneck_width")):
        return f"{int(row['cardinality'])}×{int(row['bottleneck_width'])}d {row.get('depths') or ''}".strip()
    return f"trial {row['trial']}"


def best_model_yaml(study: dict, best, sweep_dir: Path, out_dir: Path) -> str | None:
    """The best trial's solved template as a model config for `out_dir/model/`, or None when its record is
    missing."""
    trial = next(t for t in study["trials"] if t["number"] == best["trial"])
    head = (
        f"The best trial ({best['trial']}) of search {study.get('study_name')} in {sweep_dir}: "
        f"val error {best['val_err']:.2f}%"
        + (f", {best['flops'] / 1e6:.1f} MFLOPs, {best['params']:,.0f} params" if _number(best.get("flops")) else "")
        + "."
    )
    how = (
        "The budget solver's d is written out. The report folder is a config search path as it is; train this "
        f"model with `{best_model_command(study, out_dir, trial.get('params'))}`."
    )
    return trial_model_yaml(trial, best_model_name(study), [head, how])


def trial_model_yaml(trial: dict, name: str, comments: list[str]) -> str | None:
    """A trial's solved template (from its first run's record) as the model config `name`, or None when the record
    is missing."""
    record = record_of(trial.get("user_attrs", {}).get("job_dir"))
    template = nested(record, "model", "template")
    if not template:
        return None
    model_cfg = nested(record, "config", "model") or {}
    model = {
        "name": name,
        **template,
        "form": nested(record, "model", "form") or model_cfg.get("form", "c"),
        "zero_init_last_bn": bool(model_cfg.get("zero_init_last_bn", False)),
    }
    return yaml(model, comments)


def _retried(reason: str | None, retried_as: int | None) -> str | None:
    """A failed trial's note, with the trial that ran its design again when the sweeper retried it."""
    if reason is None or retried_as is None:
        return reason
    return f"{reason}; retried as trial {retried_as}"

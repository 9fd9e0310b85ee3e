"""A search's finalists: the designs that may be the best, as model configs, and the grid that decides between them.

A search with repeats (`seed=0,1,2`) ranks its designs by their mean error, and the report's multiple comparisons
with the best (`ablate.report.best`) say which of them may still be the best. Where that is more than one, the way
to decide is more seeds for those designs alone: `write` puts each finalist's solved template into
`<report>/model/<study>_finalist_<k>.yaml` (k = 1 for the lowest mean; the report folder is a config search path,
as for `<study>_best`) and gives the one grid command that trains every finalist on fresh seeds (seeds the search
did not use, so that the new comparison is not the one that picked them), with the report callback. The grid is
`model=<finalists> × seed=…`, so it is offered only where the finalists differ in their model alone; a search that
also varied, say, `optim.lr` among them gets a sentence instead.
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ablate.errors import AblateError, override_value
from ablate.report import search
from ablate.report.best import Best, planned_half_width
from ablate.report.collect import setting_of
from ablate.report.output import write_text

FRESH_SEEDS = 5  # seeds each finalist trains on in the deciding grid
MODEL_KEYS = ("model", "budget")  # searched keys that the written model config holds (budget: solved already)


@dataclass(frozen=True)
class Finalists:
    """What `write` wrote and the line the search report says of it (None: no finalists to name)."""

    paths: list[Path] = field(default_factory=list)
    line: str | None = None


def write(study: dict, trials: pd.DataFrame, sweep_dir, out_dir, contest) -> Finalists:
    """Write the finalists of the search in `sweep_dir` (its `study.json` as `search.read_study` reads it, its
    `search.trials_frame`) into `out_dir/model/`, given the report's MCB (`contest`, an `ablate.report.best.Best`;
    anything else: no finalists). Finalist configs of an earlier report in the same folder are removed first, so
    the folder holds this report's alone."""
    sweep_dir, out_dir = Path(sweep_dir), Path(out_dir)
    name = study.get("study_name") or "search"
    for old in (out_dir / "model").glob(f"{name}_finalist_*.yaml"):
        old.unlink()
    if not isinstance(contest, Best):
        return Finalists()
    picked = _finalist_trials(study, trials, contest)
    if len(picked) < 2:
        return Finalists()
    keys = {k for t in picked for k in t.get("params", {})}
    recipe = sorted(k for k in keys if k not in MODEL_KEYS and not k.startswith(tuple(f"{m}." for m in MODEL_KEYS)))
    differ = [k for k in recipe if len({repr(t.get("params", {}).get(k)) for t in picked}) > 1]
    n = len(picked)
    if differ:
        return Finalists(
            line=f"finalists: the {n} designs that may be the best differ in {', '.join(differ)} too, so no one grid "
            "trains them: train each with its own command"
        )
    names = [f"{name}_finalist_{k}" for k in range(1, n + 1)]
    paths: list[Path] = []
    for k, (trial, model_name) in enumerate(zip(picked, names, strict=True), start=1):
        text = search.trial_model_yaml(
            trial,
            model_name,
            [
                f"Finalist {k} of {n} (lowest mean first) of search {name} in {sweep_dir}: trial {trial['number']}, "
                "a design that may be the best (Hsu's multiple comparisons with the best over the search's seeds).",
                "The budget solver's d is written out.",
            ],
        )
        if text is None:  # a finalist whose record is gone: no grid of them all
            return Finalists(paths)
        paths.append(write_text(out_dir / "model" / f"{model_name}.yaml", text))
    shared = picked[0].get("params", {})  # the recipe keys the search varied, which every finalist has alike
    constant = [shlex.quote(f"{k}={override_value(shared.get(k))}") for k in recipe]
    span = f"`model/{names[0]}.yaml` {'and' if n == 2 else 'to'} `model/{names[-1]}.yaml`"
    # MCB's h for the finalists' grid at the search's noise: what the fresh seeds buy, said before they are spent
    resolved = planned_half_width(n, FRESH_SEEDS, contest.std, 1 - contest.confidence)
    said = (
        f"finalists: the {n} designs that may be the best are {span}, best mean first; to decide between them, train "
        f"them with the search's recipe on {_count(FRESH_SEEDS)} fresh seeds (at the search's noise, s = "
        f"{contest.std:.2f}, {_count(FRESH_SEEDS)} seeds tell apart designs about {resolved:.2f} points "
        "apart)"
    )
    config = (search.record_of(picked[0].get("user_attrs", {}).get("job_dir")) or {}).get("config") or {}
    try:
        same = [shlex.quote(o) for o in recipe_overrides(config) if o.split("=", 1)[0] not in recipe]
    except AblateError:  # a data config of the user's own: not on ablate's path, so no default to compare with
        data = (config.get("data") or {}).get("name")
        return Finalists(
            paths,
            f"{said} (its data set {data} is not one of ablate's configs: give its folder with --config-dir and the "
            "search's data and optim settings)",
        )
    seeds = ",".join(str(s) for s in _fresh_seeds(study))
    command = " ".join(
        [
            f"python -m ablate -m '{search.searchpath_override(out_dir)}' model={','.join(names)}",
            *same,
            *constant,
            f"seed={seeds} hydra/callbacks=report hydra.sweep.dir=sweeps/{name}_finalists",
        ]
    )
    return Finalists(paths, f"{said}: `{command}`")


def _finalist_trials(study: dict, trials: pd.DataFrame, contest: Best) -> list[dict]:
    """One completed trial per design that may be the best (not told another trial's values), lowest mean first."""
    mean = trials.set_index("trial")["val_err"]
    by_setting: dict[str, tuple[float, dict]] = {}
    for t in study.get("trials", []):
        attrs = t.get("user_attrs", {})
        if t.get("state") != "COMPLETE" or attrs.get("copy_of") is not None:
            continue
        record = search.record_of(attrs.get("job_dir"))
        if not record or not record.get("overrides"):
            continue
        setting = setting_of([str(o) for o in record["overrides"]])
        verdict = contest.verdict.get(setting)
        if verdict is None or verdict.startswith("not") or setting in by_setting:
            continue
        by_setting[setting] = (float(mean[t["number"]]), t)
    return [t for _, t in sorted(by_setting.values(), key=lambda pair: pair[0])]


RECIPE_GROUPS = ("data", "optim")  # what a run's numbers depend on besides its model and seed (trainer: run-time)


def recipe_overrides(config: dict) -> list[str]:
    """The overrides that give a run of the default config the recipe of a run whose resolved config is `config`
    (its `data` and `optim` fields that differ from the default's, `data=NAME` first where the data set differs):
    the search's sweep config set them (`optim.epochs=2`, `data.train_subset=10000`), and a grid without that sweep
    config must say them."""
    chosen, base = _default_recipe((config.get("data") or {}).get("name"))
    out = list(chosen)
    for group in RECIPE_GROUPS:
        mine, theirs = config.get(group) or {}, base.get(group) or {}
        out += [f"{group}.{k}={override_value(v)}" for k, v in mine.items() if k != "name" and theirs.get(k) != v]
    return out


@functools.lru_cache(maxsize=8)
def _default_recipe(data: str | None) -> tuple[tuple[str, ...], dict]:
    """`data=NAME` where the data set is not the default's, and the default config's recipe groups with it
    (read-only): composed once per data set, as the best model's line and the finalists' both ask for it."""
    from omegaconf import OmegaConf

    from ablate.config.loading import compose

    default = compose([])
    chosen = (f"data={data}",) if data and data != default.data.name else ()
    composed = OmegaConf.to_container(compose(list(chosen)) if chosen else default, resolve=True)
    assert isinstance(composed, dict)
    return chosen, {group: composed.get(group) or {} for group in RECIPE_GROUPS}


def _fresh_seeds(study: dict) -> list[int]:
    """`FRESH_SEEDS` seeds after the largest the search used."""
    used = [int(v) for v in (study.get("repeats") or {}).get("values", []) if str(v).lstrip("-").isdigit()]
    start = max(used) + 1 if used else 0
    return list(range(start, start + FRESH_SEEDS))


def _count(n: int) -> str:
    return {2: "two", 3: "three", 4: "four", 5: "five"}.get(n, str(n))

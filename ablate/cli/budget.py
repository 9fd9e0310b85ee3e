"""`python -m ablate.budget [--config-dir DIR] [overrides] --cardinality 1,2,4,8,32 ...`: Table 2 for any template.

For each cardinality the solver picks the free dimension (`--vary`, d by default) so the
metric matches the composed model's own complexity times `--scale`, at the whole network or
the equation-4 block; with `--vary cardinality` the table has one row, the C that meets the budget at the
model's d. A budget given as config (`budget=flops budget.vary=width`, or a sweep's
`+sweep=...`) is the table's budget instead, as a training run with the same overrides solves it (its
reference is the model config as written); each flag given then sets that field of it.
`--write DIR` writes one model config per row into `DIR/model/`, which the
training app accepts: `python -m ablate 'hydra.searchpath=[file://DIR]' model=NAME`.

A cardinality whose budget cannot be met (outside `--tolerance`) does not cost the table: its row
says why, the other rows are shown (and written), and the exit status is 2, with one line naming the
cardinalities that failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ablate.cli.common import (
    EXIT_USAGE,
    add_config_dir,
    app_overrides,
    check_model,
    human,
    print_json,
    split_sweeps,
    user_errors,
)
from ablate.config import budget_from_cfg, compose, searchpath_of, template_from_cfg
from ablate.config.loading import sweep_params
from ablate.config.schema import TOLERANCE, plain
from ablate.engine.budget import (
    COARSE_ADVICE,
    METRICS,
    SCOPES,
    VARY,
    Budget,
    Row,
    Solution,
    amount,
    check_vary,
    solve_row,
    table2,
)
from ablate.engine.complexity import complexity
from ablate.engine.template import Template
from ablate.errors import BudgetError, ConfigError


def _cardinalities(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]  # an empty entry is a number left out: refused
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"--cardinality={text!r} is invalid: give whole numbers of at least 1, e.g. 1,2,4,8,32.")
    twice = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if twice is not None:  # a second, identical row of Table 2
        raise ConfigError(f"--cardinality={text!r} gives C={twice} twice: give each cardinality once, e.g. 1,2.")
    return values


def _row_name(base: str, template) -> str:
    return f"{base}_{template.cardinality}x{template.bottleneck_width}d_w{template.width}_" + "-".join(
        str(d) for d in template.depths
    )


def write_config(directory: Path, name: str, model_cfg: dict, template) -> Path:
    """One model config (`DIR/model/NAME.yaml`) for a solved template; written atomically."""
    from omegaconf import OmegaConf

    node = {**model_cfg, **template.to_dict(), "name": name}
    folder = directory / "model"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.yaml"
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(node)))
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(
            f"--write={str(directory)!r} cannot be written ({e.strerror}): give a writable directory."
        ) from None
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ablate.budget", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=resnet50")
    parser.add_argument(
        "--cardinality",
        help=f"comma-separated C values (default {DEFAULT_CARDINALITIES}; with --vary cardinality: the one C solved)",
    )
    given = "default: the config's budget, else"
    parser.add_argument("--vary", choices=VARY, help=f"({given} bottleneck_width)")
    parser.add_argument("--metric", choices=METRICS, help=f"({given} params)")
    parser.add_argument("--scope", choices=SCOPES, help=f"({given} network)")
    parser.add_argument("--scale", type=float, help=f"target = scale × the model's own complexity ({given} 1)")
    parser.add_argument("--tolerance", type=float, help=f"({given} 0.05)")
    parser.add_argument("--stage", type=int, default=None, help="with --vary depth: the stage whose depth moves")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write", type=Path, metavar="DIR", help="write one model config per row into DIR/model/")
    add_config_dir(parser)
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides, typed_sweeps = split_sweeps(app_overrides(args.config_dir, args.overrides))
    if args.scale is not None and not args.scale > 0:
        raise ConfigError(f"--scale={args.scale!r} is invalid: it must be a positive number, e.g. 2.")
    if args.tolerance is not None:
        TOLERANCE("--tolerance", args.tolerance)
    searchpath = searchpath_of(overrides)
    cfg = compose(overrides)
    flags = {field: getattr(args, field) for field in FLAG_FIELDS if getattr(args, field) is not None}
    configured = cfg.budget.metric is not None
    if configured and flags:  # each flag sets its field of the configured budget
        cfg = compose([*overrides, *(f"budget.{field}={value}" for field, value in flags.items())])
    try:  # a scale too large for its reference is known only once the budget is built
        check_model(cfg, searchpath, overrides)  # the table reads the model
        reference = template_from_cfg(cfg.model)
        if configured:
            budget = budget_from_cfg(cfg.budget, searchpath)
            assert budget is not None  # a metric is set
            vary, stage = str(cfg.budget.vary), cfg.budget.stage
        else:
            flags = {**FLAG_DEFAULTS, **flags}
            budget = Budget.relative(
                reference,
                flags["scale"],
                metric=flags["metric"],
                scope=flags["scope"],
                tolerance=flags["tolerance"],
                name=cfg.model.name,
            )
            vary, stage = flags["vary"], flags.get("stage")
    except BudgetError as e:
        if args.scale is None or not str(e).startswith("budget.scale="):
            raise
        raise BudgetError(f"--scale={str(e).removeprefix('budget.scale=')}") from None  # the flag the user typed
    if not configured:
        _check_flags(reference, vary, stage, flags["scope"])
    params = {**sweep_params(overrides), **typed_sweeps}  # a +sweep's axes and the command line's, which win
    axes = _sweep_values(params)
    given, swept = args.cardinality, axes.get("model.cardinality")
    if given is None and swept and all(c.isdigit() for c in swept):
        given = ",".join(swept)
        del axes["model.cardinality"]  # the table's rows
    note = _sweep_note(overrides, params, axes, typed_sweeps)
    rows = _rows(reference, budget, vary, stage, given)
    if not configured or args.tolerance is not None:  # the knob the user turns here is the flag, not budget.…
        for row in rows:
            if row["error"]:
                row["error"] = row["error"].replace(COARSE_ADVICE, FLAG_ADVICE)
    feasible = [row for row in rows if row["error"] is None]
    if args.write:
        model_cfg = plain(cfg.model)
        for row in feasible:
            name = _row_name(cfg.model.name, row["_template"])
            row["config"] = str(write_config(args.write, name, model_cfg, row["_template"]))
            row["name"] = name
    for row in rows:
        del row["_template"]
    if args.json:
        print_json(
            {
                "model": cfg.model.name,
                "metric": budget.metric,
                "scope": budget.scope,
                "target": budget.target,
                "vary": vary,
                "rows": rows,
                "note": note,
            }
        )
        return _failed(rows)
    _print_table(cfg.model.name, budget, vary, rows)
    if note:
        print(f"note: {note}")
    if args.write and feasible:
        print(f"wrote {len(feasible)} model configs to {args.write / 'model'}; train one with:")
        print(f"  python -m ablate 'hydra.searchpath=[file://{args.write.resolve()}]' model={feasible[0]['name']}")
    return _failed(rows)


def _sweep_values(params: dict[str, str]) -> dict[str, list[str] | None]:
    """Each axis of a sweep's `hydra.sweeper.params` and its values, as Hydra's override parser reads them
    (`1,2`, `choice(1,2)`, `range(1,3)`); None for a continuous one (`interval(0,1)`) or one it cannot read."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out: dict[str, list[str] | None] = {}
    for key, text in params.items():
        try:
            o = parser.parse_overrides([f"{key}={text}"])[0]
        except Exception:  # the sweep itself would refuse it, in Hydra's words
            out[key] = None
            continue
        out[key] = list(o.sweep_string_iterator()) if o.is_discrete_sweep() else None
    return out


def _sweep_note(
    overrides: list[str], params: dict[str, str], axes: dict[str, list[str] | None], typed: dict[str, str]
) -> str | None:
    """What a sweep's table leaves out: the sweep's axes that change the model or its budget per member (model.*,
    budget.*, +variant; its C list is the table's rows), whose values the table does not take; None without."""
    varied = [k for k in axes if k.lstrip("+~").startswith(("model.", "budget.", "variant"))]
    if not varied:
        return None
    sweep = next((o for o in overrides if o.partition("=")[0] == "+sweep"), None)
    sweep = sweep or ("the command line" if all(k in typed for k in varied) else "the sweep")
    swept = " and ".join(f"{k}={params[k].replace(' ', '')}" for k in varied)
    firsts = [f"{k}={values[0]}" for k in varied if (values := axes[k])]
    example = f" ({' '.join(firsts)})" if len(firsts) == len(varied) else ""
    return (
        f"{sweep} also sweeps {swept}, which change the model or its budget per member: this table is the config "
        f"as composed; add one value of each{example} for a member's."
    )


def _check_flags(reference: Template, vary: str, stage: int | None, scope: str) -> None:
    """--vary and --stage against the model, once, in the flags' names (not once per row)."""
    try:
        check_vary(reference, vary, stage, scope, prefix="--")
    except BudgetError as e:
        raise ConfigError(str(e)) from None


def _rows(reference: Template, budget: Budget, vary: str, stage: int | None, given: str | None) -> list[dict]:
    """The table's rows: one per cardinality of `given` (the --cardinality flag; None: the default list) with the
    value of `vary` that meets `budget`, or why none does; with vary=cardinality, the one C the solver picks."""
    if vary == "cardinality":  # the solver picks C: one row, at the model's d
        if given is not None:
            raise ConfigError(
                f"--cardinality={given!r} cannot be combined with --vary cardinality: the solver picks C; "
                f"drop --cardinality for the one row that meets the budget, or vary bottleneck_width to get one "
                f"row per C."
            )
        cardinalities = [reference.cardinality]
        solutions: list[Row] = [solve_row(reference, budget, vary="cardinality")]
    else:
        cardinalities = _cardinalities(given or DEFAULT_CARDINALITIES)
        solutions = table2(reference, cardinalities, budget, vary=vary, stage=stage, errors=True)
    rows = []
    for c, sol in zip(cardinalities, solutions, strict=True):
        if not isinstance(sol, Solution):  # this C cannot meet the budget: its row says why
            rows.append({"cardinality": c, **dict.fromkeys(ROW_FIELDS), "error": str(sol), "_template": None})
            continue
        t = sol.template
        cx = complexity(t)
        rows.append(
            {
                "cardinality": t.cardinality,
                "bottleneck_width": t.bottleneck_width,
                "group_width": t.group_width,
                "width": t.width,
                "depths": list(t.depths),
                "params": cx.params,
                "flops": cx.flops,
                "acts": cx.acts,
                "achieved": sol.achieved,
                "target": sol.target,
                "deviation": sol.deviation,
                "error": None,
                "_template": t,
            }
        )
    return rows


def _print_table(model: str, budget: Budget, vary: str, rows: list[dict]) -> None:
    print(
        f"{model}: {budget.metric} at scope {budget.scope} = {amount(budget.target)} "
        f"({human(budget.target)}), varying {vary}"
    )
    print(f"{'C':>4} {'d':>5} {'C·d':>6} {'width':>6} {'params':>14} {'FLOPs':>16} {'deviation':>10}")
    for r in rows:
        if r["error"] is not None:
            print(f"{r['cardinality']:>4} {'-':>5} infeasible: {r['error']}")
            continue
        print(
            f"{r['cardinality']:>4} {r['bottleneck_width']:>5} {r['group_width']:>6} {r['width']:>6} "
            f"{r['params']:>14,} {r['flops']:>16,} {r['deviation']:>+10.2%}"
        )


DEFAULT_CARDINALITIES = "1,2,4,8,32"


# ablate.engine.budget's COARSE_ADVICE in this command's flags
FLAG_ADVICE = "widen --tolerance, or give another --vary"
FLAG_FIELDS = ("metric", "scope", "scale", "tolerance", "vary", "stage")  # each also a field of `budget`
FLAG_DEFAULTS = {"metric": "params", "scope": "network", "scale": 1.0, "tolerance": 0.05, "vary": "bottleneck_width"}

ROW_FIELDS = (
    "bottleneck_width",
    "group_width",
    "width",
    "depths",
    "params",
    "flops",
    "acts",
    "achieved",
    "target",
    "deviation",
)


def _failed(rows: list[dict]) -> int:
    """0 when every row met the budget; else one line on stderr naming the cardinalities that did not, and 2."""
    bad = [row["cardinality"] for row in rows if row["error"] is not None]
    if not bad:
        return 0
    print(
        f"error: {len(bad)} of {len(rows)} rows cannot meet the budget: "
        f"{', '.join(f'C={c}' for c in bad)} ({'its row says' if len(bad) == 1 else 'their rows say'} why).",
        file=sys.stderr,
    )
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

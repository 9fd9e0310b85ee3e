"""`python -m ablate.describe [--config-dir DIR] [overrides] [--json]`: the derived stages and the complexity.

Prints a template's stages in the shape of the paper's Table 1 and its exact params, FLOPs
(multiply-adds) and activations. Overrides are Hydra overrides of the training app's config
(`model=resnext50_32x4d model.cardinality=8 budget=params`); a budget in the config is solved first.
`--config-dir DIR` adds a folder of the user's own configs (`DIR/model/NAME.yaml`), as for the app.
"""

from __future__ import annotations

import argparse
import sys

from ablate.cli.common import (
    add_config_dir,
    app_overrides,
    check_model,
    human,
    print_json,
    split_sweeps,
    user_errors,
)
from ablate.config import compose, searchpath_of, solve_cfg
from ablate.engine.blocks import BlockShape, block_type
from ablate.engine.complexity import complexity
from ablate.engine.template import Network, derive
from ablate.errors import ConfigError


def stage_rows(net: Network) -> list[dict]:
    return [s.summary() for s in net.stages]


def describe(net: Network) -> dict:
    """The JSON form: params, flops, acts, how they were counted and one entry per stage."""
    cx = complexity(net)
    return {"params": cx.params, "flops": cx.flops, "acts": cx.acts, "counted": cx.method, "stages": stage_rows(net)}


def table1(net: Network) -> str:
    """The stages as text in the shape of Table 1."""
    t = net.template
    lines = [f"{'stage':<6} {'output':>9}  blocks"]
    if t.stem == "imagenet":
        r1 = (t.resolution - 1) // 2 + 1
        lines.append(f"{'conv1':<6} {f'{r1}×{r1}':>9}  7×7, {t.stem_width}, stride 2")
        pool = "3×3 max pool, stride 2; "
    else:
        lines.append(f"{'conv1':<6} {f'{t.resolution}×{t.resolution}':>9}  3×3, {t.stem_width}")
        pool = ""
    block = block_type(t.block)
    for i, s in enumerate(net.stages):
        body = block.text(BlockShape.of(s, first=False, shortcut=t.shortcut))
        lines.append(f"{s.name:<6} {f'{s.resolution}×{s.resolution}':>9}  {pool if i == 0 else ''}{body} ×{s.depth}")
    lines.append(f"{'head':<6} {'1×1':>9}  global average pool, {t.num_classes}-d fc")
    if not t.shortcut:
        lines.append("(no shortcut connections)")
    cx = complexity(net)
    lines.append(
        f"params {cx.params:,} ({human(cx.params)})  FLOPs {cx.flops:,} ({human(cx.flops)})  "
        f"acts {cx.acts:,} ({human(cx.acts)})"
    )
    if cx.method == "meta":
        lines.append("(blocks counted by running them once on the meta device)")
    return "\n".join(lines)


@user_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ablate.describe", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=resnext50_32x4d")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    add_config_dir(parser)
    args = parser.parse_args(argv)
    overrides, sweeps = split_sweeps(app_overrides(args.config_dir, args.overrides))  # a seed sweep is dropped
    if sweeps:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        key, values = next(iter(sweeps.items()))
        swept = OverridesParser.create().parse_override(f"{key}={values}")
        first = next(iter(swept.sweep_string_iterator()), None) if swept.is_discrete_sweep() else None
        raise ConfigError(
            f"{key}={values} lists several values, and python -m ablate.describe describes one model: give one"
            + (f", e.g. {key}={first}" if first is not None else "")
            + (" (python -m ablate.budget shows a row per C)." if key == "model.cardinality" else ".")
        )
    searchpath = searchpath_of(overrides)  # the user's configs: also where budget.reference=NAME is found
    cfg = compose(overrides)
    check_model(cfg, searchpath, overrides)  # the model alone
    template, solution = solve_cfg(cfg, searchpath)
    net = derive(template)
    if args.json:
        out = describe(net)
        if solution is not None:
            out["budget"] = solution.as_dict()
        print_json(out)
    else:
        print(f"model {cfg.model.name}: {template.cardinality}×{template.bottleneck_width}d")
        print(table1(net))
        if solution is not None:
            print(
                f"budget: {solution.vary}={solution.value}, {cfg.budget.metric} {solution.achieved:,} "
                f"vs target {solution.target:,.0f} ({solution.deviation:+.2%})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

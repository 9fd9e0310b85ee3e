"""Grouped convolutions with merged groups (`trainer.merge_groups`, ablate/run/kernels.py) against the plain ones.

`python -m benchmarks --only merged_groups`, or `python -m benchmarks.merged_groups [--quick]`. Not a test:
nothing is asserted; the figures go to the benchmark report.

For each member of the main job (`+sweep=cardinality_vs_width`: C = 1, 2, 4, 8, 32 with d solved for tiny's
params), one training step as one DDP rank of `trainer.world_size: auto` runs it on a 2-core CPU (1 thread,
half the batch, the autocast precision of `trainer.precision: auto`, channels-last, SGD with Nesterov momentum),
with the grouped convolutions as `ablate.models.build` makes them and with `kernels.merge_groups` applied. The
two are timed in alternating rounds (plain, merged, plain, …), so that a change in the machine's speed falls on
both; the figure is the median step of each. Also: each stage's merge factor, and the sum of the members'
steps, which is what a main job's training time follows.
"""

from __future__ import annotations

import json
import sys

TITLE = "Grouped convolutions merged against as built (one DDP rank's training step)"
CARDINALITIES = (1, 2, 4, 8, 32)
ROUNDS = 4  # alternating rounds of each variant
WIDTHS = (8, 16)  # minimum merged group widths compared: kernels.MIN_GROUP_WIDTH and twice it


def member(cardinality: int):
    """The solved template of the main job's member with this C."""
    from ablate.config.loading import compose, solve_cfg

    template, _ = solve_cfg(compose(["+sweep=cardinality_vs_width", f"model.cardinality={cardinality}"]))
    return template


def training_step(net, x, y, dtype):
    """One training step of `net` on the batch (x, y) as ablate's CPU recipe takes it (autocast to `dtype`, label
    smoothing 0.1, SGD with Nesterov momentum), as a call to time."""
    import torch
    from torch import nn

    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step():
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = criterion(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure_member(cardinality: int, quick: bool) -> dict:
    import copy

    import torch

    from ablate.models import build
    from ablate.run import device as devices
    from ablate.run.kernels import MergedGroupsConv2d, merge_groups
    from benchmarks.models import cpu_batch
    from benchmarks.timing import measure

    torch.set_num_threads(1)
    template = member(cardinality)
    batch = cpu_batch() // 2  # one of two ranks
    dtype = devices.autocast_dtype("auto", torch.device("cpu"))
    plain = build(template, form="c").to(memory_format=torch.channels_last).train()
    nets = {"plain": plain}
    factors = {}
    for width in WIDTHS:
        net = nets[f"≥{width}"] = copy.deepcopy(plain)
        merge_groups(net, width)
        factors[width] = {n: m.merge for n, m in net.named_modules() if isinstance(m, MergedGroupsConv2d)}
    x = torch.randn(batch, template.in_channels, template.resolution, template.resolution)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, template.num_classes, (batch,))
    steps = {name: training_step(net, x, y, dtype) for name, net in nets.items()}
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    repeats = 2 if quick else 5
    for _ in range(1 if quick else ROUNDS):
        for name, step in steps.items():
            seconds[name].append(measure(step, warmup=1, repeats=repeats).median)
    median = {name: sorted(s)[len(s) // 2] for name, s in seconds.items()}
    return {
        "cardinality": cardinality,
        "bottleneck_width": template.bottleneck_width,
        "batch": batch,
        "precision": str(dtype or "fp32"),
        "merged_layers": factors,
        "seconds": median,
        "rounds": seconds,
    }


def run(quick: bool, results: dict) -> dict:
    rows = [measure_member(c, quick) for c in (CARDINALITIES[-2:] if quick else CARDINALITIES)]
    names = list(rows[0]["seconds"])
    total = {name: sum(r["seconds"][name] for r in rows) for name in names}

    def merged(r: dict, width: int) -> str:
        return ", ".join(f"{n.split('.')[0]} ×{k}" for n, k in r["merged_layers"][width].items()) or "none"

    table = {
        "headers": ["member", *(f"merged, groups ≥ {w} channels (factor)" for w in WIDTHS),
                    *(f"{name} ms / step" for name in names), *(f"speed-up {name}" for name in names[1:])],
        "rows": [
            [
                f"C={r['cardinality']}, d={r['bottleneck_width']}",
                *(merged(r, w) for w in WIDTHS),
                *(f"{r['seconds'][name] * 1e3:.1f}" for name in names),
                *(f"{r['seconds']['plain'] / r['seconds'][name]:.2f}×" for name in names[1:]),
            ]
            for r in rows
        ]
        + [["all members", *("" for _ in WIDTHS), *(f"{total[name] * 1e3:.1f}" for name in names),
            *(f"{total['plain'] / total[name]:.2f}×" for name in names[1:])]],
    }
    notes = [
        f"One rank's step: batch {rows[0]['batch']}, 1 thread, {rows[0]['precision']} autocast, channels-last; "
        "the median of each variant's per-round medians over alternating rounds. A member's training time "
        "follows its step; the main job's, the sum over its members.",
    ]
    return {"title": TITLE, "rows": rows, "table": table, "notes": notes,
            "speedup_all_members": {name: total["plain"] / total[name] for name in names[1:]}}


def main() -> None:
    print(json.dumps(run("--quick" in sys.argv, {}), indent=1, default=str))


if __name__ == "__main__":
    main()

"""What two single-threaded DDP ranks pay for being one run: a main-job member's step three ways, side by side.

`python -m benchmarks --only ddp_step`, or `python -m benchmarks.ddp_step [--quick] [C ...]`. Not a test: nothing
is asserted; the figures go to the benchmark report.

On a 2-core CPU `trainer.world_size: auto` trains each run as two one-thread DDP processes. Each rank's step is a
bare single-thread step plus what keeping the two in lock-step costs: waiting for the slower rank, the gradient
all-reduce, and (DDP's default, `broadcast_buffers=True`) a broadcast of rank 0's BatchNorm buffers before every
forward pass. Two processes start (gloo, one thread each, as `ablate.run.processes` starts them) and time, in
alternating rounds so that a change in the machine's speed falls on every variant:

- `independent`: each process steps its own model, no communication: two members side by side;
- `ddp`: DistributedDataParallel as ablate's trainer wraps the model today;
- `ddp, no buffer broadcast`: the same with `broadcast_buffers=False`.

Each member is built as the trainer builds it (form c, merged groups, channels-last, the autocast precision of
`trainer.precision: auto`, SGD with Nesterov momentum, half the CPU recipe's batch per rank). The figure is the
median of each variant's per-round median step on rank 0.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

TITLE = "Two one-thread DDP ranks against two independent processes (a main-job member's step)"
VARIANTS = ("independent", "ddp", "ddp, no buffer broadcast")
CARDINALITIES = (1, 4, 32)


def _rank(rank: int, world: int, init: str, cardinalities: tuple[int, ...], rounds: int, repeats: int, out: str):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    results = {c: _member(c, rank, world, rounds, repeats) for c in cardinalities}
    if rank == 0:
        with open(out, "w") as f:
            json.dump(results, f)
    dist.destroy_process_group()


def _member(cardinality: int, rank: int, world: int, rounds: int, repeats: int) -> dict:
    """One member's three variants on this rank, timed in alternating rounds (both ranks start each together)."""
    import torch
    import torch.distributed as dist
    from torch import nn

    from ablate.models import build
    from ablate.run import device as devices
    from ablate.run.kernels import merge_groups
    from benchmarks.merged_groups import member, training_step
    from benchmarks.models import cpu_batch
    from benchmarks.timing import measure

    dtype = devices.autocast_dtype("auto", torch.device("cpu"))
    batch = cpu_batch() // world
    template = member(cardinality)
    torch.manual_seed(rank)
    x = torch.randn(batch, template.in_channels, template.resolution, template.resolution)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, template.num_classes, (batch,))

    def net() -> nn.Module:
        model = build(template, form="c").to(memory_format=torch.channels_last).train()
        merge_groups(model)
        return model

    ddp = nn.parallel.DistributedDataParallel
    steps = {
        "independent": training_step(net(), x, y, dtype),
        "ddp": training_step(ddp(net()), x, y, dtype),
        "ddp, no buffer broadcast": training_step(ddp(net(), broadcast_buffers=False), x, y, dtype),
    }
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            dist.barrier()
            seconds[name].append(measure(step, warmup=2, repeats=repeats).median)
    return {
        "bottleneck_width": template.bottleneck_width,
        "batch_per_rank": batch,
        "precision": str(dtype or "fp32"),
        "rounds_ms": {k: [s * 1e3 for s in v] for k, v in seconds.items()},
        "median_ms": {k: sorted(v)[len(v) // 2] * 1e3 for k, v in seconds.items()},
    }


def run(quick: bool, results: dict | None = None, cardinalities: tuple[int, ...] | None = None) -> dict:
    import torch.multiprocessing as mp

    cardinalities = cardinalities or ((1,) if quick else CARDINALITIES)
    with tempfile.TemporaryDirectory() as tmp:
        out, init = os.path.join(tmp, "ddp_step.json"), f"file://{os.path.join(tmp, 'init')}"
        rounds, repeats = (2, 3) if quick else (5, 8)
        mp.start_processes(_rank, args=(2, init, cardinalities, rounds, repeats, out), nprocs=2, start_method="spawn")
        with open(out) as f:
            rows = {int(c): r for c, r in json.load(f).items()}
    table = {
        "headers": ["member", *(f"{v} ms / step" for v in VARIANTS), "ddp ÷ independent", "no broadcast ÷ ddp"],
        "rows": [
            [
                f"C={c}, d={r['bottleneck_width']}",
                *(f"{r['median_ms'][v]:.1f}" for v in VARIANTS),
                f"{r['median_ms']['ddp'] / r['median_ms']['independent']:.2f}",
                f"{r['median_ms']['ddp, no buffer broadcast'] / r['median_ms']['ddp']:.2f}",
            ]
            for c, r in rows.items()
        ],
    }
    notes = [
        f"Rank 0's step: batch {next(iter(rows.values()))['batch_per_rank']} per rank, 1 thread, "
        f"{next(iter(rows.values()))['precision']} autocast, channels-last, merged groups; the median of each "
        "variant's per-round medians over alternating rounds. `ddp ÷ independent` is what lock-step costs a run of "
        "two ranks against two members side by side."
    ]
    return {"title": TITLE, "rows": rows, "table": table, "notes": notes}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ddp_step", description=TITLE)
    p.add_argument("--quick", action="store_true", help="one member (C=1), two short rounds")
    p.add_argument("cardinalities", nargs="*", type=int, metavar="C", help=f"members to time (default {CARDINALITIES})")
    args = p.parse_args(argv)
    if any(c < 1 for c in args.cardinalities):
        p.error(f"cardinality {min(args.cardinalities)} is not a member: give whole numbers of at least 1.")
    result = run(args.quick, None, tuple(args.cardinalities) or None)
    print(json.dumps(result["rows"], indent=1))
    for row in [result["table"]["headers"], *result["table"]["rows"]]:
        print(" | ".join(row))


if __name__ == "__main__":
    main()

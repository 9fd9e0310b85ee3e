"""Where a training step of the built-in default goes: by operator, and against this machine's roofline.

`python -m benchmarks --only step_profile`, or `python -m benchmarks.step_profile`. The step is the default
run's (model=tiny, `optim.batch_size` from conf/optim/cpu.yaml, `trainer.precision=auto`,
channels-last, SGD with momentum) in two shapes: one DDP rank as `trainer.world_size: auto` runs it
on a 2-core machine (1 thread, half the batch) and one process with 2 threads and the whole batch.
Each shape runs in a fresh process (its own thread pool), is timed alone (`timing.measure`), then
profiled over the same steps with `torch.profiler`; operators are grouped by what they do (conv
forward and backward, BatchNorm, ReLU, adds, the optimizer, dtype casts, the rest) by their share
of self CPU time.

The roofline: the step's FLOPs (6 × forward multiply-adds per image: forward, and backward's two
products) against the measured matmul peak at the step's thread count and precision, and an
estimate of its memory traffic against the measured copy bandwidth. Traffic: every conv output
element (`acts` of the complexity model) is written by the conv and read and written by BN and by
ReLU in the forward pass, and the backward pass moves about twice that: 15 passes of the autocast
element size; the weights, gradients and momentum in fp32 add 5 passes of the parameters. It is an
estimate of DRAM-or-cache traffic, not a measurement: the step's working set mostly fits the L2/L3
caches, so the bandwidth bound is loose and the step's distance from the FLOP bound is the figure
that matters. (Not named profile.py: a script run from this folder would shadow the standard library's profile.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.workload import ROOT

TITLE = "Profile of the default training step (by operator) and its roofline"
ACT_PASSES = 15  # activation passes per training step (the module docstring's estimate)
PARAM_PASSES = 5  # fp32 weight read (×2: forward and backward), gradient write, momentum read and write
GROUPS = (  # (group, substrings of the operator's name), first match wins
    ("conv backward", ("convolution_backward",)),
    ("conv forward", ("convolution", "conv2d", "mkldnn_conv")),
    ("BatchNorm", ("batch_norm",)),
    ("ReLU", ("relu", "threshold")),
    ("add (shortcuts)", ("aten::add",)),
    ("optimizer", ("sgd", "_foreach", "optimizer")),
    ("dtype casts (autocast)", ("aten::to", "_to_copy", "copy_")),
    ("loss and head", ("cross_entropy", "log_softmax", "nll_loss", "linear", "addmm", "mean", "avg_pool")),
)


def _group(name: str) -> str:
    lowered = name.lower()
    return next((g for g, keys in GROUPS if any(k in lowered for k in keys)), "other")


def shapes(quick: bool) -> list[dict]:
    return [
        {"label": "one DDP rank of world_size auto (1 thread, half batch)", "threads": 1, "ranks": 2},
        {"label": "one process (2 threads, whole batch)", "threads": 2, "ranks": 1},
    ][: 1 if quick else 2]


# ----------------------------------------------------------------------------- worker (own process)
def measure_shape(shape: dict, quick: bool) -> dict:
    import torch
    import torch.nn.functional as F

    from ablate.config.loading import compose, template_from_cfg
    from ablate.engine.complexity import complexity
    from ablate.models import build
    from ablate.run.device import autocast_dtype
    from benchmarks.ceilings import bandwidth, matmul
    from benchmarks.timing import measure

    torch.set_num_threads(shape["threads"])
    cfg = compose([])
    template = template_from_cfg(cfg.model)
    batch = int(cfg.optim.batch_size) // shape["ranks"]
    dtype = autocast_dtype(cfg.trainer.precision, torch.device("cpu"))
    torch.manual_seed(0)
    model = build(template, "c").to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, template.in_channels, template.resolution, template.resolution).to(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, template.num_classes, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    repeats = 10 if quick else 40
    timing = measure(step, warmup=5, repeats=repeats)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    groups: dict[str, float] = {}
    for e in events:
        groups[_group(e.key)] = groups.get(_group(e.key), 0.0) + e.self_cpu_time_total / total
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    cx = complexity(template)
    element = 2 if dtype is not None else 4
    flops = 6 * cx.flops * batch
    traffic = ACT_PASSES * cx.acts * batch * element + PARAM_PASSES * cx.params * 4
    peak = matmul("bfloat16" if dtype is not None else "float32", repeats=5)["flops_per_s"]
    bw = bandwidth(repeats=5)["bytes_per_s"]
    seconds = timing.median
    return {
        "label": shape["label"],
        "threads": shape["threads"],
        "batch": batch,
        "precision": str(dtype or "fp32"),
        "step_seconds": seconds,
        "images_per_s": batch / seconds,
        "machine_images_per_s": batch * shape["ranks"] / seconds,
        "spread": timing.spread,
        "flops": flops,
        "bytes": traffic,
        "flops_per_s": flops / seconds,
        "peak_flops_per_s": peak,
        "bandwidth_bytes_per_s": bw,
        "intensity": flops / traffic,
        "roofline_seconds": max(flops / peak, traffic / bw),
        "groups": groups,
        "top": [{"op": e.key, "share": e.self_cpu_time_total / total, "calls": e.count // repeats} for e in top],
    }


def _isolated(shape: dict, quick: bool) -> dict:
    code = (
        "import json,sys; from benchmarks.step_profile import measure_shape; "
        "print(json.dumps(measure_shape(json.loads(sys.argv[1]), sys.argv[2] == '1')))"
    )
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(shape), "1" if quick else "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(" ".join(proc.stderr.strip().splitlines()[-1:]) or f"exit status {proc.returncode}")
    return json.loads(lines[-1])


def run(quick: bool, results: dict) -> dict:
    rows = [_isolated(s, quick) for s in shapes(quick)]
    names = [g for g, _ in GROUPS] + ["other"]
    table = {
        "headers": [
            "step",
            "batch",
            "ms / step",
            "machine img/s",
            "share of matmul peak",
            "FLOP / byte (est.)",
            "roofline bound",
            *names,
        ],
        "rows": [
            [
                r["label"],
                r["batch"],
                f"{r['step_seconds'] * 1e3:.1f} ± {r['spread']:.0%}",
                f"{r['machine_images_per_s']:,.0f}",
                f"{r['flops_per_s'] / r['peak_flops_per_s']:.0%}",
                f"{r['intensity']:.0f}",
                f"{r['roofline_seconds'] / r['step_seconds']:.0%} of the step",
                *(f"{r['groups'].get(n, 0.0):.0%}" for n in names),
            ]
            for r in rows
        ],
    }
    notes = [
        "machine img/s: a rank's rate × the ranks that share the machine (2 ranks of 1 thread on 2 cores), "
        "against one process of 2 threads; share of matmul peak: the step's FLOP/s over a 2048² matmul at the "
        "same thread count and precision; roofline bound: the larger of FLOPs ÷ peak and estimated bytes ÷ "
        "copy bandwidth, as a share of the measured step.",
    ]
    for r in rows:
        ops = ", ".join(f"{t['op']} {t['share']:.0%}" for t in r["top"][:6])
        notes.append(f"{r['label']}: top operators by self CPU time: {ops}.")
    return {"title": TITLE, "rows": rows, "table": table, "notes": notes}


def main() -> None:
    print(json.dumps(run("--quick" in sys.argv, {}), indent=1, default=str))


if __name__ == "__main__":
    main()

"""The grouped-convolution overhead: step time of a grouped network over its dense twin at (about)
the same complexity, and where the time goes.

Pairs: ResNeXt-50 32×4d against ResNet-50 (FLOPs within 4%; the paper paid 1.36× for ResNeXt-101
on GPUs), and the CPU template at C=32 against C=1 (d solved for equal params). The ratio of
step times is read beside the ratio of FLOPs; "per FLOP" divides one by the other.

To show what limits the ratio, each stage's 3×3 conv is timed alone (forward + backward at the
workload's batch and resolution): ResNet-50's dense one and ResNeXt-50's grouped one, with the
FLOP/s each reaches. A grouped conv with 4 channels per group does 1/C of the dense work per
output channel and reuses each input far less, so it runs far below the matmul ceiling.
"""

from __future__ import annotations

from benchmarks import ceilings, models
from benchmarks.timing import measure

TITLE = "Grouped overhead: grouped network step time ÷ dense network's"
PAIRS = (("resnext50_32x4d", "resnet50"), ("tiny_c32", "tiny"))


def conv_layers(quick: bool, peak: float) -> list[dict]:
    """Each stage's 3×3 conv of ResNet-50 and ResNeXt-50 alone: training step (fwd + bwd) time and FLOP/s."""
    import torch

    from ablate.engine.template import derive

    batch = models.workload("resnet50", quick).batch
    out = []
    for name in ("resnet50", "resnext50_32x4d"):
        net = derive(models.templates()[name])
        for stage in net.stages:
            g = stage.group_width
            conv = torch.nn.Conv2d(g, g, 3, padding=1, groups=stage.cardinality, bias=False)
            conv = conv.to(memory_format=torch.channels_last)
            # a non-first block's conv: stride 1 at the stage's output resolution
            x = torch.randn(batch, g, stage.resolution, stage.resolution).to(memory_format=torch.channels_last)
            x.requires_grad_(True)

            def step(conv=conv, x=x):
                conv(x).sum().backward()

            t = measure(step, warmup=2, repeats=3 if quick else 7)
            macs = 9 * g * (g // stage.cardinality) * stage.resolution**2 * batch
            out.append({"model": models.label(name), "stage": stage.name, "channels": g, "groups": stage.cardinality,
                        "resolution": stage.resolution, "batch": batch, "timing": t.as_dict(),
                        "flops_per_s": 3 * 2 * macs / t.median, "share": 3 * 2 * macs / t.median / peak})
    return out


def run(quick: bool, results: dict) -> dict:
    peak = ceilings.fp32_peak(results)
    rows, table_rows, notes = [], [], []
    for grouped, dense in PAIRS:
        rg = models.measure(models.workload(grouped, quick))
        rd = models.measure(models.workload(dense, quick))
        for phase in ("train", "infer"):
            tg, td = models.step_seconds(rg, phase), models.step_seconds(rd, phase)
            if tg is None or td is None or "flops" not in rg or "flops" not in rd:
                notes.append(f"{grouped} / {dense} {phase}: not measured ({models.error(rg) or models.error(rd)})")
                continue
            time_ratio, flop_ratio = tg / td, rg["flops"] / rd["flops"]
            row = {"grouped": grouped, "dense": dense, "phase": phase, "time_ratio": time_ratio,
                   "flop_ratio": flop_ratio, "per_flop_ratio": time_ratio / flop_ratio,
                   "grouped_seconds": tg, "dense_seconds": td}
            rows.append(row)
            table_rows.append([f"{models.label(grouped)} ÷ {models.label(dense)}", phase,
                               f"{tg * 1e3:,.0f} ms ÷ {td * 1e3:,.0f} ms", f"{time_ratio:.2f}×",
                               f"{flop_ratio:.3f}", f"{time_ratio / flop_ratio:.2f}×"])
    layers = conv_layers(quick, peak)
    layer_rows = [[r["model"], r["stage"], f"{r['channels']}→{r['channels']}, groups {r['groups']}",
                   f"{r['resolution']}² × {r['batch']}", f"{r['timing']['median'] * 1e3:,.1f} ms",
                   f"{r['flops_per_s'] / 1e9:,.1f}", f"{r['share']:.0%}"] for r in layers]
    notes.append("The paper (on 8 GPUs): ResNeXt-101 32×4d 0.95 s against ResNet-101's 0.70 s per mini-batch, 1.36×.")
    return {"title": TITLE, "rows": rows, "layers": layers, "notes": notes,
            "table": {"headers": ["pair", "phase", "step time", "time ratio", "FLOP ratio", "per-FLOP ratio"],
                      "rows": table_rows},
            "tables": [{"caption": "Each stage's 3×3 conv alone, training step (forward + backward to the input "
                                   "and the weight), channels-last fp32",
                        "headers": ["model", "stage", "conv", "input × batch", "time", "GFLOP/s", "share"],
                        "rows": layer_rows}]}

"""Training and inference images/s and peak memory of the built-in CPU template and of ResNet-50
against ResNeXt-50 32×4d at 224×224, with the share of the fp32 matmul ceiling each reaches.

Share of the ceiling = FLOP/s the step does ÷ the matmul FLOP/s of `ceilings`, counting a
training image as 3 × its forward multiply-adds × 2 FLOPs (forward, and a backward of about
twice the forward) and an inference image as 1 × 2. Each workload runs in its own process
(`workload.run_isolated`), so its peak resident memory is its own.
"""

from __future__ import annotations

import sys
from functools import cache

from benchmarks import ceilings
from benchmarks.workload import Workload, run_isolated

TITLE = "Models: images/s, peak memory, share of the fp32 matmul ceiling"
_results: dict[str, dict] = {}  # workload JSON -> result: groups share measurements within one run


def measure(w: Workload, timeout: float = 600) -> dict:
    """`run_isolated(w)`, once per benchmark run."""
    key = w.to_json()
    if key not in _results:
        r = _results[key] = run_isolated(w, timeout)
        setting = f"form {w.form}, {'channels-last' if w.channels_last else 'contiguous'}" + \
            (", compiled" if w.compile else "")
        print(f"[bench]   {w.label} ({setting}, batch {w.batch}): {r.get('wall_seconds', 0):.0f} s"
              + (f" ({error(r)})" if error(r) else ""), file=sys.stderr, flush=True)
    return _results[key]


@cache
def cpu_batch() -> int:
    """The built-in CPU recipe's batch (conf/optim/cpu.yaml)."""
    from ablate.config.loading import compose

    return int(compose(["optim=cpu"]).optim.batch_size)


@cache
def default_precision(device: str = "cpu") -> str:
    """The precision ablate's trainer runs in on `device` with `trainer.precision=auto` (bf16 on a
    CPU with native bf16 dot products, else fp32): the models are timed as they are trained."""
    import torch

    from ablate.run.device import autocast_dtype, precision_name

    return precision_name(autocast_dtype("auto", torch.device(device)))


@cache
def templates() -> dict:
    """The templates measured: the CPU template at C=1 and at C=32 with d solved for equal params
    (the cardinality_vs_width sweep's tolerance, 10%), ResNet-50 and ResNeXt-50 32×4d."""
    from ablate import Budget, load_template, solve

    tiny = load_template("tiny")
    budget = Budget.relative(tiny, metric="params", tolerance=0.1)
    out = {"tiny": tiny}
    for c in (4, 32):
        out[f"tiny_c{c}"] = solve(tiny.replace(cardinality=c), budget).template
    out["resnet50"] = load_template("resnet50")
    out["resnext50_32x4d"] = load_template("resnext50_32x4d")
    return out


def label(name: str) -> str:
    t = templates()[name]
    if name.startswith("tiny"):
        return f"tiny {t.cardinality}×{t.bottleneck_width}d"
    return {"resnet50": "ResNet-50 1×64d", "resnext50_32x4d": "ResNeXt-50 32×4d"}[name]


def workload(name: str, quick: bool, **changes) -> Workload:
    """The standard workload of a template: its recipe's batch for the tiny ones, a small batch at 224."""
    t = templates()[name]
    if name.startswith("tiny"):
        base = Workload(label(name), t.to_dict(), batch=cpu_batch(), warmup=2 if quick else 3,
                        repeats=5 if quick else 10, precision=default_precision())
    else:
        base = Workload(label(name), t.to_dict(), batch=4 if quick else 8, warmup=1 if quick else 2,
                        repeats=2 if quick else 4, precision=default_precision())
    return base.with_(**changes) if changes else base


def phase(result: dict, name: str) -> dict | None:
    """One phase's measurement, or None where it failed or did not run."""
    p = result.get("phases", {}).get(name)
    return p if p and "error" not in p else None


def step_seconds(result: dict, name: str = "train") -> float | None:
    p = phase(result, name)
    return p["timing"]["median"] if p else None


def share(result: dict, name: str, peak: float) -> float | None:
    """FLOP/s done ÷ the matmul ceiling: (3 for training, 1 for inference) × 2 × forward MACs × images/s."""
    p = phase(result, name)
    if not p or not peak:
        return None
    per_image = (3 if name == "train" else 1) * 2 * result["flops"]
    return per_image * p["images_per_s"] / peak


def error(result: dict) -> str | None:
    """The first failure in a result, if any."""
    if result.get("error"):
        return result["error"]
    for name, p in result.get("phases", {}).items():
        if "error" in p:
            return f"{name}: {p['error']}"
    return None


def fmt_rate(result: dict, name: str) -> str:
    p = phase(result, name)
    if not p:
        return "–"
    return f"{p['images_per_s']:,.1f} ± {p['timing']['spread']:.0%}"


def fmt_mib(result: dict, name: str) -> str:
    p = phase(result, name)
    if not p or p.get("peak_bytes") is None:
        return "–"
    return f"{p['peak_bytes'] / 2**20:,.0f}"


def fmt_share(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


NAMES = ("tiny", "tiny_c32", "resnet50", "resnext50_32x4d")


def run(quick: bool, results: dict) -> dict:
    ceilings.fp32_peak(results)  # measured before the workloads and again after them
    measured = [(workload(name, quick), measure(workload(name, quick))) for name in NAMES]
    peak = ceilings.remeasure(results, quick)
    rows, table_rows, notes = [], [], []
    for name, (w, r) in zip(NAMES, measured, strict=True):
        row = {"name": name, "label": w.label, "params": r.get("params"), "flops": r.get("flops"), "batch": w.batch,
               "precision": w.precision, "train": phase(r, "train"), "infer": phase(r, "infer"), "error": error(r),
               "train_share": share(r, "train", peak), "infer_share": share(r, "infer", peak),
               "threads": r.get("threads")}
        rows.append(row)
        if row["error"]:
            notes.append(f"{w.label}: {row['error']}")
        table_rows.append([
            w.label, f"{(r.get('params') or 0) / 1e6:.3g} M", f"{(r.get('flops') or 0) / 1e9:.3g} G",
            f"{w.template['resolution']}² × {w.batch}", fmt_rate(r, "train"), fmt_rate(r, "infer"),
            fmt_mib(r, "train"), fmt_mib(r, "infer"), fmt_share(row["train_share"]), fmt_share(row["infer_share"]),
        ])
    notes.append("img/s: median over timed steps after warm-up, ± half the inter-quartile range. Peak MiB: resident "
                 "memory high-water mark of the step's process above what it held before building the model "
                 "(model, gradients, optimizer state, activations, batch). Share: 3 (training) or 1 (inference) "
                 "× 2 × forward multiply-adds × img/s ÷ the fp32 matmul ceiling. Channels-last, form c, eager, "
                 f"{default_precision()} (what trainer.precision=auto picks on this machine; the variants group "
                 "times the other precision).")
    table = {"headers": ["model", "params", "mult-adds", "input × batch", "train img/s", "infer img/s",
                         "train peak MiB", "infer peak MiB", "train share", "infer share"],
             "rows": table_rows}
    return {"title": TITLE, "rows": rows, "table": table, "notes": notes, "fp32_peak": peak}

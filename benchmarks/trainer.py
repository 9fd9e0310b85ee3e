"""ablate's trainer against a bare PyTorch loop: the same model, data, batches and SGD.

One fresh process (so `torch.use_deterministic_algorithms`, which an ablate run switches on,
cannot leak into other measurements) runs, in the fixed order bare, ablate, ablate, bare, bare,
ablate (three adjacent pairs, compared pair by pair), the bare loop and ablate's
whole run (`ablate.run.app.run`: record, progress bar, checkpoint every epoch, as `python -m
ablate` does) on a class-balanced subset of Fashion-MNIST with the built-in CPU recipe.

The bare loop: `build` the same template (same seed, form, zero-init), SGD with the recipe's lr,
momentum, Nesterov and weight decay, cross-entropy with its label smoothing, the same
`data.train.batches` (on-device crops and flips, channels-last) and, after every epoch, the same
validation pass (eval mode, no grad, the trainer's eval batch). No scheduler, no metrics, no
progress, no checkpoint.

Per-epoch time of ablate = the interval between the ends of consecutive epochs' `on_epoch`
callbacks (train + eval + log + checkpoint + record write), read by wrapping `ablate.run.trainer.fit`
for the benchmark; the bare loop's = the interval between the ends of its validation passes.
Steady state: every epoch after each run's first. Then each per-epoch extra is timed alone
(checkpoint write, record write, progress-bar updates, metric accumulation, schedule step, the
deterministic switch), so an overhead can be traced to its source.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.timing import measure, measure_batched
from benchmarks.workload import ROOT

TITLE = "Trainer overhead: ablate's run against a bare PyTorch loop"
TIMEOUT = 900  # seconds for the whole comparison


def settings(quick: bool) -> dict:
    if quick:
        return {"train_subset": 1280, "val_subset": 512, "epochs": 2, "order": ["bare", "ablate"]}
    return {"train_subset": 6400, "val_subset": 1000, "epochs": 3,
            "order": ["bare", "ablate", "ablate", "bare", "bare", "ablate"]}


# ----------------------------------------------------------------------------- worker (own process)
def _cfg(s: dict, extra=()):
    from ablate.config.loading import compose

    return compose([f"data.train_subset={s['train_subset']}", f"data.val_subset={s['val_subset']}",
                    f"optim.epochs={s['epochs']}", "trainer.device=cpu", *extra])


def _autocast(cfg):
    """The autocast context ablate's trainer uses on this CPU for `cfg` (bf16 where native, else off)."""
    import torch

    from ablate.run.device import autocast_dtype

    dtype = autocast_dtype(cfg.trainer.precision, torch.device("cpu"))
    return torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None)


def bare_loop(cfg, template) -> dict:
    """Load the data, build, train and validate like ablate, with nothing else: returns start,
    epoch ends and end times."""
    import torch
    from torch import nn

    from ablate.data import load
    from ablate.models import build

    start = time.perf_counter()
    autocast = _autocast(cfg)
    seed, optim = int(cfg.seed), cfg.optim
    data = load(cfg.data, torch.device("cpu"), seed)
    torch.manual_seed(seed)
    model = build(template, str(cfg.model.form), bool(cfg.model.zero_init_last_bn))
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=float(optim.lr), momentum=float(optim.momentum),
                          nesterov=bool(optim.nesterov), weight_decay=float(optim.weight_decay))
    criterion = nn.CrossEntropyLoss(label_smoothing=float(optim.label_smoothing))
    batch = int(optim.batch_size)
    ends, cpu_ends = [], []
    fit_start = time.perf_counter()
    for epoch in range(int(optim.epochs)):
        model.train()
        for x, y in data.train.batches(batch, train=True, epoch=epoch, seed=seed):
            with autocast:
                loss = criterion(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        correct = torch.zeros((), dtype=torch.int64)
        with torch.no_grad():
            for x, y in data.val.batches(2 * batch, train=False, epoch=0, seed=0):
                with autocast:
                    correct += (model(x).argmax(1) == y).sum()
        correct.item()
        ends.append(time.perf_counter())
        cpu_ends.append(time.process_time())
    return {"start": start, "fit_start": fit_start, "ends": ends, "cpu_ends": cpu_ends, "end": time.perf_counter()}


def ablate_run(cfg) -> dict:
    """`ablate.run.app.run` in a fresh directory, with the end of every epoch's callback timed."""
    import torch

    import ablate.run.trainer
    from ablate.run import app

    real_fit = ablate.run.trainer.fit
    marks: dict = {"ends": [], "cpu_ends": []}

    def timed_fit(*args, on_epoch=None, **kwargs):
        marks["fit_start"] = time.perf_counter()

        def callback(entry, epochs):
            if on_epoch is not None:
                on_epoch(entry, epochs)
            marks["ends"].append(time.perf_counter())
            marks["cpu_ends"].append(time.process_time())

        result = real_fit(*args, on_epoch=callback, **kwargs)
        marks["fit_end"] = time.perf_counter()
        return result

    ablate.run.trainer.fit = timed_fit
    try:
        with tempfile.TemporaryDirectory(prefix="ablate-bench-") as run_dir:
            marks["start"] = time.perf_counter()
            record = app.run(cfg, run_dir).to_dict()
            marks["end"] = time.perf_counter()
            marks["status"] = record["status"]
            marks["reason"] = record.get("reason")
            marks["record"] = record
            marks["throughput"] = record.get("throughput")
            marks["flops"] = (record.get("model") or {}).get("complexity", {}).get("flops")
    finally:
        ablate.run.trainer.fit = real_fit
        torch.use_deterministic_algorithms(False)  # an ablate run switches it on for the process
    return marks


def extras(cfg, data, template, record: dict) -> dict:
    """Each thing ablate does beyond the bare loop, timed alone: seconds per epoch or per step."""
    import torch
    from torch import nn

    from ablate.models import build
    from ablate.run import record as runs
    from ablate.run.trainer import _progress, lr_factor, optimizer, save_checkpoint

    model = build(template, str(cfg.model.form)).to(memory_format=torch.channels_last)
    opt = optimizer(model, cfg.optim)
    steps = data.train.num_batches(int(cfg.optim.batch_size), True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg.optim, steps))
    x, y = next(iter(data.train.batches(int(cfg.optim.batch_size), train=True, epoch=0, seed=0)))
    out = model(x)
    nn.functional.cross_entropy(out, y).backward()
    opt.step()  # momentum buffers exist, as in a real checkpoint
    loss = nn.functional.cross_entropy(out.detach(), y)
    state = {"format": 1, "epoch": 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "scaler": None, "rng": {"torch": torch.get_rng_state()},
             "history": record.get("epochs", []), "config": record.get("config"), "template": template.to_dict()}
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)

    def metrics():
        nonlocal loss_sum, correct
        loss_sum += loss.detach().double() * y.shape[0]
        correct += (out.detach().argmax(1) == y).sum()

    typed = runs.RunRecord.from_dict(record)
    with tempfile.TemporaryDirectory(prefix="ablate-bench-") as d:
        path = os.path.join(d, "checkpoint.pt")
        per_epoch = {
            "checkpoint write": measure(lambda: save_checkpoint(path, state), warmup=1, repeats=5).median,
            "record write": measure(lambda: typed.save(d), warmup=1, repeats=5).median,
        }
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        bar = _progress(10**9, "bench", True)
        per_step = {"progress-bar update": measure_batched(lambda: bar.update(1), calls=1000).median}
        bar.close()
    per_step["metric accumulation"] = measure_batched(metrics, calls=200).median
    per_step["schedule step"] = measure_batched(sched.step, calls=200).median

    autocast = _autocast(cfg)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def timed_step(deterministic: bool) -> float:
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
        t0 = time.perf_counter()
        train_step()
        return time.perf_counter() - t0

    for _ in range(3):
        train_step()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False  # as in ablate's runs
    try:  # interleaved pairs, so a change in the machine's load hits both alike
        pairs = [(timed_step(False), timed_step(True)) for _ in range(20)]
    finally:
        torch.use_deterministic_algorithms(False)
        torch.utils.deterministic.fill_uninitialized_memory = fill
    plain = statistics.median(p for p, _ in pairs)
    change = statistics.median(d / p for p, d in pairs) - 1  # per pair, then the median
    per_step["deterministic algorithms (step time change)"] = change * plain
    return {"per_epoch": per_epoch, "per_step": per_step, "steps_per_epoch": steps}


def worker(s: dict) -> dict:
    import torch

    from ablate.config.loading import template_from_cfg
    from ablate.data import load

    cfg = _cfg(s)
    template = template_from_cfg(cfg.model)
    # warm-up: imports, file cache, oneDNN kernels
    bare_loop(_cfg({**s, "train_subset": 256, "val_subset": 256, "epochs": 1}), template)
    runs_out = []
    for kind in s["order"]:
        if kind == "bare":
            marks = bare_loop(cfg, template)
        else:
            marks = ablate_run(cfg)
            record = marks.pop("record")
        runs_out.append({"kind": kind, **marks})
    data = load(cfg.data, torch.device("cpu"), int(cfg.seed))
    return {"settings": s, "runs": runs_out, "threads": torch.get_num_threads(), "batch": int(cfg.optim.batch_size),
            "extras": extras(cfg, data, template, record)}


# ----------------------------------------------------------------------------- the group
def epoch_seconds(run: dict) -> list[float]:
    """Seconds of every epoch after the first (steady state)."""
    ends = run.get("ends", [])
    return [b - a for a, b in itertools.pairwise(ends)]


def epoch_cpu_seconds(run: dict) -> list[float]:
    """Process CPU seconds (all threads) of every epoch after the first: less sensitive than wall
    time to other processes on a shared machine, though spinning OpenMP threads still inflate it."""
    ends = run.get("cpu_ends", [])
    return [b - a for a, b in itertools.pairwise(ends)]


def paired_overheads(runs: list[dict]) -> list[float]:
    """ablate's epoch time over the bare loop's, minus 1, for each adjacent (bare, ablate) pair of runs
    in the order they ran (runs 0-1, 2-3, ...): each pair's medians over its steady epochs."""
    out = []
    for a, b in zip(runs[::2], runs[1::2], strict=False):  # an odd last run has no pair
        kinds = {a["kind"]: a, b["kind"]: b}
        if set(kinds) != {"bare", "ablate"}:
            continue
        e_bare, e_ablate = epoch_seconds(kinds["bare"]), epoch_seconds(kinds["ablate"])
        if e_bare and e_ablate:
            out.append(statistics.median(e_ablate) / statistics.median(e_bare) - 1)
    return out


def phases(run: dict) -> dict:
    """Seconds before training (data, model, record), of the first epoch, and after the last epoch."""
    ends = run.get("ends") or [run["end"]]
    return {"setup": run["fit_start"] - run["start"], "first_epoch": ends[0] - run["fit_start"],
            "after": run["end"] - ends[-1], "total": run["end"] - run["start"]}


LABELS = {"bare": "bare PyTorch loop", "ablate": "ablate run (`ablate.run.app.run`, default trainer)"}


def run(quick: bool, results: dict) -> dict:
    s = settings(quick)
    cmd = [sys.executable, "-m", "benchmarks.trainer", json.dumps(s)]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        message = f"the trainer comparison ran past {TIMEOUT} s (is the machine busy?)"
        return {"title": TITLE, "error": message, "notes": [message]}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        return {"title": TITLE, "error": tail, "table": {"headers": ["error"], "rows": [[tail[:300]]]}, "notes": []}
    out = json.loads(lines[-1])
    rows = []
    for kind in ("bare", "ablate"):
        done = [r for r in out["runs"] if r["kind"] == kind]
        epochs = [e for r in done for e in epoch_seconds(r)]
        cpu = [e for r in done for e in epoch_cpu_seconds(r)]
        ph = [phases(r) for r in done]
        rows.append({"kind": kind, "epoch_seconds": epochs, "epoch_cpu_seconds": cpu,
                     "epoch_median": statistics.median(epochs) if epochs else None,
                     "epoch_cpu_median": statistics.median(cpu) if cpu else None,
                     "phases": ph, "status": [r.get("status", "completed") for r in done],
                     **{f"{k}_mean": statistics.fmean(p[k] for p in ph) for k in ph[0]}})
    bare, ablate = rows
    pairs = paired_overheads(out["runs"])
    for r in rows:
        # per epoch: the median over adjacent bare/ablate pairs of their epoch-time ratio, so that the
        # shared machine's slow and fast spells (which last minutes) hit both sides of each pair alike
        r["pooled_overhead"] = r["epoch_median"] / bare["epoch_median"] - 1 \
            if r["epoch_median"] and bare["epoch_median"] else None
        r["overhead"] = 0.0 if r is bare else statistics.median(pairs) if pairs else r["pooled_overhead"]
        r["run_overhead"] = r["total_mean"] / bare["total_mean"] - 1
        r["cpu_overhead"] = r["epoch_cpu_median"] / bare["epoch_cpu_median"] - 1 \
            if r["epoch_cpu_median"] and bare["epoch_cpu_median"] else None

    def spread(r):
        e = r["epoch_seconds"]
        return f"± {(max(e) - min(e)) / 2 / r['epoch_median']:.0%}" if e else "–"

    table_rows = [[LABELS[r["kind"]], len(r["epoch_seconds"]),
                   f"{r['epoch_median']:.2f} s {spread(r)}" if r["epoch_median"] else "–",
                   "–" if r["kind"] == "bare" or r["overhead"] is None else f"{r['overhead']:+.1%}",
                   f"{r['epoch_cpu_median']:.2f} s" if r["epoch_cpu_median"] else "–",
                   "–" if r["kind"] == "bare" or r["cpu_overhead"] is None else f"{r['cpu_overhead']:+.1%}",
                   f"{r['setup_mean']:.2f} s", f"{r['first_epoch_mean']:.2f} s", f"{r['after_mean']:.2f} s",
                   f"{r['total_mean']:.1f} s", "–" if r["kind"] == "bare" else f"{r['run_overhead']:+.1%}"]
                  for r in rows]
    ex = out["extras"]
    steps = ex["steps_per_epoch"]
    bare_epoch = bare["epoch_median"] or float("nan")
    extra_rows = [[name, "per epoch", f"{sec * 1e3:.2f} ms", f"{sec / bare_epoch:.2%}"]
                  for name, sec in ex["per_epoch"].items()]
    extra_rows += [[name, f"per step × {steps}", f"{sec * 1e6:,.1f} µs", f"{sec * steps / bare_epoch:+.2%}"]
                   for name, sec in ex["per_step"].items()]
    notes = [f"Fashion-MNIST subset: {s['train_subset']} training and {s['val_subset']} validation images, "
             f"{s['epochs']} epochs per run, runs in the order {', '.join(s['order'])} (one process); batch "
             f"{out['batch']} (conf/optim/cpu.yaml), {out['threads']} threads, {steps} steps per epoch.",
             "per epoch: median over every epoch but each run's first (± half the range); overhead / epoch: the "
             "median over adjacent (bare, ablate) pairs of runs of their ratio ("
             + ", ".join(f"{x:+.1%}" for x in pairs) + f"; pooled over all runs: {ablate['pooled_overhead']:+.1%}), "
             "because this shared machine has slow and fast spells of a few minutes; CPU s: the process's "
             "CPU time (both threads) over the same epochs. setup: from the call to "
             "the start of training (ablate: record, budget, data with MD5 checks, model; bare: data, model); "
             "after: from the last epoch's end to the return (ablate: the peak-FLOP/s probe and the final record). "
             "Hydra's own start-up (`python -m ablate`) is outside both."]
    peak = results.get("ceilings", {}).get("fp32_flops_per_s")
    if peak:
        peak = max([peak, *results["ceilings"].get("fp32_later", [])])
    shares, rates = [], []
    for r in out["runs"]:
        tp = r.get("throughput") or {}
        if r["kind"] == "ablate" and tp.get("images_per_s") and r.get("flops"):
            rates.append(tp["images_per_s"])
            shares.append(6 * r["flops"] * tp["images_per_s"] / peak if peak else tp.get("fp32_fraction"))
    run_share = statistics.fmean(shares) if shares and all(x is not None for x in shares) else None
    if run_share is not None:
        notes.append(f"inside ablate's runs: {statistics.fmean(rates):,.0f} training img/s (the record's steady "
                     f"epochs), {run_share:.0%} of the fp32 matmul ceiling")
    return {"title": TITLE, "settings": s, "rows": rows, "extras": ex, "notes": notes,
            "overhead": ablate["overhead"], "pairs": pairs, "cpu_overhead": ablate["cpu_overhead"],
            "run_overhead": ablate["run_overhead"], "run_share": run_share,
            "table": {"headers": ["loop", "epochs timed", "per epoch (wall)", "overhead / epoch", "CPU s / epoch",
                                  "CPU overhead", "setup", "first epoch", "after", "whole run", "overhead / run"],
                      "rows": table_rows},
            "tables": [{"caption": "What ablate adds, each timed alone, as a share of the bare epoch",
                        "headers": ["extra", "when", "cost", "share of bare epoch"], "rows": extra_rows}]}


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(sys.argv[1]))), flush=True)

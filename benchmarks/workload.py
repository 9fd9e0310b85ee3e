"""One model workload: time a template's training and inference steps and their peak memory.

A `Workload` names a template, a batch, a block form, a memory format, compile on or off and a
precision. `run(workload)` builds the model (form c from a fixed seed, then `convert`ed, so every
form has the same weights), makes one random batch on the device, and times inference steps
(eval mode, no grad) and training steps (SGD with momentum, cross-entropy, `zero_grad`,
backward, step) with `timing.measure`. Nothing in a step reads a value back to the host.

Peak memory: on CUDA `torch.cuda.max_memory_allocated` per phase; on the CPU the process's
resident-set high-water mark above what the process held before the model was built, which is
only meaningful in a fresh process per workload: `run_isolated` starts one
(`python -m benchmarks.workload JSON`) and reads back its JSON line.

Imports only torch and ablate's engine and models (no Hydra), so the GPU check uses it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace

from benchmarks import machine
from benchmarks.timing import measure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Workload:
    """What to build and how to step it."""

    label: str
    template: dict = field(hash=False)  # the Template's fields
    batch: int = 8
    form: str = "c"
    channels_last: bool = True
    compile: bool = False
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    phases: tuple[str, ...] = ("infer", "train")
    warmup: int = 2
    repeats: int = 5
    device: str = "cpu"
    threads: int | None = None  # None: torch's default (every core)
    seed: int = 0
    cudnn_benchmark: bool = True  # CUDA: let cuDNN time its algorithms for each conv shape (grouped convs need it)

    def with_(self, **changes) -> Workload:
        return replace(self, **changes)

    def to_json(self) -> str:
        d = asdict(self)
        d["phases"] = list(self.phases)
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> Workload:
        d = json.loads(text)
        d["phases"] = tuple(d["phases"])
        return cls(**d)


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"


def run(w: Workload) -> dict:
    """Measure one workload in this process; every failure is recorded, never raised."""
    import torch
    import torch.nn.functional as F

    from ablate.engine.complexity import complexity
    from ablate.engine.template import Template
    from ablate.models import build, convert

    if w.threads:
        torch.set_num_threads(w.threads)
    device = torch.device(w.device)
    cuda = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else None
    if cuda:
        torch.backends.cudnn.benchmark = w.cudnn_benchmark
    template = Template(**{**w.template, "depths": tuple(w.template["depths"])})
    cx = complexity(template)
    out: dict = {"workload": json.loads(w.to_json()), "params": cx.params, "flops": cx.flops,
                 "threads": torch.get_num_threads(), "phases": {}}
    baseline = machine.rss()
    machine.reset_peak_rss()
    torch.manual_seed(w.seed)
    model = build(template, "c")
    if w.form != "c":
        model = convert(model, w.form)  # same weights as form c
    memory_format = torch.channels_last if w.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    g = torch.Generator().manual_seed(w.seed)
    shape = (w.batch, template.in_channels, template.resolution, template.resolution)
    x = torch.randn(shape, generator=g).to(device=device, memory_format=memory_format)
    y = torch.randint(0, template.num_classes, (w.batch,), generator=g).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=w.precision == "bf16")
    net = model
    if w.compile:
        net = torch.compile(model)

    def infer():
        with torch.no_grad(), autocast:
            net(x)

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train():
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for phase in w.phases:
        model.train(phase == "train")
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        else:
            machine.reset_peak_rss()
        try:
            t = measure(train if phase == "train" else infer, warmup=w.warmup, repeats=w.repeats, sync=sync)
        except Exception as e:  # a failed compile, out of memory: record it and go on
            out["phases"][phase] = {"error": _first_line(e)}
            continue
        if cuda:
            peak = torch.cuda.max_memory_allocated(device)
        else:
            hwm = machine.peak_rss()
            peak = hwm - baseline if hwm is not None and baseline is not None else None
        out["phases"][phase] = {"timing": t.as_dict(), "images_per_s": t.rate(w.batch), "peak_bytes": peak}
    return out


_compile_cache: str | None = None


def compile_cache() -> str:
    """An Inductor cache folder fresh for this benchmark run: compile times are cold-start times,
    the same on every run, not whatever an earlier run left in /tmp/torchinductor_$USER."""
    global _compile_cache
    if _compile_cache is None:
        import atexit
        import shutil
        import tempfile

        _compile_cache = tempfile.mkdtemp(prefix="ablate-bench-inductor-")
        atexit.register(shutil.rmtree, _compile_cache, ignore_errors=True)
    return _compile_cache


def run_isolated(w: Workload, timeout: float = 600) -> dict:
    """`run(w)` in a fresh Python process (own memory high-water mark, own torch state)."""
    cmd = [sys.executable, "-m", "benchmarks.workload", w.to_json()]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if w.compile:
        env["TORCHINDUCTOR_CACHE_DIR"] = compile_cache()
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"workload": json.loads(w.to_json()), "phases": {},
                "error": f"timed out after {timeout:.0f} s", "wall_seconds": time.perf_counter() - start}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " ".join(proc.stderr.strip().splitlines()[-1:]) or f"exit status {proc.returncode}"
        return {"workload": json.loads(w.to_json()), "phases": {}, "error": tail[:300],
                "wall_seconds": time.perf_counter() - start}
    out = json.loads(lines[-1])
    out["wall_seconds"] = time.perf_counter() - start
    return out


def main(argv: list[str]) -> None:
    print(json.dumps(run(Workload.from_json(argv[0]))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

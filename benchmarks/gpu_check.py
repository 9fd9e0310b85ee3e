"""The speed table of the GPU check: ResNeXt-50 32×4d and ResNet-50 training images/s, ablate's models
against timm's in the same loop on the same card, the grouped overhead, cuDNN's autotuner on and off, and
compiled cases where Triton can build.

Part (c) of `benchmarks/gpu.sh`; runs alone too:

    python benchmarks/gpu_check.py                       # on the GPU machine: bf16, channels_last, batch 256
    python benchmarks/gpu_check.py --device cpu --batch 2 --resolution 64 --steps 2 --warmup 1   # dry run

Made for a bare GPU machine: Python with torch (CUDA), no Hydra, OmegaConf or Optuna, no network. It imports
only torch, ablate's pure-Python engine and `ablate.models`, and timm where it is installed; it reads the model
configs from `conf/` with a ten-line reader of their flat YAML, and blocks Hydra, OmegaConf and Optuna as if
absent, so a dry run here proves it never needs them.

Every case runs one training loop (SGD with momentum, cross-entropy, autocast, channels_last, one random batch
on the device, `benchmarks.timing.measure`), whoever built the model. The cases run in child processes, one per
group: cuDNN's autotuner on (eager), off (eager), and compiled. A process keeps the algorithm plans cuDNN chose
while the autotuner was on, so "off" measured after "on" in one process would time the same plans; in its own
process it times what cuDNN picks without it. Compiled cases run only where a C compiler can build against
Python's headers (Triton compiles its launcher with them on first use); elsewhere they are listed as skipped with
the reason. A case that fails (out of memory, a failed compile) is a row with its error; a group that would
overrun `--budget` is skipped and marked so; SIGTERM (the wrapper's `timeout`) writes what is done.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCKED = ("hydra", "omegaconf", "optuna")
MODELS = ("resnet50", "resnext50_32x4d", "tiny")
SOURCES = ("ablate", "timm")
TIMM = {"resnet50": "resnet50", "resnext50_32x4d": "resnext50_32x4d"}  # ablate's model -> timm's name
# seconds, to plan the budget: a process's start (torch, CUDA context), an eager case (cuDNN's autotuning at the
# first step, warm-up, timed steps), a compiled case (cold Inductor compile of forward and backward, warm-up and
# timed steps: 95 s for ResNeXt-50 and 61 s for ResNet-50 on the H200 lent on 2026-12-04, 14 host cores)
START_ESTIMATE, EAGER_ESTIMATE, COMPILE_ESTIMATE = 15.0, 15.0, 100.0


def block_imports() -> None:
    """Make `import hydra` (omegaconf, optuna) fail as on a machine without them.

    A `None` in `sys.modules` is Python's own "this module is absent": `import` raises
    ModuleNotFoundError and `importlib.util.find_spec` returns None, as when it is not installed.
    """
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED and sys.modules[name] is not None:
            raise RuntimeError(f"{name} was imported before gpu_check could block it")
    for name in BLOCKED:
        sys.modules[name] = None


def scalar(text: str):
    """One YAML scalar or flow list of scalars, as the flat files in conf/ write them."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [scalar(x) for x in text[1:-1].split(",") if x.strip()]
    if text in ("", "null", "~"):
        return None
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip("'\"")


def read_flat_yaml(path: str) -> dict:
    """The top-level `key: value` pairs of a flat YAML file (no nesting, no multi-line values)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split(" #", 1)[0].rstrip()
            if not line or line.startswith(("#", " ", "\t", "-")) or ":" not in line:
                continue
            key, _, value = line.partition(":")
            out[key.strip()] = scalar(value)
    return out


def template_of(name: str):
    from dataclasses import fields

    from ablate.engine.template import Template

    cfg = read_flat_yaml(os.path.join(ROOT, "conf", "model", f"{name}.yaml"))
    kwargs = {f.name: cfg[f.name] for f in fields(Template) if f.name in cfg}
    kwargs["depths"] = tuple(kwargs["depths"])
    return Template(**kwargs)


def cpu_recipe_batch() -> int:
    return int(read_flat_yaml(os.path.join(ROOT, "conf", "optim", "cpu.yaml"))["batch_size"])


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    p.add_argument("--batch", type=int, default=256, help="batch of the 224×224 models (default 256)")
    p.add_argument("--resolution", type=int, default=224, help="input side of the ImageNet models (dry run: smaller)")
    p.add_argument("--tiny-batch", type=int, default=None, help="batch of the CPU template (default: its recipe's)")
    p.add_argument("--steps", type=int, default=30, help="timed training steps per case")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compiled cases: at least 3)")
    p.add_argument("--models", default="resnet50,resnext50_32x4d", help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--sources", default="ablate,timm", help="whose models: ablate, timm (skipped if not installed)")
    p.add_argument("--modes", default="eager,compiled", help="eager, compiled, or both")
    p.add_argument("--cudnn", default="on,off", help="cuDNN autotuner settings to time eager cases with: on, off")
    p.add_argument("--forms", default="c,b", help="ablate's ResNeXt-50 block forms to time eager (b: C explicit paths)")
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp32"), help="autocast dtype (default bf16)")
    p.add_argument("--budget", type=float, default=240.0, help="seconds; groups that would overrun are skipped")
    p.add_argument("--out", default=os.path.join(ROOT, "reports", "bench", "gpu.json"), help="JSON results file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: run one group's cases, JSON lines
    return p.parse_args(argv)


def _list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


class Stop(Exception):
    """SIGTERM: stop measuring, write what is done."""


def _stop(signum, frame):
    raise Stop()


# ----------------------------------------------------------------------------- what to run
def compiler_problem() -> str | None:
    """Why Triton could not build its launcher here (no C compiler, or none that compiles against Python.h),
    or None when it can: it compiles a small C module against this Python's headers on first use."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc or not (os.path.isfile(cc) or shutil.which(cc)):
        return f"no C compiler ({'CC=' + cc if cc else 'cc, gcc or clang on PATH'})"
    include = sysconfig.get_paths()["include"]
    if not os.path.isfile(os.path.join(include, "Python.h")):
        return f"no Python headers ({include}/Python.h; e.g. apt-get install python3-dev)"
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "check.c")
        with open(source, "w") as f:
            f.write("#include <Python.h>\nint check(void) { return PY_MAJOR_VERSION; }\n")
        try:
            proc = subprocess.run([cc, "-c", source, "-I", include, "-o", os.path.join(tmp, "check.o")],
                                  capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{cc} did not run ({type(e).__name__})"
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            return f"{cc} cannot compile against {include}/Python.h ({last[:120]})"
    return None


def timm_problem() -> str | None:
    """Why timm's models cannot be built here, or None."""
    import importlib.util

    return None if importlib.util.find_spec("timm") is not None else "timm is not installed"


def groups(args) -> list[dict]:
    """The child processes in the order they run, each a cuDNN setting and mode with its cases: eager with the
    autotuner on (ablate's and timm's models, ablate's ResNeXt in form b), eager with it off, then compiled."""
    models = [m for m in MODELS if m in _list(args.models)]
    sources = [s for s in SOURCES if s in _list(args.sources)]
    modes, cudnn = _list(args.modes), _list(args.cudnn)
    out = []

    def cases(mode: str, on: bool, srcs: list[str], forms=("c",)) -> list[dict]:
        rows = []
        for m in models:
            for s in srcs:
                if s == "timm" and m not in TIMM:
                    continue
                for form in forms if (s == "ablate" and m == "resnext50_32x4d") else ("c",):
                    rows.append({"model": m, "source": s, "mode": mode, "cudnn_benchmark": on, "form": form})
        return rows

    if "eager" in modes and "on" in cudnn:  # the other forms last: first to go when time runs out
        forms = tuple(f for f in ("c", "a", "b") if f in _list(args.forms)) or ("c",)
        eager = sorted(cases("eager", True, sources, forms), key=lambda c: c["form"] != "c")
        out.append({"name": "eager, cudnn.benchmark on", "cases": eager})
    if "eager" in modes and "off" in cudnn:
        out.append({"name": "eager, cudnn.benchmark off", "cases": cases("eager", False, ["ablate"])})
    if "compiled" in modes:  # ResNeXt first: with time for one cold compile only, the grouped model is timed
        compiled = sorted(cases("compiled", True, ["ablate"]), key=lambda c: c["model"] != "resnext50_32x4d")
        out.append({"name": "compiled, cudnn.benchmark on", "cases": compiled})
    return [g for g in out if g["cases"]]


def estimate(group: dict, cases: int | None = None) -> float:
    """Seconds the group's process needs for its first `cases` cases (all by default)."""
    per_case = COMPILE_ESTIMATE if group["cases"][0]["mode"] == "compiled" else EAGER_ESTIMATE
    return START_ESTIMATE + per_case * (len(group["cases"]) if cases is None else cases)


# ----------------------------------------------------------------------------- one process group
def build_model(case: dict):
    """ablate's model from conf/model/NAME.yaml, or timm's of the same name (random weights, no download)."""
    if case["source"] == "timm":
        import timm

        return timm.create_model(TIMM[case["model"]], pretrained=False)
    from ablate.models import build

    return build(template_of(case["model"]), case.get("form", "c"))


def run_case(case: dict, args) -> dict:
    """Time training steps of one case; every failure is recorded, never raised."""
    import torch
    import torch.nn.functional as F

    from benchmarks.timing import measure

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else None
    out: dict = {"case": case}
    tiny = case["model"] == "tiny"
    batch = (args.tiny_batch or cpu_recipe_batch()) if tiny else args.batch
    t = template_of(case["model"])
    side = t.resolution if tiny else args.resolution
    start = time.perf_counter()
    model = net = x = y = opt = None
    try:
        torch.manual_seed(0)
        model = build_model(case)
        out["params"] = sum(p.numel() for p in model.parameters())
        model = model.to(device=device, memory_format=torch.channels_last).train()
        net = torch.compile(model) if case["mode"] == "compiled" else model
        x = torch.randn(batch, t.in_channels, side, side, device=device).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, t.num_classes, (batch,), device=device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

        def step():
            opt.zero_grad(set_to_none=True)
            with autocast:
                loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()

        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        warmup = max(args.warmup, 3) if case["mode"] == "compiled" else args.warmup
        timing = measure(step, warmup=warmup, repeats=args.steps, sync=sync)
        out.update(batch=batch, resolution=side, timing=timing.as_dict(), images_per_s=timing.rate(batch),
                   peak_bytes=torch.cuda.max_memory_allocated(device) if cuda else None)
    except Exception as e:  # out of memory, a failed compile, timm missing a model: a row with its error
        out["error"] = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    finally:
        model = net = x = y = opt = None  # free the memory before the next case
        if case["mode"] == "compiled":
            torch._dynamo.reset()
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    out["wall_seconds"] = time.perf_counter() - start
    return out


def worker(group: dict, args) -> int:
    """Run one group's cases in this process and print one JSON line per case as it ends."""
    import torch

    if args.device.startswith("cuda"):
        if torch.device(args.device).index is not None:
            torch.cuda.set_device(torch.device(args.device))
        torch.backends.cudnn.benchmark = group["cases"][0]["cudnn_benchmark"]
    for case in group["cases"]:
        print(json.dumps(run_case(case, args), default=str), flush=True)
    return 0


def run_group(group: dict, args, seconds: float) -> list[dict]:
    """Run `group` in a child process for at most `seconds`; the cases it did not finish are rows saying so."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps({"group": group, "args": vars(args)})]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    error, stdout, stderr = None, "", ""
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds)
        stdout, stderr = proc.stdout, proc.stderr
        if proc.returncode:
            error = f"its process exited with status {proc.returncode}"
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        error = f"stopped at the group's time limit ({seconds:.0f} s)"
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if error:
        tail = " ".join(stderr.strip().splitlines()[-1:])[:200]
        for case in group["cases"][len(rows):]:
            rows.append({"case": case, "error": f"not measured: {error}" + (f" ({tail})" if tail else "")})
    return rows


# ----------------------------------------------------------------------------- the table
def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _key(case: dict, *drop: str) -> tuple:
    return tuple(v for k, v in sorted(case.items()) if k not in drop)


def ratios(results: list[dict]) -> dict:
    """The figures the targets read, from the rows (None where a row is missing): for each source, mode and cuDNN
    setting, ResNeXt-50 ÷ ResNet-50 step time (the grouped overhead); for each model and setting, ablate ÷ timm
    images/s; and each eager model's step time with the autotuner off ÷ on."""
    step = {_key(r["case"]): r["timing"]["median"] for r in results if "timing" in r}
    overhead, vs_timm, cudnn = {}, {}, {}
    for r in results:
        c = r["case"]
        s = step.get(_key(c))
        if s is None or c.get("form", "c") != "c":
            continue
        if c["model"] == "resnext50_32x4d":
            ref = step.get(_key({**c, "model": "resnet50"}))
            if ref:
                overhead[f"{c['source']}, {c['mode']}, cudnn {'on' if c['cudnn_benchmark'] else 'off'}"] = s / ref
        if c["source"] == "ablate":
            timm = step.get(_key({**c, "source": "timm"}))
            if timm:
                vs_timm[f"{c['model']}, {c['mode']}, cudnn {'on' if c['cudnn_benchmark'] else 'off'}"] = timm / s
            if c["mode"] == "eager" and not c["cudnn_benchmark"]:
                on = step.get(_key({**c, "cudnn_benchmark": True}))
                if on:
                    cudnn[c["model"]] = s / on
    return {"grouped_overhead": overhead, "ablate_vs_timm": vs_timm, "cudnn_off_vs_on": cudnn}


def table(results: list[dict]) -> str:
    r = ratios(results)
    lines = ["| model | source | form | mode | cudnn.benchmark | batch | train img/s | step | peak GiB | "
             "÷ ResNet-50 | ablate ÷ timm | note |", "|" + "---|" * 12]
    for row in results:
        c = row["case"]
        cudnn = "on" if c["cudnn_benchmark"] else "off"
        setting = f"{c['mode']}, cudnn {cudnn}"
        timing = row.get("timing")
        rate = f"{_num(row['images_per_s'])} ± {timing['spread']:.0%}" if timing else "–"
        peak = row.get("peak_bytes")
        over = r["grouped_overhead"].get(f"{c['source']}, {setting}") if c["model"] == "resnext50_32x4d" else None
        vs = r["ablate_vs_timm"].get(f"{c['model']}, {setting}") if c["source"] == "ablate" else None
        if c.get("form", "c") != "c":
            over = vs = None
        note = row.get("error", "")
        if timing and c["mode"] == "compiled":
            note = f"compile + warm-up {timing['warmup_seconds']:.0f} s"
        cells = [c["model"], c["source"], c.get("form", "c"), c["mode"], cudnn, row.get("batch", ""), rate,
                 f"{timing['median'] * 1e3:.1f} ms" if timing else "–", f"{peak / 2**30:.2f}" if peak else "–",
                 f"{over:.2f}×" if over else "", f"{vs:.2f}×" if vs else "", note[:140]]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    block_imports()
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    if args.worker:
        job = json.loads(args.worker)
        return worker(job["group"], argparse.Namespace(**{**job["args"], "worker": None}))
    import torch

    from ablate.engine.complexity import complexity
    from benchmarks import machine

    signal.signal(signal.SIGTERM, _stop)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: --device {args.device} but torch {torch.__version__} sees no CUDA device; "
              "use --device cpu for a dry run.", file=sys.stderr)
        return 2
    info = machine.describe(args.device)
    if args.device.startswith("cuda"):
        info["cudnn"] = torch.backends.cudnn.version()
    r50 = complexity(template_of("resnet50"))
    assert (r50.params, r50.flops) == (25_557_032, 4_089_184_256), "conf/model/resnet50.yaml misread"  # Table 1
    info["compiler"] = compiler_problem() or "ok"
    info["timm"] = timm_problem() or "ok"
    print(f"gpu_check: {json.dumps(info)}", flush=True)
    started = time.perf_counter()
    results: list[dict] = []
    try:
        for group in groups(args):
            cases = group["cases"]
            skip = None
            if cases[0]["mode"] == "compiled" and info["compiler"] != "ok":
                skip = f"skipped: {info['compiler']}, and Triton needs one to compile"
            if "timm" in {c["source"] for c in cases} and info["timm"] != "ok":
                results += [{"case": c, "error": f"skipped: {info['timm']}"} for c in cases if c["source"] == "timm"]
                cases = [c for c in cases if c["source"] != "timm"]
                group = {**group, "cases": cases}
            left = args.budget - (time.perf_counter() - started)
            if not skip and cases and estimate(group, 1) > left:  # a group starts when its first case fits
                skip = (f"skipped: {args.budget - left:.0f} s used of the {args.budget:.0f} s budget, this group's "
                        f"first case needs about {estimate(group, 1):.0f} s")
            if skip or not cases:
                results += [{"case": c, "error": skip} for c in cases]
                if skip:
                    print(f"gpu_check: {group['name']}: {skip}", flush=True)
                continue
            print(f"gpu_check: {group['name']}: {len(cases)} cases in one process ...", flush=True)
            rows = run_group(group, args, max(left, 1.0))
            for row in rows:
                c = row["case"]
                print(f"gpu_check:   {c['source']} {c['model']} form {c.get('form', 'c')}: "
                      f"{row.get('images_per_s', 0):,.1f} img/s {row.get('error', '')}", flush=True)
            results += rows
    except (Stop, KeyboardInterrupt):
        results.append({"case": {"model": "-", "source": "-", "mode": "stopped", "cudnn_benchmark": True},
                        "error": f"stopped by a signal after {time.perf_counter() - started:.0f} s"})
    text = table(results)
    seconds = time.perf_counter() - started
    report = {"machine": info, "args": vars(args), "seconds": seconds, "results": results,
              "ratios": ratios(results), "table": text}
    title = (f"{info.get('gpu', info['cpu'])}, torch {info['torch']}, {args.precision} autocast, channels-last, "
             f"batch {args.batch} at {args.resolution}², {seconds:.0f} s")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1, default=str)
        with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
            f.write(f"# GPU check: speed\n\n{title}\n\n{text}\n")
    except OSError as e:
        print(f"gpu_check: could not write {args.out}: {e}", file=sys.stderr)
    print(f"\n{title}")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The GPU check: ResNet-50 against ResNeXt-50 32×4d training images/s in bf16 autocast with
channels-last, eager and `torch.compile`d, plus the built-in CPU template, then one short table.

Made for a bare single-GPU machine: Python 3.12 and torch with CUDA, no Hydra, OmegaConf or
Optuna, no network. It imports only torch, ablate's pure-Python engine (`ablate.engine.template`,
`ablate.engine.complexity`) and `ablate.models`, and reads the model configs and the CPU recipe's batch
from `conf/` with a ten-line reader of their flat YAML. Hydra, OmegaConf and Optuna are blocked
as if absent, so a dry run here proves the script never needs them:

    benchmarks/gpu.sh                                     # on the GPU machine (< 8 minutes)
    python benchmarks/gpu_check.py --device cpu --steps 2 --batch 2 --modes eager   # dry run

Every case catches its own failure (a compile that fails, out of memory) and the table still
prints; cases that would overrun `--budget` seconds are skipped and marked so; SIGTERM (the
wrapper's `timeout`) prints what is done.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCKED = ("hydra", "omegaconf", "optuna")
MODELS = ("resnet50", "resnext50_32x4d", "tiny")
COMPILE_ESTIMATE = {"resnet50": 120.0, "resnext50_32x4d": 120.0, "tiny": 45.0}  # seconds, cold, to plan the budget
EAGER_ESTIMATE = 15.0


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
    p.add_argument("--batch", type=int, default=128, help="batch of the 224×224 models")
    p.add_argument("--tiny-batch", type=int, default=None, help="batch of the CPU template (default: its recipe's)")
    p.add_argument("--steps", type=int, default=30, help="timed training steps per case")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compiled cases: at least 3)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--modes", default="eager,compiled", help="eager, compiled, or both")
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp32"), help="autocast dtype (default bf16)")
    p.add_argument("--budget", type=float, default=420.0, help="seconds; cases that would overrun are skipped")
    p.add_argument("--out", default=os.path.join(ROOT, "reports", "bench", "gpu.json"), help="JSON results file")
    return p.parse_args(argv)


class Stop(Exception):
    """SIGTERM: stop measuring, print what is done."""


STOPPED = []


def _stop(signum, frame):
    STOPPED.append(signum)  # seen by the loop even if torch swallows the exception inside a compile
    raise Stop()


def cases(args) -> list[dict]:
    """The cases in the order they run: eager first (cheap, and the reference), then compiled."""
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    out = []
    for mode in ("eager", "compiled"):
        if mode not in modes:
            continue
        for m in MODELS:
            if m in models:
                out.append({"model": m, "mode": mode, "cudnn_benchmark": True})
        if mode == "eager" and args.device.startswith("cuda"):
            # the cuDNN autotuner's share: the same eager steps without it
            out += [{"model": m, "mode": mode, "cudnn_benchmark": False} for m in MODELS[:2] if m in models]
        if mode == "eager" and "resnext50_32x4d" in models:
            # form b (C explicit paths, concatenated) against c: what form=auto should pick on this device
            out.append({"model": "resnext50_32x4d", "mode": mode, "cudnn_benchmark": True, "form": "b"})
    return out


def run_case(case: dict, args) -> dict:
    import torch

    from benchmarks.workload import Workload, run

    t = template_of(case["model"])
    batch = (args.tiny_batch or cpu_recipe_batch()) if case["model"] == "tiny" else args.batch
    compiled = case["mode"] == "compiled"
    w = Workload(case["model"], t.to_dict(), batch=batch, form=case.get("form", "c"), channels_last=True,
                 compile=compiled,
                 precision=args.precision, phases=("train",), warmup=max(args.warmup, 3) if compiled else args.warmup,
                 repeats=args.steps, device=args.device, cudnn_benchmark=case["cudnn_benchmark"])
    start = time.perf_counter()
    try:
        r = run(w)
    finally:
        if compiled:
            torch._dynamo.reset()
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    r["wall_seconds"] = time.perf_counter() - start
    return r


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table(results: list[dict], args) -> str:
    def step(r):
        p = r.get("phases", {}).get("train", {})
        return p.get("timing", {}).get("median") if "timing" in p else None

    ref = {(r["case"]["mode"], r["case"]["cudnn_benchmark"]): step(r) for r in results
           if r["case"]["model"] == "resnet50" and step(r)}
    lines = ["| model | form | mode | cudnn.benchmark | batch | train img/s | step | peak GiB | ÷ ResNet-50 | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r["case"]
        p = r.get("phases", {}).get("train", {})
        s = step(r)
        rate = f"{_num(p['images_per_s'])} ± {p['timing']['spread']:.0%}" if s else "–"
        peak = p.get("peak_bytes")
        ratio = ref.get((c["mode"], c["cudnn_benchmark"]))
        rel = f"{s / ratio:.2f}×" if s and ratio and c["model"] == "resnext50_32x4d" else ""
        note = r.get("error") or p.get("error") or ""
        if s and c["mode"] == "compiled":
            note = f"compile + warm-up {p['timing']['warmup_seconds']:.0f} s"
        batch = r.get("workload", {}).get("batch", "")
        cudnn = "on" if c["cudnn_benchmark"] else "off"
        cells = [c["model"], c.get("form", "c"), c["mode"], cudnn, batch, rate, f"{s * 1e3:.1f} ms" if s else "–",
                 f"{peak / 2**30:.2f}" if peak else "–", rel, note[:120]]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    block_imports()
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
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
    print(f"gpu_check: {json.dumps(info)}", flush=True)
    started = time.perf_counter()
    results = []
    try:
        for case in cases(args):
            if STOPPED:
                raise Stop()
            elapsed = time.perf_counter() - started
            estimate = COMPILE_ESTIMATE[case["model"]] if case["mode"] == "compiled" else EAGER_ESTIMATE
            if elapsed + estimate > args.budget:
                results.append({"case": case, "error": f"skipped: {elapsed:.0f} s used of the {args.budget:.0f} s "
                                                       f"budget, this case needs about {estimate:.0f} s"})
                continue
            print(f"gpu_check: {case['model']} form {case.get('form', 'c')} {case['mode']} "
                  f"(cudnn.benchmark {case['cudnn_benchmark']}) ...",
                  flush=True)
            try:
                r = run_case(case, args)
            except Stop:
                raise
            except Exception as e:  # anything the workload did not catch itself
                r = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"}
            r["case"] = case
            p = r.get("phases", {}).get("train", {})
            print(f"gpu_check:   {r.get('wall_seconds', 0):.0f} s, "
                  f"{p.get('images_per_s', 0):,.1f} img/s {p.get('error', r.get('error', ''))}", flush=True)
            results.append(r)
    except (Stop, KeyboardInterrupt):
        results.append({"case": {"model": "-", "mode": "stopped", "cudnn_benchmark": True},
                        "error": f"stopped by a signal after {time.perf_counter() - started:.0f} s"})
    text = table(results, args)
    report = {"machine": info, "args": vars(args), "seconds": time.perf_counter() - started, "results": results,
              "table": text}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1, default=str)
        with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
            f.write(f"# GPU check\n\n{info.get('gpu', info['cpu'])}, torch {info['torch']}, "
                    f"{args.precision} autocast, channels-last, {time.perf_counter() - started:.0f} s\n\n{text}\n")
    except OSError as e:
        print(f"gpu_check: could not write {args.out}: {e}", file=sys.stderr)
    print(f"\n{info.get('gpu', info['cpu'])}, torch {info['torch']}, {args.precision} autocast, channels-last, "
          f"{time.perf_counter() - started:.0f} s")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

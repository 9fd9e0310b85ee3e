"""Every convolution of a model as the trainer runs it on the CPU (fp32, channels-last, `ablate.run.kernels`' swaps)
against float64 on the same input: `python -m tests.conv_check THREADS JSON` prints one JSON line per design, the
largest relative error of its outputs, input gradients and weight gradients, and where.

Run in a process of its own: a faulty kernel may corrupt memory, which must fail the test, not end pytest.
"""

from __future__ import annotations

import copy
import json
import sys

import torch
from torch import nn

from ablate.config.loading import load_template
from ablate.models import build
from ablate.run import kernels


def worst_error(design: dict) -> tuple[float, str]:
    template = load_template("tiny").replace(
        cardinality=design["C"], bottleneck_width=design["d"], width=design["width"],
        stem_width=design["stem_width"], depths=tuple(design["depths"]),
    )
    torch.manual_seed(0)
    ref = build(template, form=design["form"]).double()
    inputs: dict[str, tuple] = {}
    for name, m in ref.named_modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(lambda mod, args, out, name=name: inputs.setdefault(name, args[0].shape[1:]) and None)
    ref(torch.randn(2, 1, 28, 28, dtype=torch.float64))
    fast = copy.deepcopy(ref).float().to(memory_format=torch.channels_last)
    kernels.merge_groups(fast)
    kernels.subsample_strided_pointwise(fast)
    slow_mods, fast_mods = dict(ref.named_modules()), dict(fast.named_modules())
    worst, where = 0.0, ""
    for name, shape in inputs.items():
        x = torch.randn(16, *shape, dtype=torch.float64)
        xa = x.clone().requires_grad_()
        xb = x.float().contiguous(memory_format=torch.channels_last).requires_grad_()
        ya, yb = slow_mods[name](xa), fast_mods[name](xb)
        g = torch.randn_like(ya)
        ya.backward(g)
        yb.backward(g.float().contiguous(memory_format=torch.channels_last))
        pairs = {"output": (ya, yb), "input grad": (xa.grad, xb.grad),
                 "weight grad": (slow_mods[name].weight.grad, fast_mods[name].weight.grad)}
        for what, (a, b) in pairs.items():
            rel = ((a - b.double()).norm() / a.norm().clamp_min(1e-30)).item()
            if rel > worst:
                worst, where = rel, f"{name} {what} (input {tuple(shape)})"
    return worst, where


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]))
    for design in json.loads(sys.argv[2]):
        err, where = worst_error(design)
        print(json.dumps({"design": design, "error": err, "where": where}), flush=True)

"""Check ablate's models against a real torchvision install: same state-dict keys and shapes, and,
with torchvision's weights loaded (strict), the same outputs in every block form.

    python scripts/torchvision_check.py                  # torchvision importable in this Python
    python scripts/torchvision_check.py --write-fixture  # also rewrite tests/data/torchvision_resnet_keys.json

torchvision is not a dependency (CI checks the committed key fixture instead); this script is how that
fixture is made and how the claim "loads torchvision checkpoints" is verified. A torchvision wheel whose
compiled ops do not match the installed torch fails to import in `torchvision._meta_registrations`; the
models need none of those ops, so the script stubs that one module and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "torchvision_resnet_keys.json"
MODELS = ("resnet50", "resnext50_32x4d", "resnet101", "resnext101_32x4d", "resnext101_64x4d")
FIXTURE_MODELS = ("resnet50", "resnext50_32x4d")


def import_torchvision():
    """torchvision, and whether its compiled-ops registration had to be stubbed."""
    try:
        import torchvision  # noqa: F401
        return sys.modules["torchvision"], False
    except RuntimeError as e:  # "operator torchvision::nms does not exist": ops built for another torch
        if "torchvision::" not in str(e):
            raise
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    import torchvision
    return torchvision, True


def randomise(model) -> None:
    """Non-trivial weights and BN statistics, so equal outputs mean equal computation."""
    import torch

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                values = torch.rand(t.shape, generator=g, dtype=torch.float64) * 0.5 + 0.75 \
                    if name.endswith(("running_var", "bn1.weight", "bn2.weight", "bn3.weight")) \
                    else torch.randn(t.shape, generator=g, dtype=torch.float64) * 0.05
                t.copy_(values.to(t.dtype))


def check(name: str, tv) -> dict:
    import torch

    from ablate.config.loading import load_template
    from ablate.models import build, convert

    if hasattr(tv.models, name):
        reference = getattr(tv.models, name)()
    else:  # resnext101_32x4d has no torchvision builder: its ResNet class with the paper's C and d
        from torchvision.models.resnet import Bottleneck, ResNet
        reference = ResNet(Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=4)
    reference = reference.double().eval()
    randomise(reference)
    ours = build(load_template(name), "c").double()
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    mine = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    same_keys = list(theirs) == list(mine) and theirs == mine
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        want = reference(x)
        diffs = {form: (convert(ours, form).eval()(x) - want).abs().max().item() for form in ("c", "b", "a")}
    scale = want.abs().max().item()  # the logits' size: a difference of 0 means something only if this is not
    return {"model": name, "keys": len(theirs), "same_keys_and_shapes": same_keys,
            "params": sum(p.numel() for p in reference.parameters()), "max_abs_diff": diffs,
            "max_abs_logit": scale,
            "state": theirs if name in FIXTURE_MODELS else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write-fixture", action="store_true", help=f"rewrite {FIXTURE.relative_to(ROOT)}")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    try:
        tv, stubbed = import_torchvision()
    except ImportError:
        print("error: torchvision is not importable in this Python: `pip install --no-deps --target DIR "
              "torchvision` and set PYTHONPATH=DIR.", file=sys.stderr)
        return 2
    import torch

    print(f"torchvision {tv.__version__}, torch {torch.__version__}"
          + (" (torchvision's compiled-ops registration stubbed: it was built for another torch)" if stubbed else ""))
    print("| model | keys | same keys and shapes | params | max |logit| | max |Δ| form c | form b | form a |")
    print("|---|---|---|---|---|---|---|---|")
    results, ok = [], True
    for name in MODELS:
        r = check(name, tv)
        results.append(r)
        d = r["max_abs_diff"]
        ok &= r["same_keys_and_shapes"] and max(d.values()) < 1e-9 * max(r["max_abs_logit"], 1.0) \
            and r["max_abs_logit"] > 1e-3
        print(f"| {name} | {r['keys']} | {'yes' if r['same_keys_and_shapes'] else 'NO'} | {r['params']:,} | "
              f"{r['max_abs_logit']:.3g} | {d['c']:.1e} | {d['b']:.1e} | {d['a']:.1e} |", flush=True)
    if args.write_fixture:
        header = (f"Key -> shape of torchvision's {' and '.join(n + '()' for n in FIXTURE_MODELS)} state dicts, in "
                  f"state-dict order, written by scripts/torchvision_check.py from torchvision {tv.__version__} "
                  f"(torch {torch.__version__}). Check: the parameters (all keys but running_*/num_batches_tracked) "
                  "sum to 25,557,032 and 25,028,904 (Table 1).")
        fixture = {"header": header, **{r["model"]: {k: list(v) for k, v in r["state"].items()}
                                        for r in results if r["state"]}}
        FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"wrote {FIXTURE.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Carry a model's weights exactly from one bottleneck form to another (paper Fig. 3).

Every form has the same tensors, cut differently. Form c is the common ground: path i of forms
a and b owns rows i·d..(i+1)·d of c's conv1, bn1, conv2 (its group) and bn2, and in form a also
columns i·d..(i+1)·d of c's conv3 (the input channels that group feeds). So conversion merges
the source's paths into form c's tensors, then splits them into the target's paths.
"""

from __future__ import annotations

import re
from collections import defaultdict

import torch

from ablate.models.resnext import ResNeXt, build, resolve_form

_PATH_KEY = re.compile(r"^(?P<block>.+)\.paths\.(?P<path>\d+)\.(?P<tensor>.+)$")


def _path_dim(tensor: str) -> int | None:
    """Along which dim a path's tensor is a slice of form c's (None: shared, copied whole)."""
    if tensor.endswith("num_batches_tracked"):
        return None
    return 1 if tensor == "conv3.weight" else 0


def grouped_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict of any form as form c's: each block's paths merged into its grouped tensors."""
    out: dict[str, torch.Tensor] = {}
    paths: defaultdict[tuple[str, str], dict[int, torch.Tensor]] = defaultdict(dict)
    for key, value in state.items():
        m = _PATH_KEY.match(key)
        if m is None:
            out[key] = value
        else:
            paths[m["block"], m["tensor"]][int(m["path"])] = value
    for (block, tensor), by_path in paths.items():
        parts = [by_path[i] for i in range(len(by_path))]
        dim = _path_dim(tensor)
        out[f"{block}.{tensor}"] = parts[0] if dim is None else torch.cat(parts, dim)
    return out


def split_state(grouped: dict[str, torch.Tensor], keys, cardinality: int) -> dict[str, torch.Tensor]:
    """Form c's state dict cut into the tensors named by `keys` (another form's state-dict keys)."""
    out = {}
    for key in keys:
        m = _PATH_KEY.match(key)
        if m is None:
            out[key] = grouped[key]
            continue
        source = grouped[f"{m['block']}.{m['tensor']}"]
        dim = _path_dim(m["tensor"])
        out[key] = source if dim is None else source.chunk(cardinality, dim)[int(m["path"])]
    return out


def convert(model: ResNeXt, form: str) -> ResNeXt:
    """A new model of the same template in `form` (a, b, c or auto) with exactly the same weights.

    The result has the source's dtype, device and train/eval mode; its outputs equal the source's
    up to floating-point summation order. The source is left untouched (no shared storage).
    """
    form = resolve_form(form)
    reference = next(model.parameters())
    target = build(model.template, form).to(device=reference.device, dtype=reference.dtype)
    state = split_state(grouped_state(model.state_dict()), target.state_dict().keys(), model.template.cardinality)
    target.load_state_dict(state, strict=True)  # copies, so nothing is shared with `model`
    return target.train(model.training)

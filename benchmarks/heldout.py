"""A trained run's top-1 error on the validation images it was not scored on: its held-out error.

A search picks its best design by the val error of `data.val_subset` images (5,000 for `+sweep=search_pruning`,
1,000 until 2026-12-05): at ~25 % error a score on 1,000 images has a binomial standard error of about 1.4 points,
and the lowest of 24 such scores is lower, by luck, than the lowest of 8. So comparing two searches by their
own best scores favours the one that completed more trials, whatever designs it found (the winner's curse of
selection). The fair comparison scores the design each search picked on images neither saw: the rest of the
validation split.

`heldout_error(run_dir)` rebuilds the run's model from its record (template and block form), loads the weights of
its checkpoint, and evaluates it on every validation image outside the run's own `data.val_subset` (the same
seeded class-balanced subset `ablate.data.subset` drew, so the complement is exact), with the run's data
options otherwise (the same normalisation, measured on the same training subset), in fp32 on the CPU. It also
returns which of those images it got right, so two runs can be compared image by image (`paired_difference`:
the difference of their error rates with a 95 % interval from the paired per-image differences).
"""

from __future__ import annotations

from pathlib import Path


def heldout_error(run_dir: str | Path, scored: bool = False) -> dict:
    """{"err": %, "images": n, "correct": bool tensor [n]} of a completed run on the held-out validation images
    (`scored`: on the run's own subset instead, which gives back the error it recorded: a check of the rebuild).

    ValueError when the run used the whole validation split (nothing is held out) or has no checkpoint."""
    import torch
    from omegaconf import OmegaConf

    from ablate.data import load
    from ablate.data.subset import balanced_subset
    from ablate.engine.template import Template
    from ablate.models import build
    from ablate.run.record import RunRecord
    from ablate.run.trainer import CHECKPOINT, load_checkpoint

    run_dir = Path(run_dir)
    record = RunRecord.load(run_dir)
    if record is None or not (run_dir / CHECKPOINT).exists():
        raise ValueError(f"{run_dir} holds no record and checkpoint to evaluate")
    config = record.to_dict()["config"]
    size = config["data"].get("val_subset")
    if size is None:
        raise ValueError(f"{run_dir} was scored on the whole validation split: no image is held out")
    seed = int(config["seed"])
    template = Template(**record.model.template)
    net = build(template, form=record.model.form or "c")
    net.load_state_dict(load_checkpoint(run_dir / CHECKPOINT)["model"])
    net.eval()
    data = load(OmegaConf.create({**config["data"], "val_subset": None}), "cpu", seed)
    labels = data.val.labels
    held = torch.full((labels.numel(),), not scored, dtype=torch.bool)
    held[balanced_subset(labels, int(size), seed, template.num_classes)] = scored
    predictions = []
    with torch.no_grad():
        for x, _ in data.val.batches(500, train=False, epoch=0, seed=0):
            predictions.append(net(x).argmax(1))
    correct = (torch.cat(predictions) == labels)[held]
    return {"err": 100.0 * (1 - correct.double().mean().item()), "images": int(correct.numel()), "correct": correct}


def paired_difference(a: dict, b: dict) -> tuple[float, float, float]:
    """a's held-out error minus b's, in points, with its 95 % interval (the reports' t interval,
    `ablate.report.stats.interval`, over the paired per-image differences): both runs scored on the same images.
    Without spread (the two runs right on the same images) the interval is the mean alone."""
    import math

    from ablate.report.stats import interval

    if a["images"] != b["images"]:
        raise ValueError(f"the runs were held out on {a['images']} and {b['images']} images: not the same images")
    d = (b["correct"].double() - a["correct"].double()) * 100.0  # a's error minus b's, per image, in points
    ci = interval(d.tolist())
    if math.isnan(ci.low) or ci.low == ci.high:
        return ci.mean, ci.mean, ci.mean
    return ci.mean, ci.low, ci.high


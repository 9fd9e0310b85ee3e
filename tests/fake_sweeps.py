"""Sweep folders of hand-made `result.json` files (schema version 1) for the report tests: no training.

The records are written as plain JSON in the version-1 layout (tests/data/result_v1.json), which
every later reader must still accept, so these tests do not depend on how the run writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

ENV = {"torch": "2.13.0+cpu", "python": "3.11.7", "device": "cpu", "threads": 2, "seed": 0, "git_commit": None,
       "hostname": "testhost"}


def record(overrides: Iterable[str], seed: int | None, val_errs: Iterable[float] = (), *, status: str = "completed",
           reason: str | None = None, template=None, model: str = "tiny", config: Mapping | None = None,
           job_num: int | None = None, budget: Mapping | None = None, wall_seconds: float = 60.0) -> dict:
    """One run's record: `val_errs` is its validation top-1 error (%) per epoch; the last is its final error.

    `template` (an `ablate.engine.template.Template`) fills the model section with its closed-form complexity.
    """
    val_errs, overrides = list(val_errs), list(overrides)
    epochs = [{"epoch": i + 1, "train_loss": 1.0, "train_err": err - 3, "val_loss": 1.2, "val_err": err,
               "val_top5_err": err / 4, "lr": 0.1, "seconds": 1.0, "images_per_s": 50.0}
              for i, err in enumerate(val_errs)]
    out = {"schema_version": 1, "status": status, "reason": reason,
           "config": {"model": {"name": model}, "seed": seed, **(config or {})}, "config_hash": _hash(overrides, seed),
           "overrides": list(overrides), "job_num": job_num, "model": None, "budget": dict(budget) if budget else None,
           "epochs": epochs, "final": None, "best": None, "env": {**ENV, "seed": seed},
           "started_at": "2026-11-30T10:00:00+00:00", "finished_at": "2026-11-30T10:01:00+00:00",
           "wall_seconds": wall_seconds, "throughput": {}}
    if template is not None:
        from ablate.engine.complexity import complexity

        cx = complexity(template)
        out["model"] = {"name": model, "form": "c", "template": template.to_dict(), "stages": [],
                        "complexity": {"params": cx.params, "flops": cx.flops, "acts": cx.acts}}
    if epochs:
        last = epochs[-1]
        out["final"] = {k: last[k] for k in ("val_err", "val_top5_err", "val_loss", "train_err", "train_loss")}
        best = min(epochs, key=lambda e: e["val_err"])
        out["best"] = {"val_err": best["val_err"], "epoch": best["epoch"]}
    return out


def _hash(overrides: list[str], seed: int | None) -> str:
    """A config hash per member, as real records have: one config, one hash (the report counts a config once)."""
    return hashlib.sha256(json.dumps([sorted(overrides), seed]).encode()).hexdigest()[:16]


def write_record(root: Path, rec: dict) -> Path:
    """`rec` as `<root>/<overrides joined by commas>/result.json` (the folder Hydra's override_dirname gives)."""
    folder = Path(root) / (",".join(sorted(rec["overrides"])) or "run")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(rec, indent=2))
    return folder


def write_sweep(root: Path, errors: Mapping[str, Mapping[int, float]], *, extra: Iterable[str] = (),
                multirun: str | None = None) -> Path:
    """A sweep of one completed run per (setting, seed): `errors[setting][seed]` is its final top-1 error.

    A setting is one override (`model.cardinality=2`); `extra` overrides are common to every member.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if multirun is not None:
        (root / "multirun.yaml").write_text(multirun)
    job = 0
    for setting, by_seed in errors.items():
        for seed, err in by_seed.items():
            write_record(root, record([*setting.split(), *extra, f"seed={seed}"], seed, (err + 5, err), job_num=job))
            job += 1
    return root

"""The bad-input matrix: every refusal is one sentence, a known exit status, and costs no existing result.

One table, one row per distinct bad input: configs (types, ranges, unknown keys, unknown groups), budgets,
data files, checkpoints, command-line arguments and report folders. Each row runs the real command-line
entry point in this process (`ablate.__main__`'s Hydra app, `ablate.report`, `ablate.budget`,
`ablate.cli.describe`, with `sys.argv` set) and asserts the exit status and the exact text a user sees on
stderr: its one sentence (`ablate: ...` or `error: ...`), also for the errors Hydra raises while composing,
before ablate runs (unknown groups, options and keys), which `ablate.__main__.cli` says in ablate's voice.

Before the table runs, a completed run, a sweep holding it and that sweep's report exist. A row whose error
is found before training starts (model, budget, another run's checkpoint) targets that completed run's
directory, so it is refused without a word written over the completed record; a row whose error is found
only once training starts (data files, recipe, device) runs in a fresh directory; a checkpoint row runs in
a directory holding just that checkpoint (or just a record), which must stay as it was. After every row
the files of the completed run (but Hydra's own `.hydra/` and job log, which Hydra rewrites on each
launch), of the sweep, of its report and of the data folders hash as before.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from ablate.run import app, record as runs
from ablate.config import available, compose
from ablate.data import fashion_mnist
from ablate.report import write_report
from ablate.run.trainer import CHECKPOINT

SMALL = ["data=synthetic", "data.num_samples=128", "data.val_samples=64", "data.noise=16", "model.depths=[1,1]",
         "model.width=16", "model.bottleneck_width=8", "model.stem_width=16", "optim.batch_size=32", "optim.epochs=1",
         "trainer.progress=false", "trainer.num_threads=1", "trainer.peak_flops=1e11"]
MODELS = ", ".join(available("model"))
DATA_SETS = "cifar10, cifar100, fashion_mnist, imagenet, synthetic"
OPTIM_FIELDS = ("batch_size, decay_norm_and_bias, epochs, gamma, label_smoothing, lr, milestones, min_lr_factor, "
                "momentum, nesterov, schedule, warmup_epochs, warmup_start, weight_decay")
MODEL_FIELDS = ("depths, width, cardinality, bottleneck_width, block, stem, stem_width, in_channels, resolution, "
                "num_classes, shortcut, name, form, zero_init_last_bn")
TRIED = []  # (category, input, status, sentence) of every row, printed at the end (pytest -s)


@dataclass
class Case:
    id: str
    category: str
    command: str  # ablate | report | budget | describe
    args: list[str]  # {placeholders} filled from the world's paths
    status: int
    sentence: str | None  # the exact text on stderr (first line for Hydra's errors); {placeholders} filled
    # the run directory of an `ablate` row: the completed run's (existing), a new one (fresh), one that holds
    # only what `setup` put there (held), or none at all (none: the arguments alone)
    target: str = "existing"
    setup: str | None = None  # what to put into a held directory, or `reshaped` data
    line: str = "all"  # which stderr line is the sentence: all (the only one), first (Hydra), last (argparse)
    data: bool = False  # Fashion-MNIST from data.root instead of synthetic images


CASES = [
    # -- configs: types
    Case("type-cardinality", "config type", "ablate", ["model.cardinality=abc"], 2,
         "ablate: model.cardinality='abc' is invalid: it must be a whole number of at least 1."),
    Case("type-depths", "config type", "ablate", ["model.depths=3"], 2,
         "ablate: model.depths=3 is invalid: it must be a list such as [3,4,6,3]."),
    Case("type-shortcut", "config type", "ablate", ["model.shortcut=maybe"], 2,
         "ablate: model.shortcut='maybe' is invalid: it must be true or false."),
    Case("type-batch", "config type", "ablate", ["optim.batch_size=abc"], 2,
         "ablate: optim.batch_size='abc' is invalid: it must be a whole number of at least 1.", target="fresh"),
    Case("type-lr", "config type", "ablate", ["optim.lr=abc"], 2,
         "ablate: optim.lr='abc' is invalid: it must be a positive number such as 0.1, at most 3.4e+38 (the largest fp32 value).", target="fresh"),
    Case("type-momentum", "config type", "ablate", ["optim.momentum=abc"], 2,
         "ablate: optim.momentum='abc' is invalid: it must be a number at least 0 and below 1, e.g. 0.9.",
         target="fresh"),
    Case("type-milestones", "config type", "ablate", ["optim.milestones=abc"], 2,
         "ablate: optim.milestones='abc' is invalid: it must be a list of epochs such as [150,225].", target="fresh"),
    Case("range-smoothing", "config range", "ablate", ["optim.label_smoothing=1.5"], 2,
         "ablate: optim.label_smoothing=1.5 is invalid: it must be a number at least 0 and below 1, e.g. 0.1.",
         target="fresh"),
    Case("type-samples", "config type", "ablate", ["data.num_samples=abc"], 2,
         "ablate: data.num_samples='abc' is invalid: it must be a whole number of at least 1.", target="fresh"),
    Case("type-world", "config type", "ablate", ["trainer.world_size=two"], 2,
         "ablate: trainer.world_size='two' is invalid: give the number of DDP processes, 1 or more, or auto (the "
         "CPU: one single-threaded process per core of this job; CUDA: 1).", target="fresh"),
    # -- configs: ranges
    # Found by hand: the batch's split was checked in each DDP process, after a thousand had been started
    Case("range-world-split", "config range", "ablate", ["trainer.world_size=1000"], 2,
         "ablate: optim.batch_size=32 does not split over trainer.world_size=1000 processes: make it a multiple of "
         "the world size.", target="fresh"),
    Case("range-cardinality", "config range", "ablate", ["model.cardinality=0"], 2,
         "ablate: model.cardinality=0 is invalid: it must be a whole number of at least 1."),
    Case("range-width", "config range", "ablate", ["model.width=-64"], 2,
         "ablate: model.width=-64 is invalid: it must be a whole number of at least 1."),
    Case("range-block", "config range", "ablate", ["model.block=inception"], 2,
         "ablate: model.block='inception' is unknown: valid blocks are bottleneck, basic."),
    Case("range-lr", "config range", "ablate", ["optim.lr=-0.1"], 2,
         "ablate: optim.lr=-0.1 is invalid: it must be a positive number such as 0.1, at most 3.4e+38 (the largest fp32 value).", target="fresh"),
    Case("range-epochs", "config range", "ablate", ["optim.epochs=0"], 2,
         "ablate: optim.epochs=0 is invalid: it must be a whole number of at least 1.", target="fresh"),
    Case("range-batch", "config range", "ablate", ["optim.batch_size=4096"], 2,
         "ablate: optim.batch_size=4096 is larger than the 128 training images of "
         "synthetic/train: lower the batch size or use more images.", target="fresh"),
    Case("range-subset", "config range", "ablate", ["data.train_subset=20"], 2,  # the subset named as the cause
         "ablate: optim.batch_size=32 is larger than the 20 training images of "
         "synthetic/train: lower the batch size or use more images than data.train_subset=20.", target="fresh"),
    Case("range-resolution", "config range", "ablate", ["model.resolution=32"], 2,  # at compose time
         "ablate: model.resolution=32 does not fit data=synthetic, which has resolution 28: set model.resolution=28 "
         "or choose another data set."),
    Case("range-classes", "config range", "ablate", ["model.num_classes=7"], 2,
         "ablate: model.num_classes=7 does not fit data=synthetic, which has num_classes 10: set model.num_classes=10 "
         "or choose another data set.", target="fresh"),
    Case("range-device", "config range", "ablate", ["trainer.device=tpu"], 2,
         "ablate: trainer.device='tpu' is unknown: valid devices are auto, cpu, cuda or cuda:N.", target="fresh"),
    Case("range-schedule", "config range", "ablate", ["optim.schedule=linear"], 2,
         "ablate: optim.schedule='linear' is unknown: valid schedules are step, cosine.", target="fresh"),
    Case("range-form", "config range", "ablate", ["model.form=d"], 2,  # named as typed: model.form, not form
         "ablate: model.form='d' is unknown: valid forms are a, b, c, auto."),
    # -- configs: unknown keys and groups (Hydra's own errors, before ablate runs, said in ablate's voice)
    Case("unknown-key", "config unknown key", "ablate", ["model.foo=1"], 2,
         "ablate: model.foo=1: model has no field foo; its fields are {fields}."),
    Case("unknown-key-added", "config unknown key", "ablate", ["+model.foo=1"], 2,
         "ablate: model.foo is not a model field: valid fields are {fields}."),
    Case("unknown-optim-key-added", "config unknown key", "ablate", ["+optim.warmup_epoch=1"], 2,
         "ablate: optim.warmup_epoch is not an optim field: valid fields are {optim_fields}.", target="fresh"),
    Case("unknown-budget-key-added", "config unknown key", "ablate", ["+budget.scael=2"], 2,  # was ignored
         "ablate: budget.scael is not a budget field: valid fields are metric, reference, scale, scope, stage, "
         "target, tolerance, vary."),
    Case("budget-field-without-budget", "config unknown key", "ablate", ["budget.scale=2"], 2,  # found by hand:
         # the advice was "+budget.scale=2", which budget=none then ignored, training the model as written
         "ablate: budget.scale=2: budget=none (the default) has no field scale, it matches no budget: choose one "
         "with it, e.g. budget=params budget.scale=2 (or budget=flops)."),
    Case("budget-field-added-without-budget", "config unknown key", "ablate", ["+budget.scale=2"], 2,  # was
         # ignored: budget=none trained the model as written (complexity_2x's baseline, metric: null over a
         # whole budget node, still carries its sweep's fields)
         "ablate: budget.scale=2: budget=none (the default) has no field scale, it matches no budget: choose one "
         "with it, e.g. budget=params budget.scale=2 (or budget=flops)."),
    # Found by hand: budget.metric=params on budget=none (a budget asked for by its field) said "budget.target is
    # missing: give it a value", though budget=params, the way meant, sets no target (the model's own)
    Case("budget-metric-on-none", "budget", "ablate", ["budget.metric=params"], 2,
         "ablate: budget.metric='params' on budget=none (the default) leaves every other field of the budget unset: "
         "choose the budget's config instead, budget=params (its target: the model's own params)."),
    Case("budget-metric-acts-on-none", "budget", "describe", ["budget.metric=acts"], 2,
         "error: budget.metric='acts' on budget=none (the default) leaves every other field of the budget unset: "
         "choose the budget's config instead, budget=params budget.metric=acts (its target: the model's own acts).",
         target="none"),
    Case("variant-without-budget", "config unknown key", "ablate", ["+variant=wider"], 2,  # found by hand: the
         # sentence named budget.vary='bottleneck_width' as if typed, and its way on repeated it
         "ablate: +variant=wider sets budget.vary='bottleneck_width', which budget=none (the default) does not have: "
         "choose a budget with it, e.g. +variant=wider budget=params (or budget=flops)."),
    # Found by hand: describe and budget said it as if budget.vary had been typed, as the app once did
    Case("variant-without-budget-describe", "config unknown key", "describe", ["+variant=deeper"], 2,
         "error: +variant=deeper sets budget.vary='depth', which budget=none (the default) does not have: "
         "choose a budget with it, e.g. +variant=deeper budget=params (or budget=flops).", target="none"),
    Case("variant-without-budget-budget", "config unknown key", "budget", ["+variant=wider"], 2,
         "error: +variant=wider sets budget.vary='bottleneck_width', which budget=none (the default) does not have: "
         "choose a budget with it, e.g. +variant=wider budget=params (or budget=flops).", target="none"),
    Case("value-needs-hydra-quotes", "config type", "ablate", ["trainer.mlflow_uri=~/mlruns"], 2,  # found by hand:
         # the way on was "quote it for the shell, e.g. 'model.depths=[1,2,1,1]'", though the shell had quoted it
         """ablate: trainer.mlflow_uri=~/mlruns cannot be parsed: Hydra's grammar takes ~ in a value only inside """
         """quotes, which go inside the shell's: 'trainer.mlflow_uri="~/mlruns"'."""),
    Case("mlflow-folder-store", "config type", "ablate", ["trainer.loggers=[mlflow]", "trainer.mlflow_uri=mlruns"], 2,
         # found by hand: the run trained, and its MLflow logger stopped at once with MLflow 3's "The filesystem
         # tracking backend is in maintenance mode" (a warning): nothing was logged
         "ablate: trainer.mlflow_uri='mlruns' is a folder store, which the installed MLflow writes to only with "
         "MLFLOW_ALLOW_FILE_STORE=true: give a database such as trainer.mlflow_uri=sqlite:///mlruns/mlflow.db, or "
         "set MLFLOW_ALLOW_FILE_STORE=true.", target="fresh"),
    Case("unknown-group-option", "config unknown group", "ablate", ["model=nope"], 2,
         "ablate: model=nope is unknown: available model configs are {models}."),
    Case("unknown-data-set", "config unknown group", "ablate", ["data=nope"], 2,
         "ablate: data=nope is unknown: available data configs are {data_sets}."),
    Case("unknown-group", "config unknown group", "ablate", ["nogroup=x"], 2,
         "ablate: nogroup=x: the config has no group or field nogroup; its groups and fields are budget, data, "
         "model, optim, report, seed, trainer, +sweep, +variant, +repeats."),
    Case("unknown-data-name", "config unknown group", "ablate", ["data.name=nope"], 2,
         "ablate: data.name='nope' is unknown: available data sets are {data_sets}.", target="fresh"),
    Case("list-data-name", "config unknown group", "ablate", ["data.name=[nope]"], 2,  # was a TypeError traceback
         "ablate: data.name=[nope] is unknown: available data sets are {data_sets}.", target="fresh"),
    Case("list-data-choice", "config unknown group", "ablate", ["data=[nope]"], 2,  # was Hydra's search path
         "ablate: data=[nope] names nope, which is unknown: available data configs are {data_sets}.", target="none"),
    Case("list-data-kinds", "config unknown group", "ablate", ["data=[fashion_mnist,synthetic]"], 2,
         "ablate: data=[fashion_mnist,synthetic] merges data configs of different kinds (SyntheticData onto "
         "FashionMNISTData), which one config cannot be: choose one, or add -m to run one job each with "
         "data=fashion_mnist,synthetic.", target="none"),
    # noticed: fp16 on trainer.device=cpu was refused only inside the job, after its folder and a failed record
    Case("fp16-on-cpu", "config range", "ablate", ["trainer.precision=fp16", "trainer.device=cpu"], 2,
         "ablate: trainer.precision='fp16' needs a CUDA device, and trainer.device=cpu: use trainer.precision=bf16, "
         "fp32 or auto, or a CUDA device.", target="none"),
    Case("list-device", "config type", "ablate", ["trainer.device=[cpu]"], 2,  # was said as "['cpu']"
         "ablate: trainer.device=[cpu] is unknown: valid devices are auto, cpu, cuda or cuda:N.", target="fresh"),
    Case("list-vary", "budget", "ablate", ["budget=params", "budget.vary=[width,depth]"], 2,
         "ablate: budget.vary=[width,depth] is unknown: valid choices are bottleneck_width, width, cardinality, depth.",
         target="none"),
    # -- budgets
    Case("budget-infeasible", "budget", "ablate", ["budget=params", "budget.target=1000"], 2,
         "ablate: budget params=1,000 (budget.target=1000) is out of reach by varying bottleneck_width: this template "
         "needs at least 1,363; the reachable range is 1,363 and up."),
    Case("budget-scale-infeasible", "budget", "ablate", ["budget=params", "budget.scale=0.001"], 2,
         "ablate: budget params=208 (budget.scale=0.001 × tiny's 207,818 as its config file gives it, at "
         "depths=[1,1,1,1], width=32, stem_width=32 where this model has depths=[1,1], width=16, stem_width=16) is out "
         "of reach by varying bottleneck_width: this template needs at least 1,363; the reachable range is 1,363 and "
         "up."),
    Case("budget-zero", "budget", "ablate", ["budget=params", "budget.target=0"], 2,
         "ablate: budget.target=0 is invalid: it must be a positive, finite number."),
    Case("budget-negative", "budget", "ablate", ["budget=params", "budget.target=-5"], 2,
         "ablate: budget.target=-5 is invalid: it must be a positive, finite number."),
    Case("budget-metric", "budget", "ablate", ["budget=params", "budget.metric=latency"], 2,
         "ablate: budget.metric='latency' is unknown: valid metrics are params, flops, acts."),
    Case("budget-tolerance", "budget", "ablate", ["budget=params", "budget.tolerance=-0.1"], 2,
         "ablate: budget.tolerance=-0.1 is invalid: it must be a finite relative deviation of 0 or more, e.g. 0.05."),
    Case("budget-vary", "budget", "ablate", ["budget=params", "budget.vary=height"], 2,
         "ablate: budget.vary='height' is unknown: valid choices are bottleneck_width, width, cardinality, depth."),
    Case("budget-scale", "budget", "ablate", ["budget=flops", "budget.scale=0"], 2,
         "ablate: budget.scale=0 is invalid: it must be a positive number, e.g. 2.0."),
    # Found by hand (every field given [x] and {a:1}): a list or a mapping as the reference ended in Hydra's
    # MissingConfigException / OverrideParseException from inside the run, with a traceback file
    Case("budget-reference-list", "budget", "ablate", ["budget=params", "budget.reference=[resnet50]"], 2,
         "ablate: budget.reference=[resnet50] is invalid: give the name of a model config, such as resnet50, or "
         "null with budget.target set.", target="fresh"),
    Case("budget-reference-mapping", "budget", "ablate", ["budget=params", "budget.reference={{a:1}}"], 2,
         "ablate: budget.reference={{a:1}} is invalid: give the name of a model config, such as resnet50, or "
         "null with budget.target set.", target="fresh"),
    Case("type-depths-mapping", "config type", "ablate", ["model.depths={{a:1}}"], 2,  # was "Error merging override"
         "ablate: model.depths={{a:1}} is invalid: model.depths takes a list, not a mapping.", target="fresh"),
    Case("type-resolution-list", "config type", "ablate", ["report.resolution=[x]"], 2,  # was said as ['x']
         "ablate: report.resolution=[x] is invalid: the resolution δ must be a positive number of top-1 error "
         "points, such as 0.2.", target="fresh"),
    Case("budget-reference", "budget", "ablate", ["budget=params", "budget.reference=resnet5"], 2,  # not model=
         "ablate: budget.reference='resnet5' is unknown: available models are {models}."),
    # -- data (Fashion-MNIST from data.root)
    Case("data-missing", "data", "ablate", ["data.root={empty}"], 2,
         "ablate: Fashion-MNIST is missing: train-images-idx3-ubyte.gz is not in {empty}; run `apt-get install "
         "dataset-fashion-mnist`, put the four idx files in data.root, or set data.download=true.",
         target="fresh", data=True),
    Case("data-truncated", "data", "ablate", ["data.root={truncated}"], 2,
         "ablate: {truncated}/train-images-idx3-ubyte.gz is truncated or not a gzip file (Compressed file ended "
         "before the end-of-stream marker was reached); " + "{refetch}.", target="fresh", data=True),
    Case("data-checksum", "data", "ablate", ["data.root={tampered}"], 2,
         "ablate: {tampered}/train-labels-idx1-ubyte.gz has MD5 95ce876c4610dbdcf8a6a9223392e0a4 but the published "
         "file has 969ab6626fc081193c0a75800ae861cf: it is corrupt or another version, so training is refused; "
         "{refetch}.", target="fresh", data=True),
    Case("data-shape", "data", "ablate", ["data.root={reshaped}"], 2,
         "ablate: {reshaped}/train-images-idx3-ubyte.gz holds images of shape (40, 27, 27) but Fashion-MNIST has "
         "40×28×28; {refetch}.", target="fresh", data=True, setup="reshaped"),
    Case("data-root-file", "data", "ablate", ["data.root={afile}"], 2,
         "ablate: data.root='{afile}' is not a directory: point it at the folder holding the data files.",
         target="fresh", data=True),
    # -- checkpoints, each alone in a run directory
    Case("checkpoint-truncated", "checkpoint", "ablate", [], 2,
         "ablate: the checkpoint {run}/checkpoint.pt is unreadable (corrupt or not a torch file): {replace}.",
         target="held", setup="ckpt-truncated"),
    Case("checkpoint-architecture", "checkpoint", "ablate", ["model.cardinality=2", "model.bottleneck_width=4"], 2,
         "ablate: the checkpoint {run}/checkpoint.pt holds another architecture (model.bottleneck_width=8 there, 4 "
         "in this run): {replace}.", target="held", setup="ckpt-copy"),
    Case("checkpoint-not-ours", "checkpoint", "ablate", [], 2,
         "ablate: the checkpoint {run}/checkpoint.pt is not an ablate checkpoint of format 1: {replace}.",
         target="held", setup="ckpt-list"),
    Case("checkpoint-text", "checkpoint", "ablate", [], 2,
         "ablate: the checkpoint {run}/checkpoint.pt is unreadable (corrupt or not a torch file): {replace}.",
         target="held", setup="ckpt-text"),
    # -- a run directory that holds another run
    # Found by hand: a completed run's folder (record and checkpoint) run again with another config was refused by
    # its checkpoint ("delete checkpoint.pt or choose another run directory"), whose deletion only led to the
    # record's refusal; the record's sentence comes first, naming trainer.replace=true, which clears both
    Case("other-config-checkpoint", "run directory", "ablate", ["seed=5"], 2,
         "ablate: {existing} holds a completed run of another config (seed=0 there, 5 in this run; hash "
         "{existing_hash} there, {seed5_hash} in this run): choose another run directory, or add trainer.replace=true "
         "to replace it."),
    Case("other-config-record", "run directory", "ablate", ["seed=5"], 2,
         "ablate: {run} holds a completed run of another config (seed=0 there, 5 in this run; hash {existing_hash} "
         "there, {seed5_hash} in this run): choose another run directory, or add trainer.replace=true to replace it.",
         target="held",
         setup="record-only"),
    # -- command-line arguments
    Case("cli-ablate-flag", "cli", "ablate", ["--nonsense"], 2,
         "ablate: error: unrecognized arguments: --nonsense", target="none", line="last"),
    # Found by hand: -m with --cfg (to see a sweep's config) or --info ended in a ValueError traceback from Hydra
    Case("cli-m-and-cfg", "cli", "ablate", ["+sweep=cardinality_vs_width", "-m", "--cfg", "job"], 2,
         "ablate: -m and --cfg cannot be given together (Hydra does one of -m, --cfg, --info per command): drop -m "
         "to print the config a sweep's members start from (each member's own is in its folder's "
         ".hydra/config.yaml).", target="none"),
    Case("cli-m-and-info", "cli", "ablate", ["+sweep=cardinality_vs_width", "--info", "-m"], 2,
         "ablate: -m and --info cannot be given together (Hydra does one of -m, --cfg, --info per command): drop -m "
         "to see what --info shows for the config a sweep's members start from.", target="none"),
    # Found by hand: -cp naming a folder without config.yaml was said as `--config-name config is unknown`, a flag
    # not typed; a relative -cp was read from ablate's package folder and said in Hydra's words
    Case("cli-config-path-no-config", "cli", "ablate", ["-cp", "{empty}", "--cfg", "job"], 2,
         "ablate: -cp {empty} holds no config.yaml: --config-path replaces ablate's own configs with that folder's; "
         "to add configs of your own to ablate's, give --config-dir {empty}.", target="none"),
    Case("cli-config-path-relative", "cli", "ablate", ["--config-path", "myconf"], 2,
         "ablate: --config-path myconf is read from ablate's package folder, as Hydra reads a relative config path "
         "from the app's file, and is not a folder there: give an absolute path (--config-dir DIR adds configs of "
         "your own to ablate's).", target="none"),
    Case("cli-experimental-rerun-missing", "cli", "ablate", ["--experimental-rerun", "{nowhere}/config.pickle"], 2,
         "ablate: --experimental-rerun {nowhere}/config.pickle is not a file: give the config.pickle that Hydra's "
         "PickleJobInfoCallback wrote into a run's .hydra folder; to resume a run, run its command again with "
         "hydra.run.dir=ITS_FOLDER.", target="none"),
    # Found by hand: a mistyped --info choice was read as an override (the bare --info means all), and after
    # printing Hydra's info header the line ended in "defualts cannot be parsed (… missing EQUAL …)"
    Case("cli-info-unknown-choice", "cli", "ablate", ["--info", "defualts"], 2,
         "ablate: --info defualts is not one of its choices (did you mean defaults?): --info shows all, config, "
         "defaults, defaults-tree, plugins or searchpath, and all without one.", target="none"),
    # Found by hand: shell completion without its command, or with a shell Hydra has no plugin for, ended in a
    # ValueError traceback from Hydra (exit 1)
    Case("cli-shell-completion-no-command", "cli", "ablate", ["--shell-completion"], 2,
         "ablate: --shell-completion needs one command of install=SHELL, uninstall=SHELL or query=SHELL, with SHELL "
         "one of bash, fish, zsh: e.g. python -m ablate -sc install=bash.", target="none"),
    Case("cli-shell-completion-two-commands", "cli", "ablate", ["-sc", "install=bash", "uninstall=bash"], 2,
         "ablate: -sc needs one command of install=SHELL, uninstall=SHELL or query=SHELL, with SHELL one of bash, "
         "fish, zsh: e.g. python -m ablate -sc install=bash.", target="none"),
    Case("cli-shell-completion-shell", "cli", "ablate", ["-sc", "install=tcsh"], 2,
         "ablate: -sc install=tcsh names a shell Hydra has no completion for: give one of bash, fish, zsh.",
         target="none"),
    # Found by hand: a run or sweep folder that cannot be made (under a file, or a folder one cannot write) ended
    # in a NotADirectoryError traceback from Hydra's mkdir
    Case("run-dir-under-a-file", "run directory", "ablate", ["hydra.run.dir={afile}/run"], 2,
         "ablate: hydra.run.dir={afile}/run cannot be used: {afile}/run cannot be created (Not a directory); give a "
         "folder that can be written.", target="none"),
    Case("sweep-dir-under-a-file", "run directory", "ablate",
         ["model.cardinality=1,2", "hydra.sweep.dir={afile}/sweep", "-m"], 2,
         "ablate: hydra.sweep.dir={afile}/sweep cannot be used: {afile}/sweep cannot be created (Not a directory); "
         "give a folder that can be written.", target="none"),
    # Found by hand: a group added twice ended in Hydra's defaults-list words, "Multiple values for sweep. To override
    # a value use 'override sweep: search_budget'", after every override of the command line
    Case("group-added-twice", "config unknown group", "ablate", ["+sweep=cardinality_vs_width", "+sweep=search_budget", "-m"], 2,
         "ablate: +sweep=cardinality_vs_width and +sweep=search_budget both choose sweep, which takes one option: "
         "give one.", target="none"),
    # Found by hand: `--config-dir` naming a file said it "does not exist", and describe and the app said it in two
    # different sentences
    Case("config-dir-a-file", "cli", "ablate", ["--config-dir", "{afile}"], 2,
         "ablate: --config-dir {afile} is not a folder: give the folder that holds your config groups "
         "(DIR/model/NAME.yaml, DIR/sweep/NAME.yaml), e.g. examples/se_resnext.", target="none"),
    Case("config-dir-a-file-describe", "cli", "describe", ["--config-dir", "{afile}"], 2,
         "error: --config-dir {afile} is not a folder: give the folder that holds your config groups "
         "(DIR/model/NAME.yaml, DIR/sweep/NAME.yaml), e.g. examples/se_resnext.", target="none"),
    # Found by hand: --help lists the schema groups (its footer says they are not chosen on the command line), and
    # +schema=optim was refused as if schema/optim.yaml were a file of the user's with a missing package line
    # Found by hand: an empty list for a group (data=[]) composed no data node: a ValueError traceback from inside
    # the run (exit 1); model=[] said "model.name is missing", a field the user never touched
    Case("cli-empty-group-list", "cli", "ablate", ["data=[]"], 2,
         "ablate: data=[] chooses no data config (an empty list): choose one, data=NAME, or leave the override out "
         "(python -m ablate --help lists each group's options).", target="none"),
    Case("cli-empty-group-list-describe", "cli", "describe", ["model=[]"], 2,
         "error: model=[] chooses no model config (an empty list): choose one, model=NAME, or leave the override out "
         "(python -m ablate --help lists each group's options).", target="none"),
    Case("cli-empty-group-list-launcher", "cli", "ablate", ["hydra/launcher=[]", "-m"], 2,
         "ablate: hydra/launcher=[] chooses no hydra/launcher config (an empty list): choose one, hydra/launcher=NAME, "
         "or leave the override out (python -m ablate --help lists each group's options).", target="none"),
    Case("cli-schema-group", "cli", "ablate", ["+schema=optim"], 2,
         "ablate: +schema=optim chooses from schema, the group of the structured configs that check every YAML option, "
         "which is not chosen on the command line: choose an option of optim instead, optim=NAME (python -m ablate "
         "--help lists each group's options).", target="none"),
    Case("cli-schema-data-group", "cli", "ablate", ["schema/data=cifar"], 2,
         "ablate: schema/data=cifar chooses from schema/data, the group of the structured configs that check every "
         "YAML option, which is not chosen on the command line: choose an option of data instead, data=NAME (python -m "
         "ablate --help lists each group's options).", target="none"),
    Case("cli-schema-group-describe", "cli", "describe", ["+schema=trainer"], 2,
         "error: +schema=trainer chooses from schema, the group of the structured configs that check every YAML "
         "option, which is not chosen on the command line: choose an option of trainer instead, trainer=NAME (python -m "
         "ablate --help lists each group's options).", target="none"),
    # Found by hand: --package naming no node ended in Hydra's "package 'mdel' not found in config" and exit status 1
    Case("cli-package-unknown", "cli", "ablate", ["--cfg", "job", "--package", "mdel"], 2,
         "ablate: --package mdel names nothing that --cfg job shows (did you mean model?): give a dotted key of it, "
         "such as model, optim.lr or seed, or leave --package out for the whole config.", target="none"),
    Case("cli-package-null", "cli", "ablate", ["--cfg", "job", "-p", "data.root"], 2,
         "ablate: -p data.root names nothing that --cfg job shows (a key that is missing, or null): give a dotted key "
         "of it, such as model, optim.lr or seed, or leave -p out for the whole config.", target="none"),
    Case("cli-budget-cardinality", "cli", "budget", ["--cardinality", "0,x"], 2,
         "error: --cardinality='0,x' is invalid: give whole numbers of at least 1, e.g. 1,2,4,8,32."),
    # Found by hand: an empty entry (a number left out, `1,,2`) was dropped without a word
    Case("cli-budget-cardinality-empty", "cli", "budget", ["--cardinality", "1,,2"], 2,
         "error: --cardinality='1,,2' is invalid: give whole numbers of at least 1, e.g. 1,2,4,8,32.", target="none"),
    # Found by hand: a C given twice made two identical rows of Table 2
    Case("cli-budget-cardinality-twice", "cli", "budget", ["--cardinality", "1,1,2"], 2,
         "error: --cardinality='1,1,2' gives C=1 twice: give each cardinality once, e.g. 1,2."),
    Case("cli-budget-scale", "cli", "budget", ["--scale", "-1"], 2,
         "error: --scale=-1.0 is invalid: it must be a positive number, e.g. 2."),
    # Found by hand: a scale whose target is more than a float holds was said as `budget.target=inf is invalid`
    Case("cli-budget-scale-huge", "cli", "budget", ["--scale", "1e308"], 2,
         "error: --scale=1e+308 is too large: 1e+308 × tiny's 207,818 params is more than a float holds; give a "
         "scale of at most 8.65e+302."),
    Case("budget-scale-huge", "budget", "ablate", ["budget=params", "budget.scale=1e308"], 2,
         "ablate: budget.scale=1e+308 is too large: 1e+308 × tiny's 207,818 params is more than a float holds; give a "
         "scale of at most 8.65e+302."),
    # Found by hand: the flag's sentence named the config field (`budget.tolerance=-0.1 is invalid`), not the flag;
    # an infinite tolerance, which makes every design "fit", was taken
    Case("cli-budget-tolerance", "cli", "budget", ["--tolerance", "-0.1"], 2,
         "error: --tolerance=-0.1 is invalid: it must be a finite relative deviation of 0 or more, e.g. 0.05."),
    Case("cli-budget-tolerance-inf", "cli", "budget", ["--tolerance", "inf"], 2,
         "error: --tolerance=inf is invalid: it must be a finite relative deviation of 0 or more, e.g. 0.05."),
    Case("cli-budget-metric", "cli", "budget", ["--metric", "latency"], 2,
         "python -m ablate.budget: error: argument --metric: invalid choice: 'latency' (choose from 'params', "
         "'flops', 'acts')", line="last"),
    Case("cli-budget-stage", "cli", "budget", ["model=tiny", "--vary", "depth", "--stage", "5"], 2,
         "error: --stage=5 is invalid: this template has stages 0 to 3."),  # it was said in each of 5 rows
    Case("cli-budget-stage-without-depth", "cli", "budget", ["model=tiny", "--stage", "2"], 2,
         "error: --stage=2 is used only when the solver varies depth: with --vary='bottleneck_width' every stage "
         "changes; drop --stage, or vary depth."),
    # Found by hand: the sentence said `--vary='depth' ... at scope='block' ... use scope='network'`, flag and field
    # names mixed in one sentence
    Case("cli-budget-depth-at-block-scope", "cli", "budget", ["model=tiny", "--vary", "depth", "--scope", "block"], 2,
         "error: --vary='depth' cannot meet a budget at --scope='block': a block's cost does not depend on depth; use "
         "--scope='network'."),
    Case("budget-stage-without-depth", "budget", "ablate", ["budget=params", "budget.stage=2"], 2,
         "ablate: budget.stage=2 is used only when the solver varies depth: with budget.vary='bottleneck_width' every "
         "stage changes; drop budget.stage, or vary depth."),
    Case("cli-describe-model", "cli", "describe", ["model=nope"], 2,
         "error: model=nope is unknown: available model configs are {models}."),
    Case("cli-report-no-dir", "cli", "report", [], 2,
         "python -m ablate.report: error: the following arguments are required: SWEEP_DIR", line="last"),
    # Found by hand: a single run took any report option (it writes no report), even one every sweep refuses
    Case("range-report-resolution-single-run", "config range", "ablate", ["report.resolution=-1"], 2,
         "ablate: report.resolution=-1 is invalid: the resolution δ must be a positive number of top-1 error "
         "points, such as 0.2."),
    # -- a sweep's own options (its report's), refused before any member runs: a sweep that trains for an hour
    # and then cannot write its report is the bad input found too late; the existing sweep folder is the target
    Case("sweep-resolution", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "report.resolution=0", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: report.resolution=0 is invalid: the resolution δ must be a positive number of top-1 error "
         "points, such as 0.2.", target="none"),
    Case("sweep-reference", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", 'report.reference="model.cardinality=3"', "hydra.sweep.dir={sweep}", "-m"],
         2, "ablate: report.reference='model.cardinality=3' is not a setting of this sweep: give one of "
            "'model.cardinality=1' (1×12d), 'model.cardinality=2' (2×8d), 'model.cardinality=4' (4×5d), "
            "'model.cardinality=8' (8×3d), 'model.cardinality=32' (32×1d).", target="none"),
    # Found by hand: a reference by label or value was checked only when the report was written, after every
    # member had trained
    Case("sweep-reference-label", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "report.reference=1x99d", "hydra.sweep.dir={sweep}", "-m"],
         2, "ablate: report.reference='1x99d' is not a setting of this sweep: give one of "
            "'model.cardinality=1' (1×12d), 'model.cardinality=2' (2×8d), 'model.cardinality=4' (4×5d), "
            "'model.cardinality=8' (8×3d), 'model.cardinality=32' (32×1d).", target="none"),
    Case("sweep-reference-unquoted", "sweep", "ablate",  # Hydra's grammar takes no second = in a value
         ["+sweep=cardinality_vs_width", "report.reference=model.cardinality=1", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: report.reference=model.cardinality=1 cannot be parsed: a value that holds = is quoted for Hydra "
         """inside the shell's quotes: 'report.reference="model.cardinality=1"'.""", target="none"),
    # Found by hand: a sweep function Hydra parses but cannot evaluate was told to be quoted for the shell, as a
    # value the shell had split would be; what is wrong is the function's arguments
    Case("sweep-repeats-one-setting", "sweep", "ablate", ["+repeats=auto", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: +repeats=auto adds seeds where a setting's verdict against the reference is undecided, and this "
         "sweep has one setting: sweep a field, such as model.cardinality=1,2,4, or run fixed repeats without it: "
         "seed=0,1,2.", target="none"),
    # Found by hand, giving every field of the Optuna sweeper [x] and {a:1}: Hydra's "Error merging override" for a
    # text field; Python's repr of the pruner node; a mapping for direction said as its first key ('a')
    Case("sweep-study-name-list", "sweep", "ablate",
         ["hydra/sweeper=ablate_optuna", "model.cardinality=choice(1,2)", "hydra.sweeper.study_name=[x]",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.study_name=[x] is invalid: it must be a text.", target="none"),
    Case("sweep-objectives-text", "sweep", "ablate",
         ["hydra/sweeper=ablate_optuna", "model.cardinality=choice(1,2)", "hydra.sweeper.objectives=final.val_err",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.objectives=final.val_err is invalid: hydra.sweeper.objectives takes a list, such as "
         "hydra.sweeper.objectives=[final.val_err].", target="none"),
    Case("sweep-pruner-list", "sweep", "ablate",
         ["hydra/sweeper=ablate_optuna", "model.cardinality=choice(1,2)", "hydra.sweeper.pruner=[x]",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.pruner=[x] has no _target_: name a class in optuna.pruners, e.g. "
         "{{_target_: optuna.pruners.MedianPruner}}, or give null.", target="none"),
    # Found in a second read: a pruner on a maximized objective of ablate's app was judging the val error its trainer
    # reports after each epoch as if higher were better, so it stopped the best trials
    Case("sweep-pruner-maximized", "sweep", "ablate",
         ["hydra/sweeper=ablate_optuna", "model.cardinality=choice(1,2)", "hydra.sweeper.n_trials=1",
          "hydra.sweeper.direction=[minimize,maximize]", "hydra.sweeper.objectives=[return,throughput.images_per_s]",
          "hydra.sweeper.prune_objective=throughput.images_per_s",
          "hydra.sweeper.pruner={{_target_:optuna.pruners.MedianPruner}}", "data=synthetic", "data.num_samples=128",
          "data.val_samples=32", "optim.epochs=1", "model.depths=[1,1]", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.prune_objective=throughput.images_per_s is maximized, and ablate's trainer reports "
         "val_err after each epoch (hydra.sweeper.prune_on), which is better lower: the pruner would stop the best "
         "trials; prune on a minimized objective, e.g. hydra.sweeper.prune_objective=return.", target="none"),
    Case("sweep-pruner-maximize-one", "sweep", "ablate",
         ["hydra/sweeper=ablate_optuna", "model.cardinality=choice(1,2)", "hydra.sweeper.direction=maximize",
          "hydra.sweeper.pruner={{_target_:optuna.pruners.MedianPruner}}", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.direction=maximize is set with a pruner, and ablate's trainer reports val_err after "
         "each epoch (hydra.sweeper.prune_on), which is better lower: the pruner would stop the best trials; minimize "
         "the objective, or give hydra.sweeper.pruner=null.", target="none"),
    Case("sweep-direction-mapping", "sweep", "ablate",
         ["hydra/sweeper=ablate_optuna", "model.cardinality=choice(1,2)", "hydra.sweeper.direction={{a:1}}",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.direction={{a:1}} is invalid: give minimize or maximize, or a list of them.",
         target="none"),
    # Found by hand: a mapping for the repeats sweeper's params ended in an AttributeError traceback from OmegaConf
    # (it cannot merge a node into a null Dict); a text for compare was read for its letters ([r,e,s,n,e,t]); a list
    # for samples was said as Python's repr of OmegaConf's ListConfig
    Case("sweep-repeats-params-mapping", "sweep", "ablate",
         ["+repeats=auto", "model.cardinality=1,2", "hydra.sweeper.params={{a:1}}", "hydra.sweep.dir={sweep}", "-m"],
         2, "ablate: hydra.sweeper.params={{a:1}}: hydra.sweeper.params has no field a; a node in braces merges into "
            "the config's own hydra.sweeper.params without adding keys: to add them, write "
            "'+hydra.sweeper.params={{a:1}}'; to replace the node, set it to null first: hydra.sweeper.params=null "
            "'hydra.sweeper.params={{a:1}}'.", target="none"),
    Case("sweep-design-compare-text", "sweep", "ablate",
         ["+sweep=design_spaces", "hydra.sweeper.compare=resnet", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.compare='resnet' is invalid: give a list of the spaces to compare, such as "
         "hydra.sweeper.compare=[resnet,resnext], or null for every space defined (resnet, resnext).",
         target="none"),
    Case("sweep-design-samples-list", "sweep", "ablate",
         ["+sweep=design_spaces", "hydra.sweeper.samples=[x]", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.samples=[x] is invalid: give a whole number of at least 2 designs per space (an "
         "error distribution and a test between spaces need two or more).", target="none"),
    # Found by hand: a value given twice (seed=0,0) launched the same run twice into one folder: the second member
    # found it done, or, on the joblib launcher, logged an ERROR that the folder was in use by the first
    Case("sweep-duplicate-value", "sweep", "ablate", ["model.cardinality=1,2,1", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: model.cardinality=1,2,1 gives model.cardinality=1 twice: each value is one setting, run once in its "
         "own folder, so give it once.", target="none"),
    Case("sweep-empty-choice", "sweep", "ablate",
         ["model.cardinality=choice()", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: model.cardinality=choice() cannot be evaluated: choice() raised ValueError: empty choice is not "
         "legal.", target="none"),
    # Found by hand: joblib's n_jobs=0 ended the sweep in a ValueError traceback from joblib (exit 1)
    Case("launcher-joblib-zero-jobs", "sweep", "ablate",
         ["hydra/launcher=joblib", "hydra.launcher.n_jobs=0", "model.cardinality=1,2", "hydra.sweep.dir={sweep}", "-m"],
         2, "ablate: hydra.launcher.n_jobs=0 is invalid: give how many jobs run at once, 1 or more (or -1 for one per "
            "core, as joblib counts).", target="none"),
    # Found by hand: joblib's backend=threading (or any other) was dropped silently: Hydra's launcher runs loky
    # Found by hand, giving every joblib field a value it cannot run: prefer, require, batch_size, pre_dispatch and
    # max_nbytes ended in joblib's ValueError traceback once the sweep had started
    Case("launcher-joblib-prefer", "sweep", "ablate",
         ["hydra/launcher=joblib", "hydra.launcher.prefer=x", "model.cardinality=1,2", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: hydra.launcher.prefer=x is invalid: give processes, threads or null.", target="none"),
    Case("launcher-joblib-batch-size", "sweep", "ablate",
         ["hydra/launcher=joblib", "hydra.launcher.batch_size=x", "model.cardinality=1,2", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: hydra.launcher.batch_size=x is invalid: give auto or a whole number of at least 1.", target="none"),
    Case("launcher-joblib-pre-dispatch", "sweep", "ablate",
         ["hydra/launcher=joblib", "hydra.launcher.pre_dispatch=x", "model.cardinality=1,2", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: hydra.launcher.pre_dispatch=x is invalid: give all, a whole number, or an expression of n_jobs such "
         "as 2*n_jobs.", target="none"),
    Case("launcher-joblib-max-nbytes", "sweep", "ablate",
         ["hydra/launcher=joblib", "hydra.launcher.max_nbytes=x", "model.cardinality=1,2", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: hydra.launcher.max_nbytes=x is invalid: give a size such as 1M, 500K or 10G, or null.",
         target="none"),
    Case("launcher-submitit-tasks", "sweep", "ablate",  # was submitit's "AssertionError: Nothing to do!" traceback
         ["hydra/launcher=submitit_local", "hydra.launcher.tasks_per_node=0", "model.cardinality=1,2",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.launcher.tasks_per_node=0 is invalid: give the processes each member runs, 1 or more "
         "(ablate's DDP takes its processes from trainer.world_size; 1 is right for it).", target="none"),
    # Found by hand, giving Ray's launcher fields it cannot run: a member asking for more CPUs (or GPUs) than the Ray
    # started here has waited without end; a negative count, a misspelt option ended in Ray's traceback
    Case("launcher-ray-too-many-cpus", "sweep", "ablate",
         ["hydra/launcher=ray", "hydra.launcher.ray.init.address=local", "+hydra.launcher.ray.init.num_cpus=2",
          "+hydra.launcher.ray.remote.num_cpus=3", "model.cardinality=1,2", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: +hydra.launcher.ray.remote.num_cpus=3: each member asks Ray for 3 CPUs, and the Ray that "
         "hydra/launcher=ray starts on this machine has 2 (hydra.launcher.ray.init.num_cpus): no member could ever "
         "start (Ray would wait without end); ask for at most 2, or give the address of a Ray cluster that has them "
         "in hydra.launcher.ray.init.address.", target="none"),
    Case("launcher-ray-no-cpu", "sweep", "ablate",
         ["hydra/launcher=ray", "hydra.launcher.ray.init.address=local", "+hydra.launcher.ray.init.num_cpus=0",
          "model.cardinality=1,2", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: +hydra.launcher.ray.init.num_cpus=0: the Ray that hydra/launcher=ray starts on this machine would "
         "have no CPU, and each member asks for 1 (a Ray task's default): no member could ever start (Ray would wait "
         "without end); give it 1 or more, or null for this machine's cores.", target="none"),
    Case("launcher-ray-negative", "sweep", "ablate",
         ["hydra/launcher=ray", "+hydra.launcher.ray.remote.num_gpus=-1", "model.cardinality=1,2",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: +hydra.launcher.ray.remote.num_gpus=-1 is invalid: the quantity of resource num_gpus cannot be "
         "negative.", target="none"),
    Case("launcher-ray-type", "sweep", "ablate",
         ["hydra/launcher=ray", "+hydra.launcher.ray.remote.max_retries=x", "model.cardinality=1,2",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: +hydra.launcher.ray.remote.max_retries=x is invalid: Ray takes a whole number or null there.",
         target="none"),
    Case("launcher-joblib-backend", "sweep", "ablate",
         ["hydra/launcher=joblib", "hydra.launcher.backend=threading", "model.cardinality=1,2",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.launcher.backend=threading would be ignored: Hydra's joblib launcher always runs loky "
         "(one process per job); drop it, or give hydra.launcher.backend=loky.", target="none"),
    # Found by hand: submitit's SLURM launcher off a cluster, and a timeout of 0 minutes, ended in tracebacks (exit 1)
    Case("launcher-slurm-off-cluster", "sweep", "ablate",
         ["hydra/launcher=submitit_slurm", "model.cardinality=1,2", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra/launcher=submitit_slurm submits to a SLURM cluster, and this machine has no srun: run the "
         "command on the cluster's login node, or launch here with hydra/launcher=submitit_local or joblib.",
         target="none"),
    Case("launcher-submitit-timeout", "sweep", "ablate",
         ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=0", "model.cardinality=1,2",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.launcher.timeout_min=0 is invalid: give the minutes each member may run, 1 or more (submitit "
         "stops a member at its timeout).", target="none"),
    # Found by hand: the basic sweeper's max_batch_size=0 (or -1) ended in an AssertionError traceback (exit 1)
    Case("sweeper-batch-size-zero", "sweep", "ablate",
         ["hydra.sweeper.max_batch_size=0", "model.cardinality=1,2", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.max_batch_size=0 is invalid: give how many members to launch at a time, 1 or more, "
         "or null for all at once.", target="none"),
    # Found by hand: a sweep of no values launched nothing and ended in "no member of the sweep recorded a result:
    # … holds no runs"
    Case("sweep-no-values", "sweep", "ablate",
         ["model.cardinality=range(5,1)", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: model.cardinality=range(5,1) gives no value to sweep: give at least one, e.g. "
         "model.cardinality=1,2 (range(start,stop) counts up from start and stops before stop).", target="none"),
    # Found by hand: a constant override that every member's config refuses ran the sweep anyway, each member
    # recorded failed, and the sweep ended "2 of 2 members failed, each with: ..." (exit 1): it is bad input
    Case("sweep-constant-refused", "sweep", "ablate",
         ["model.cardinality=1,2", "optim.lr=-1", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: optim.lr=-1 is invalid: it must be a positive number such as 0.1, at most 3.4e+38 (the largest fp32 value) (in every member of the "
         "sweep).", target="none"),
    Case("sweep-constant-unknown-key", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "+budget.bogus=1", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: budget.bogus is not a budget field: valid fields are metric, reference, scale, scope, stage, "
         "target, tolerance, vary (in every member of the sweep).", target="none"),
    Case("search-constant-refused", "sweep", "ablate",  # found by hand: each trial failed until the failure rate
         ["+sweep=search_budget", "optim.lr=-1", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: optim.lr=-1 is invalid: it must be a positive number such as 0.1, at most 3.4e+38 (the largest fp32 value) (in every trial of the "
         "search).", target="none"),
    # Found by hand: a misspelt key of the run record in an objective or a constraint trained a trial, then stopped
    # the search ("result.json of job … has no model.complexity.flop"); it is checked before any trial runs
    Case("search-objective-key", "sweep", "ablate",
         ["+sweep=search_budget", "hydra.sweeper.objectives=[return,model.complexity.flop]", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: hydra.sweeper.objectives names model.complexity.flop, which no run's result.json holds (did you "
         "mean model.complexity.flops?): name a number of the run record, such as final.val_err, "
         "model.complexity.params or budget.deviation, or config.KEY for a config value.", target="none"),
    Case("search-constraint-key", "sweep", "ablate",
         ["+sweep=search_budget", "hydra.sweeper.constraints=['abs(budget.deviaton) <= 0.1']",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.constraints entry 'abs(budget.deviaton) <= 0.1' names budget.deviaton, which no "
         "run's result.json holds (did you mean budget.deviation?): name a number of the run record, such as "
         "final.val_err, model.complexity.params or budget.deviation, or config.KEY for a config value.",
         target="none"),
    Case("search-config-key", "sweep", "ablate",
         ["+sweep=search_budget", "hydra.sweeper.constraints=['config.optim.lrr <= 1']", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: hydra.sweeper.constraints entry 'config.optim.lrr <= 1' names config.optim.lrr, which no run's "
         "result.json holds (did you mean config.optim.lr?): name a number of the run record, such as "
         "final.val_err, model.complexity.params or budget.deviation, or config.KEY for a config value.",
         target="none"),
    # Found by hand: a misspelt key added to the launcher's node went to joblib's backend silently, and the sweep
    # ran on every core (n_jobs=-1); a key that is no near miss of a field still passes, as Hydra's launcher allows
    Case("launcher-field-added", "sweep", "ablate",
         ["model.cardinality=1,2", "hydra/launcher=joblib", "+hydra.launcher.n_job=2", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: +hydra.launcher.n_job=2: hydra.launcher has no field n_job (did you mean hydra.launcher.n_jobs=2?); "
         "its fields are n_jobs, backend, prefer, require, verbose, timeout, pre_dispatch, batch_size, temp_folder, "
         "max_nbytes, mmap_mode.", target="none"),
    # Found by hand: where no report callback exists (a grid without a sweep config), a key set on its node made
    # Hydra warn at every event of every member ("Missing key on_job_end") and no report was written
    Case("report-key-without-report", "sweep", "ablate",
         ["model.cardinality=1,2", "+hydra.callbacks.report.out={report}", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: +hydra.callbacks.report.out={report} sets an option of a report this command does not write (no "
         "sweep config brings the report callback): add hydra/callbacks=report to the command, or drop the key and "
         "run python -m ablate.report on the sweep folder afterwards.", target="none"),
    Case("callback-without-target", "sweep", "ablate",
         ["model.cardinality=1,2", "+hydra.callbacks.mine.every=2", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: +hydra.callbacks.mine.every=2 makes a callback node without _target_, which Hydra cannot call: "
         "give its class as hydra.callbacks.mine._target_, or drop the key.", target="none"),
    Case("report-key-single-run", "run directory", "ablate", ["+hydra.callbacks.report.out={report}"], 2,
         "ablate: +hydra.callbacks.report.out={report} sets an option of a report this command does not write (a "
         "single run has no report): drop the key, or run a sweep (-m).", target="none"),
    Case("sweep-node-merged", "sweep", "ablate",  # a node in braces ({{ }}: format) merges into the sweep's Hyperband node
         ["+sweep=search_pruning", "hydra.sweeper.pruner={{_target_:optuna.pruners.MedianPruner,n_warmup_steps:2}}",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.pruner={{_target_:optuna.pruners.MedianPruner,n_warmup_steps:2}}: hydra.sweeper.pruner "
         "has no field n_warmup_steps; a node in braces merges into the config's own hydra.sweeper.pruner: to "
         "replace it, set it to null first: hydra.sweeper.pruner=null "
         "'hydra.sweeper.pruner={{_target_:optuna.pruners.MedianPruner,n_warmup_steps:2}}'.", target="none"),
    # Found by hand: an empty study name was taken for none, the job's name, without a word
    Case("sweeper-study-name-empty", "sweep", "ablate",
         ["+sweep=search_budget", "hydra.sweeper.study_name=''", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.study_name='' is empty: give the study a name, or null for the job's name "
         "(ablate).", target="none"),
    Case("sweeper-type", "sweep", "ablate",  # found by hand: "cannot be applied: Error merging override ..."
         ["+sweep=cardinality_vs_width", "+repeats=auto", "hydra.sweeper.alpha=abc", "hydra.sweep.dir={sweep}", "-m"],
         2, "ablate: hydra.sweeper.alpha=abc is invalid: it must be a number.", target="none"),
    # found by hand: the fields listed _target_, which is not the user's; and no hint of max for max_seeds
    Case("sweeper-field", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "+repeats=auto", "hydra.sweeper.max_seeds=4", "hydra.sweep.dir={sweep}", "-m"],
         2, "ablate: hydra.sweeper.max_seeds=4: hydra.sweeper has no field max_seeds (did you mean "
            "hydra.sweeper.max=4?); its fields are alpha, batch, max, min, params.", target="none"),
    # Found by hand: with + the same typo reached the sweeper's constructor, and the sentence was Hydra's
    # "Error in call to target '…AblateRepeatsSweeper': TypeError(…unexpected keyword argument 'max_seeds')"
    Case("sweeper-field-added", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "+repeats=auto", "+hydra.sweeper.max_seeds=4", "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: +hydra.sweeper.max_seeds=4: hydra.sweeper has no field max_seeds (did you mean "
         "hydra.sweeper.max=4?); its fields are alpha, batch, max, min, params.", target="none"),
    # Found by hand: a sweep config of one sweeper with another sweeper chosen after it (repeats for a search) gave
    # Hydra's "ConfigKeyError raised while composing config: Key 'study_name' not in 'AblateRepeatsSweeperConf'"
    Case("sweeper-mixed-repeats", "sweep", "ablate",
         ["+sweep=search_budget", "+repeats=auto", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: sweep/search_budget.yaml sets hydra.sweeper.study_name, which the sweeper in use does not have "
         "(ablate_repeats, chosen by +repeats=auto): the two need different sweepers, so use one of them (for "
         "repeats in a search, give it seed=0,1,2: every trial then trains its design with each seed).",
         target="none"),
    Case("sweeper-mixed-basic", "sweep", "ablate",
         ["+sweep=design_spaces", "hydra/sweeper=basic", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: sweep/design_spaces.yaml sets hydra.sweeper.seed, which the sweeper in use does not have "
         "(basic, chosen by hydra/sweeper=basic): the two need different sweepers, so use one of them.",
         target="none"),
    Case("hydra-flag-type", "config type", "ablate", ["hydra.job.chdir=maybe"], 2,
         "ablate: hydra.job.chdir=maybe is invalid: it must be true or false.", target="none"),
    Case("launcher-type", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "hydra/launcher=joblib", "hydra.launcher.n_jobs=two", "hydra.sweep.dir={sweep}",
          "-m"], 2, "ablate: hydra.launcher.n_jobs=two is invalid: it must be a whole number.", target="none"),
    # Found by hand: null for a plugin's field that takes no null ended in Hydra's words ('Error merging override
    # hydra.sweeper.n_trials=null')
    # Found by hand: an unknown option of a group the sweeper's config chooses was said to be named by that file's
    # defaults list ('hydra/sweeper/ablate_optuna.yaml's defaults list names hydra/sweeper/sampler/nope'), not by
    # the override the user typed
    Case("sweeper-sampler-unknown", "config unknown group", "ablate",
         ["+sweep=search_budget", "hydra/sweeper/sampler=nope", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra/sweeper/sampler=nope is unknown (did you mean hydra/sweeper/sampler=motpe?): available "
         "hydra/sweeper/sampler configs are auto, cmaes, gp, grid, motpe, nsgaii, qmc, random, tpe.", target="none"),
    Case("sweeper-null", "sweep", "ablate",
         ["+sweep=search_budget", "hydra.sweeper.n_trials=null", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.n_trials=null is invalid: it must be a whole number.", target="none"),
    Case("launcher-null", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "hydra/launcher=joblib", "hydra.launcher.n_jobs=null", "hydra.sweep.dir={sweep}",
          "-m"], 2, "ablate: hydra.launcher.n_jobs=null is invalid: it must be a whole number.", target="none"),
    # Found by hand: a float interval on a field of whole numbers failed every trial (model.width=42.64… is
    # invalid) until the failure rate stopped the study
    Case("search-fraction-on-whole", "sweep", "ablate",
         ["+sweep=search_budget", "model.width=interval(16,48)", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: model.width=interval(16,48) in the command line samples fractions such as 32.5, but "
         "model.width=32.5 is invalid: it must be a whole number of at least 1; write "
         "model.width=int(interval(16,48)) to sample whole numbers.", target="none"),
    # the same for a range of floats (noticed in session 14, not mended then): range(16.0,48.0,8.0) sampled 16.0
    Case("search-float-range-on-whole", "sweep", "ablate",
         ["+sweep=search_budget", "model.width=range(16.0,48.0,8.0)", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: model.width=range(16.0,48.0,8.0) in the command line samples floats such as 16.0, but "
         "model.width=16.0 is invalid: it must be a whole number of at least 1; write "
         "model.width=range(16,48,8) to sample whole numbers.", target="none"),
    Case("search-fraction-range-on-whole", "sweep", "ablate",
         ["+sweep=search_budget", "model.width=range(16.5,48)", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: model.width=range(16.5,48) in the command line samples fractions such as 16.5, but "
         "model.width=16.5 is invalid: it must be a whole number of at least 1; give the range's start, stop and "
         "step as whole numbers.", target="none"),
    # A search takes seed=0,1,2 as every trial's repeats (tests/test_sweeper_repeats.py); seeds it cannot repeat
    # with are refused (before that, seed=0,1 was searched like a design choice: the best trial partly the luckiest)
    Case("search-seed-interval", "sweep", "ablate",
         ["+sweep=search_budget", "seed=interval(0,3)", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: seed=interval(0,3) in the command line has no list of values to repeat every trial with (seed is "
         "hydra.sweeper.repeat_key): give them as seed=0,1,2 or seed=range(3).", target="none"),
    Case("search-seed-twice", "sweep", "ablate",
         ["+sweep=search_budget", '+hydra.sweeper.params={{seed: "choice(0,1,1)"}}', "hydra.sweep.dir={sweep}",
          "-m"], 2,
         "ablate: seed=choice(0,1,1) in hydra.sweeper.params.seed gives seed=1 twice: each of every trial's repeats "
         "needs its own seed, e.g. seed=0,1,2.", target="none"),
    Case("search-seed-one", "sweep", "ablate",  # one seed is no search: choice(1) runs as seed=1 would
         ["+sweep=search_pruning", "seed=choice(1)", "hydra.sweeper.pruner.min_resource=0", "hydra.sweep.dir={sweep}",
          "-m"], 2,  # the pruner's refusal comes after the seed's: choice(1) passed it
         "ablate: hydra.sweeper.pruner={{_target_:optuna.pruners.HyperbandPruner,min_resource:0,max_resource:8,"
         "reduction_factor:3}} fails when it judges a trial (ZeroDivisionError: division by zero): check its "
         "arguments against optuna.pruners.HyperbandPruner.", target="none"),
    # Found by hand: the sentence's way on, hydra.sweeper.params=null, was refused too (params took no null), and
    # it did not say that + adds keys to the node
    Case("sweep-params-merged", "sweep", "ablate",
         ["+sweep=search_budget", 'hydra.sweeper.params={{model.width: "int(interval(16,48))"}}',
          "hydra.sweep.dir={sweep}", "-m"], 2,
         'ablate: hydra.sweeper.params={{model.width: "int(interval(16,48))"}}: hydra.sweeper.params has no field '
         "model.width; a node in braces merges into the config's own hydra.sweeper.params without adding keys: to "
         """add them, write '+hydra.sweeper.params={{model.width: "int(interval(16,48))"}}'; to replace the node, """
         """set it to null first: hydra.sweeper.params=null 'hydra.sweeper.params={{model.width: """
         """"int(interval(16,48))"}}'.""", target="none"),
    # Found by hand: a search space typed under hydra.sweeper.params on the command line (where the sweep configs
    # keep it) is a sweep over Hydra's own config, which Hydra refuses; the sentence listed every override and
    # did not say the way that works, the field's own override
    Case("sweep-over-hydra", "sweep", "ablate",
         ["hydra/sweeper=ablate_optuna", "hydra.sweeper.params.model.width=choice(16,24,32)", "optim.epochs=1",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.sweeper.params.model.width=choice(16,24,32) sweeps over Hydra's own config, which Hydra "
         "does not allow: on the command line a search space is the field's own override, "
         "'model.width=choice(16,24,32)' (the sweeper searches it as it searches hydra.sweeper.params).",
         target="none"),
    Case("sweep-over-hydra-launcher", "sweep", "ablate",
         ["+sweep=cardinality_vs_width", "hydra/launcher=joblib", "hydra.launcher.n_jobs=1,2",
          "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: hydra.launcher.n_jobs=1,2 sweeps over Hydra's own config, which Hydra does not allow: give "
         "hydra.launcher.n_jobs one value, and sweep over fields of the run (model.cardinality=1,2).",
         target="none"),
    # Found by hand: glob() on a field (it selects among a group's options) launched no job, and the sweep ended
    # in "no member of the sweep recorded a result", leaving a sweep folder of nothing
    Case("glob-on-a-field", "sweep", "ablate", ["model.width=glob(*)", "hydra.sweep.dir={sweep}", "-m"], 2,
         "ablate: model.width=glob(*) selects nothing: glob() chooses among a config group's options, such as "
         "model=glob(resnext*); list the field's values instead: model.width=A,B,C.", target="none"),
    # -- report folders
    Case("report-missing", "report dir", "report", ["{nowhere}"], 2,
         "error: SWEEP_DIR='{nowhere}' is not a directory: give a sweep folder such as sweeps/cardinality_vs_width."),
    Case("report-empty", "report dir", "report", ["{empty}"], 2,
         "error: SWEEP_DIR='{empty}' holds no runs: no result.json under it."),
    Case("report-out-file", "report dir", "report", ["{sweep}", "--out", "{afile}"], 2,
         "error: the report directory '{afile}' cannot be written (File exists): give a writable folder with --out."),
]


# ----------------------------------------------------------------------------- the world before the table
def idx(array: np.ndarray) -> bytes:
    return struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def fake_fmnist(folder: Path, side=28) -> dict:
    """Four small gzipped idx files in Fashion-MNIST's layout; returns the checksum table that matches them."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (40, side, side), dtype=np.uint8),
              "train_labels": (np.arange(40) % 10).astype(np.uint8),
              "val_images": rng.integers(0, 256, (20, side, side), dtype=np.uint8),
              "val_labels": (np.arange(20) % 10).astype(np.uint8)}
    folder.mkdir(parents=True)
    table = {}
    for role, (name, _, _) in fashion_mnist.FILES.items():
        raw = idx(arrays[role])
        gz = gzip.compress(raw, mtime=0)
        (folder / name).write_bytes(gz)
        table[role] = (name, hashlib.md5(gz).hexdigest(), hashlib.md5(raw).hexdigest())
    return table


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    sweep = root / "sweeps" / "existing"
    existing = sweep / "completed"
    record = app.run(compose(SMALL), existing, SMALL)
    assert record.status == "completed", record.reason
    report = write_report(sweep, root / "reports" / "existing")
    data = root / "data"
    table = fake_fmnist(data / "good")
    fake_fmnist(data / "reshaped", side=27)
    for name in ("truncated", "tampered"):
        folder = data / name
        folder.mkdir()
        for f in (data / "good").iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
    gz = data / "truncated" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    gz = data / "tampered" / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(gz.read_bytes()))
    raw[-1] ^= 1  # one label changed: a valid idx file with other bytes
    gz.write_bytes(gzip.compress(bytes(raw), mtime=0))
    (data / "empty").mkdir()
    (root / "a-file.txt").write_text("not a folder\n")
    paths = {"existing": existing, "sweep": sweep, "report": report, "data": data, "empty": data / "empty",
             "truncated": data / "truncated", "tampered": data / "tampered", "reshaped": data / "reshaped",
             "afile": root / "a-file.txt", "nowhere": root / "nowhere", "root": root}
    seed5 = runs.config_hash(OmegaConf.to_container(compose([*SMALL, "seed=5"]), resolve=True))
    fill = {"models": MODELS, "fields": MODEL_FIELDS, "optim_fields": OPTIM_FIELDS, "data_sets": DATA_SETS, "existing_hash": record.config_hash,
            "seed5_hash": seed5, "refetch": "delete it and set data.download=true, or reinstall with `apt-get "
                                            "install dataset-fashion-mnist`",
            "replace": "delete {run}/checkpoint.pt or choose another run directory"}
    return {"paths": paths, "table": table, "checkpoint": (existing / CHECKPOINT).read_bytes(), "fill": fill}


def snapshot(*roots: Path) -> dict:
    """sha256 of every file under roots, but Hydra's per-launch files (.hydra/, the job log)."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and ".hydra" not in p.parts and p.name != "ablate.log":
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ----------------------------------------------------------------------------- running an entry point here
def call(command: str, args: list[str]) -> tuple[int, str]:
    """Run a command-line entry point in this process; returns (exit status, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    handlers, level = logging.root.handlers[:], logging.root.level
    argv = sys.argv
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            if command == "ablate":
                import ablate.__main__ as entry

                sys.argv = ["ablate", *args]
                try:
                    entry.cli()
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 1
            else:
                module = {"report": "ablate.report.__main__", "budget": "ablate.budget.__main__",
                          "describe": "ablate.cli.describe"}[command]
                main = __import__(module, fromlist=["main"]).main
                try:
                    code = main(args)
                except SystemExit as e:  # argparse
                    code = e.code
    finally:
        sys.argv = argv
        for h in logging.root.handlers:
            if h not in handlers:
                h.close()
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    return code, err.getvalue()


def prepare(case: Case, world, tmp_path: Path, monkeypatch) -> tuple[list[str], Path | None]:
    """The row's arguments, with its run directory and data set up; returns (args, run directory)."""
    paths = {k: str(v) for k, v in world["paths"].items()}
    args = [a.format(**paths) for a in case.args]
    if case.command != "ablate" or case.target == "none":
        return args, None
    base = SMALL
    if case.data:
        monkeypatch.setattr(fashion_mnist, "FILES", world["table"])
        monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
        base = [a for a in SMALL if not a.startswith("data")] + ["data=fashion_mnist", "data.download=false"]
    if case.setup == "reshaped":  # checksums that match the 27×27 files, so the shape check is reached
        monkeypatch.setattr(fashion_mnist, "FILES", fake_fmnist(tmp_path / "reshaped-table", side=27))
    run_dir = world["paths"]["existing"] if case.target == "existing" else tmp_path / "run"
    if case.target == "held":
        run_dir.mkdir()
        ckpt, existing = run_dir / CHECKPOINT, world["paths"]["existing"]
        if case.setup == "ckpt-truncated":
            ckpt.write_bytes(world["checkpoint"][: len(world["checkpoint"]) // 2])
        elif case.setup == "ckpt-copy":
            ckpt.write_bytes(world["checkpoint"])
        elif case.setup == "ckpt-list":
            torch.save([torch.zeros(3)], ckpt)  # a torch file, not a checkpoint
        elif case.setup == "ckpt-text":
            ckpt.write_text("model weights go here\n")
        elif case.setup == "record-only":  # a completed record (trainer.checkpoint=false leaves no checkpoint)
            (run_dir / runs.RESULT).write_bytes((existing / runs.RESULT).read_bytes())
    return [*base, *args, f"hydra.run.dir={run_dir}"], run_dir


def sentence_shown(stderr: str, line: str) -> str:
    lines = stderr.strip().splitlines() or [""]
    return {"all": stderr.strip(), "first": lines[0], "last": lines[-1]}[line]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a row that is not refused writes its outputs (reports/, outputs/) here, not in the repo
    paths = world["paths"]
    args, run_dir = prepare(case, world, tmp_path, monkeypatch)
    watched = [paths["sweep"], paths["report"], paths["data"]]  # the completed run is in the sweep
    held = snapshot(run_dir) if case.target == "held" else None
    before = snapshot(*watched)
    code, stderr = call(case.command, args)
    shown = sentence_shown(stderr, case.line)
    given = " ".join(case.args).format(**{k: v.name for k, v in paths.items()}) or f"({case.setup or 'no arguments'})"
    TRIED.append((case.category, given, code, shown))
    assert code == case.status, stderr
    fill = {k: str(v) for k, v in paths.items()} | world["fill"] | {"run": str(run_dir)}
    fill["replace"] = fill["replace"].format(run=run_dir)
    assert shown == case.sentence.format(**fill), stderr
    if case.line == "all":
        assert len(stderr.strip().splitlines()) == 1  # one sentence, nothing else on stderr
    assert snapshot(*watched) == before  # the completed run, the sweep, its report and the data: untouched
    if held is not None:
        assert snapshot(run_dir) == held  # what a refused run found in its directory is left as it was
    if run_dir is not None and code:
        assert not (run_dir / ".lock").exists()


def test_the_command_line_shows_the_same_as_the_table(tmp_path):
    """Two rows again through real processes: Hydra's error, in ablate's voice, and ablate's own sentence."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run([sys.executable, "-m", "ablate", "model=nope"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert proc.stderr == f"ablate: model=nope is unknown: available model configs are {MODELS}.\n"
    proc = subprocess.run([sys.executable, "-m", "ablate.report", str(tmp_path / "nowhere")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stderr == (f"error: SWEEP_DIR='{tmp_path / 'nowhere'}' is not a directory: "
                                                    "give a sweep folder such as sweeps/cardinality_vs_width.\n")


@pytest.mark.parametrize("args, sentence", [
    (["model.cardinality=abc"], "model.cardinality='abc' is invalid: it must be a whole number of at least 1."),
    (["budget=params", "budget.scale=0.01"], "budget params=2,078 (budget.scale=0.01 × tiny's 207,818) is out of "
     "reach by varying bottleneck_width: this template needs at least 52,707; the reachable range is 52,707 and up."),
])
def test_a_single_run_refused_by_its_config_is_one_line_and_makes_no_run_folder(tmp_path, args, sentence):
    """Found by hand: a single run with a bad value printed its sentence twice — the run's log line on stdout
    (`[ablate][ERROR] - run failed: …`) and the sentence on stderr — and left a run folder holding only a failed
    record, one per typo. A config the schema or the budget solver refuses is now refused before Hydra makes the
    run's folder: the one sentence on stderr, nothing on stdout, no folder."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    run_dir = tmp_path / "outputs" / "run"
    proc = subprocess.run([sys.executable, "-m", "ablate", *args, f"hydra.run.dir={run_dir}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, f"ablate: {sentence}\n", "")
    assert not (tmp_path / "outputs").exists()


def test_a_single_run_that_fails_says_its_sentence_once_and_logs_it_to_its_file(tmp_path):
    """Found by hand: a single run that failed once running (here the precision its device cannot run, on
    trainer.device=auto: only the job knows there is no CUDA device) printed its sentence twice on the terminal, the
    log line on stdout (`[ablate][ERROR] - run failed: …`) and the sentence on stderr. The sentence is on stderr
    once; the run's log file keeps the log line; its record says failed."""
    if torch.cuda.is_available():
        pytest.skip("fp16 runs on this machine's CUDA device: the run does not fail")
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "ablate", "trainer.precision=fp16", "data=synthetic",
                           f"hydra.run.dir={run_dir}"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=env)
    sentence = ("trainer.precision='fp16' needs a CUDA device, and this run is on cpu: use trainer.precision=bf16, "
                "fp32 or auto.")
    assert (proc.returncode, proc.stderr) == (2, f"ablate: {sentence}\n")
    assert sentence not in proc.stdout
    assert f"[ablate][ERROR] - run failed: {sentence}" in (run_dir / "ablate.log").read_text()
    assert json.loads((run_dir / "result.json").read_text())["status"] == "failed"


def test_the_matrix_covers_every_kind_of_bad_input():
    assert len({c.id for c in CASES}) == len(CASES) >= 25
    assert len({(c.command, tuple(c.args), c.setup) for c in CASES}) == len(CASES)  # distinct inputs
    assert {c.category for c in CASES} == {"config type", "config range", "config unknown key", "config unknown group",
                                          "budget", "data", "checkpoint", "run directory", "cli", "report dir",
                                          "sweep"}


@pytest.fixture(scope="module", autouse=True)
def matrix():
    """Print the inputs tried and the sentence each got at the end (pytest -s)."""
    yield
    print(f"\n[bad input] {len(TRIED)} inputs tried")
    for category, given, code, sentence in TRIED:
        print(f"  {category:<20} {given:<45} exit {code}  {sentence}")


@pytest.mark.parametrize("command", ["report", "budget", "describe"])
def test_each_tools_usage_names_the_command_a_user_types(command):
    """Found by hand: `python -m ablate.describe --help` said `usage: python -m ablate.cli.describe`."""
    code = subprocess.run([sys.executable, "-m", f"ablate.{command}", "--help"], capture_output=True, text=True)
    assert code.returncode == 0 and code.stdout.startswith(f"usage: python -m ablate.{command} ")

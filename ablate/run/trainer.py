"""The training loop: SGD with the paper's schedules, checkpoint/resume, divergence, progress.

`fit(model, data, cfg, device, ...)` trains `model` on `data.train` for `cfg.optim.epochs`,
evaluating on `data.val` after every epoch, and returns the epochs' metrics. Recipes live in
`conf/optim/` (the paper's ImageNet and CIFAR recipes, and a quick CPU one); `cfg.trainer`
says how to run (precision, channels_last, compile, DDP rank, progress). Progress is a tqdm bar
on a terminal; where stderr is a file or a pipe (a sweep's log, a SLURM job) it is plain log
lines instead, one per epoch and at most one a minute inside an epoch, never a carriage return.

The hot loop never waits for the device: losses and correct counts accumulate as device
tensors and are read once every `trainer.log_every` steps (progress bar, NaN check) and at
the epoch's end. After every epoch the whole state (model, optimizer, schedule, RNG, history)
goes atomically to `checkpoint.pt`; a run started where one lies resumes from it, after
checking it holds the same architecture and config (`torch.load(weights_only=True)`: tensors
and plain containers only, so a checkpoint file cannot run code).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ablate.config.schema import batch_too_large, uneven_batch
from ablate.data.base import wide_pad
from ablate.errors import CheckpointError, ConfigError, override_value
from ablate.run import cpu, kernels
from ablate.run import device as devices
from ablate.run.record import atomic_write_bytes, first_difference

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1


@dataclass
class Fit:
    """What `fit` returns: the final status, its reason, and every epoch's metrics."""

    status: str  # completed | diverged
    reason: str | None = None
    epochs: list[dict] = field(default_factory=list)
    resumed_from: int = 0  # epochs restored from a checkpoint


# ----------------------------------------------------------------------------- recipe
# `cfg.optim` and `cfg.trainer` come checked by `ablate.config.schema.check`: every field present, in range.
def optimizer(model: nn.Module, optim_cfg) -> torch.optim.SGD:
    """SGD with momentum (optionally Nesterov) and weight decay.

    With `decay_norm_and_bias: false`, BN weights and all biases (the 1-D parameters) get
    no weight decay; the paper decays every parameter.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 and not optim_cfg.decay_norm_and_bias else decay).append(p)
    groups = [{"params": decay, "weight_decay": float(optim_cfg.weight_decay)}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=optim_cfg.lr, momentum=float(optim_cfg.momentum), nesterov=optim_cfg.nesterov)


def late_milestones(optim_cfg) -> str | None:
    """The warning for a step schedule whose milestones lie at or past the last epoch (the paper's [150, 225] kept
    in a shortened run), which therefore never lower the rate there; None where every milestone counts."""
    epochs = int(optim_cfg.epochs)
    milestones = [int(m) for m in optim_cfg.milestones or ()]
    late = [m for m in milestones if m >= epochs]
    if optim_cfg.schedule != "step" or not late:
        return None
    named = " and ".join([", ".join(map(str, late[:-1])), str(late[-1])] if len(late) > 1 else [str(late[0])])
    return (
        f"optim.milestones={override_value(milestones)} with optim.epochs={epochs}: the run ends before "
        f"epoch{'s' * (len(late) > 1)} {named}, so the step schedule never lowers the learning rate there; "
        f"give milestones below {epochs}, or optim.schedule=cosine."
    )


def long_warmup(optim_cfg) -> str | None:
    """The warning for a warm-up that lasts the whole run, whose rate therefore only rises (never reaching `lr`,
    never decaying); None where the warm-up ends before the last epoch does."""
    warmup, epochs = float(optim_cfg.warmup_epochs), int(optim_cfg.epochs)
    if warmup < epochs:
        return None
    return (
        f"optim.warmup_epochs={warmup:g} with optim.epochs={epochs}: the warm-up lasts the whole run, so the learning "
        f"rate never reaches optim.lr and the schedule never lowers it; give a warm-up shorter than {epochs} "
        f"epoch{'s' * (epochs != 1)}."
    )


def lr_factor(optim_cfg, steps_per_epoch: int):
    """The learning-rate multiplier of step s (0-based), for `LambdaLR`.

    Linear warm-up from `warmup_start`·lr to lr over `warmup_epochs` (per step), then either
    `step`: × `gamma` (0.1, the paper's ÷10) at each epoch in `milestones`, or `cosine`: half a
    cosine from lr down to `min_lr_factor`·lr at the last step.
    """
    schedule = optim_cfg.schedule
    total = int(optim_cfg.epochs) * steps_per_epoch
    warm = float(optim_cfg.warmup_epochs) * steps_per_epoch
    warm = round(warm) if math.isfinite(warm) else warm  # inf: more steps than a float holds, the ramp stays at start
    start = float(optim_cfg.warmup_start)
    milestones = sorted(int(m) * steps_per_epoch for m in optim_cfg.milestones or ())
    gamma = float(optim_cfg.gamma)
    floor = float(optim_cfg.min_lr_factor)

    def factor(s: int) -> float:
        warmup = start + (1 - start) * s / warm if s < warm else 1.0
        if schedule == "step":
            return warmup * gamma ** sum(s >= m for m in milestones)
        progress = min(max(s - warm, 0) / max(total - warm, 1), 1.0)
        return warmup * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    return factor


# ----------------------------------------------------------------------------- checkpoints
def identity(config: dict, config_hash: str, template: dict, form: str) -> dict:
    """What a checkpoint must match to be resumed: the architecture and the config."""
    return {"config": config, "config_hash": config_hash, "template": template, "form": form}


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write a checkpoint atomically (temporary file, fsync, rename)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, expected: dict | None = None) -> dict:
    """Load a checkpoint (weights_only: no code runs) and check it belongs to this run.

    Raises CheckpointError when the file cannot be read as a plain-tensor checkpoint or
    holds another architecture or config than `expected` (see `identity`).
    """
    path = Path(path)
    hint = f"delete {path} or choose another run directory"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or an object weights_only refuses to unpickle
        if "GLOBAL" in str(e):
            raise CheckpointError(
                f"the checkpoint {path} holds objects other than tensors and plain containers, "
                f"which torch.load(weights_only=True) refuses to load: {hint}."
            ) from None
        raise CheckpointError(f"the checkpoint {path} is unreadable (corrupt or not a torch file): {hint}.") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"the checkpoint {path} is not an ablate checkpoint of format {CHECKPOINT_FORMAT}: {hint}."
        )
    if expected is not None:
        for what, key in (("architecture", "template"), ("architecture", "form"), ("config", "config")):
            diff = first_difference({key: state.get(key)}, {key: expected[key]})
            if diff:
                name, theirs, ours = diff
                name = name.replace("template.", "model.", 1)
                raise CheckpointError(
                    f"the checkpoint {path} holds another {what} ({name}={theirs!r} there, "
                    f"{ours!r} in this run): {hint}."
                )
        if state.get("config_hash") != expected["config_hash"]:
            raise CheckpointError(
                f"the checkpoint {path} holds another config (hash {state.get('config_hash')} there, "
                f"{expected['config_hash']} in this run): {hint}."
            )
    return state


def check_checkpoint(run_dir: str | os.PathLike, expected: dict) -> int:
    """Epochs already trained by a resumable checkpoint in `run_dir` (0 if none); raises CheckpointError."""
    path = Path(run_dir) / CHECKPOINT
    return load_checkpoint(path, expected)["epoch"] if path.exists() else 0


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ----------------------------------------------------------------------------- loop
def _reduce(t: torch.Tensor, world_size: int) -> torch.Tensor:
    if world_size > 1:
        dist.all_reduce(t)
    return t


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


PLAIN_EVERY = 60.0  # seconds between in-epoch progress lines in a log file (an epoch's end always logs one)


def _on_terminal() -> bool:
    """Whether a progress bar can redraw in place: stderr (where tqdm draws) is a terminal, or a Jupyter
    kernel shows it as a widget. A sweep's log, a SLURM job's file or a pipe gets plain lines instead."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


class _Lines:
    """Progress in a log file: the bar's two calls, `update` and `set_postfix`, turned into one plain log
    line at most every `PLAIN_EVERY` seconds (at the loop's periodic checks), never a carriage return."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.n = 0
        self.last = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *, loss: str, img_s: str, refresh: bool = False) -> None:
        if self.enabled and time.perf_counter() - self.last >= PLAIN_EVERY:
            self.last = time.perf_counter()
            log.info("%s: step %d/%d, loss %s, %s img/s", self.desc, self.n, self.total, loss, img_s)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _progress(total: int, desc: str, enabled: bool):
    """Progress through one epoch of `total` steps: a tqdm bar on a terminal, plain log lines elsewhere
    (`_on_terminal`); nothing when not `enabled` (no tqdm object at all, not a disabled one).

    tqdm guards its bars with a lock that by default includes a multiprocessing one: a semaphore that the
    resource tracker reports as leaked (a warning on stderr) when the job stops a DDP rank. A DDP rank is a
    process of ablate's own that draws only its own bars, so there a thread lock is all they need (in the
    caller's process, tqdm's global lock is left as it is)."""
    if not enabled or not _on_terminal():
        return _Lines(total, desc, enabled)
    from tqdm.auto import tqdm

    if dist.is_available() and dist.is_initialized():
        tqdm.set_lock(threading.RLock())
    return tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True, mininterval=0.5)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Diverged(Exception):
    """Raised inside an epoch when the running training loss is no longer finite."""


def train_epoch(
    net,
    split,
    opt,
    sched,
    scaler,
    criterion,
    *,
    epoch: int,
    batch_size: int,
    seed: int,
    device,
    dtype,
    log_every: int,
    bar,
    rank: int = 0,
    world_size: int = 1,
) -> dict:
    """One pass over this rank's shard of the training split (`batch_size` images a step, whole
    batches only); returns loss, top-1 error (%), images (all ranks), seconds and images/s.

    The rate leaves out the first step, which carries the epoch's one-off costs (torch.compile's
    compilation, kernel selection, first-touch allocation), unless it was the only one.

    Raises `_Diverged` as soon as a periodic check sees a non-finite running loss.
    """
    net.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    _sync(device)
    start = time.perf_counter()
    warm = (start, 0)  # (time, this rank's images) once the first step is done
    batches = split.batches(batch_size, train=True, epoch=epoch, seed=seed, rank=rank, world_size=world_size)
    for step, (x, y) in enumerate(batches, 1):
        with _autocast(device, dtype):
            out = net(x)
            loss = criterion(out, y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        sched.step()
        n = y.shape[0]
        loss_sum += loss.detach().double() * n
        correct += (out.detach().argmax(1) == y).sum()
        seen += n
        if step == 1:
            _sync(device)
            warm = (time.perf_counter(), seen)
        bar.update(1)
        if step % log_every == 0:  # the only host reads inside the epoch (and the sync after step 1, a timing)
            check = _reduce(
                torch.stack([loss_sum, torch.tensor(float(seen), device=device, dtype=torch.float64)]), world_size
            )
            running = (check[0] / check[1]).item()
            if not math.isfinite(running):
                raise _Diverged(f"at step {step} the running training loss is {running}")
            rate = (seen - warm[1]) * world_size / (time.perf_counter() - warm[0])
            bar.set_postfix(loss=f"{running:.4f}", img_s=f"{rate:,.0f}", refresh=False)
    totals = _reduce(
        torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), device=device, dtype=torch.float64)]),
        world_size,
    )
    _sync(device)
    end = time.perf_counter()
    loss_total, correct_total, images = totals.tolist()
    first = warm[1] * world_size  # the first step's images, all ranks
    steady = (images - first) / (end - warm[0]) if images > first else images / (end - start)
    return {
        "loss": loss_total / images,
        "err": 100.0 * (1 - correct_total / images),
        "images": int(images),
        "seconds": end - start,
        "images_per_s": steady,
    }


@torch.no_grad()
def evaluate(net, split, *, batch_size: int, device, dtype=None, rank: int = 0, world_size: int = 1) -> dict:
    """Loss (plain cross-entropy) and top-1/top-5 error (%) over a split; one sync at the end."""
    net.eval()
    sums = torch.zeros(4, device=device, dtype=torch.float64)  # loss, top-1 correct, top-5 correct, count
    classes = 0  # stays 0 on a rank whose share of a tiny split is empty
    for x, y in split.batches(batch_size, train=False, epoch=0, seed=0, rank=rank, world_size=world_size):
        with _autocast(device, dtype):
            out = net(x)
        out = out.float()
        classes = out.shape[1]
        k = min(5, out.shape[1])
        top = out.topk(k, dim=1).indices
        hits = top == y[:, None]
        sums += torch.stack(
            [
                nn.functional.cross_entropy(out, y, reduction="sum").double(),
                hits[:, 0].sum().double(),
                hits.any(1).sum().double(),
                torch.full((), float(y.shape[0]), device=device, dtype=torch.float64),
            ]
        )  # no copy
    loss, top1, top5, n = _reduce(sums, world_size).tolist()
    n = max(n, 1.0)
    # with five classes or fewer every label is in the top five: no top-5 error to report
    top5_err = 100.0 * (1 - top5 / n) if classes > 5 else None
    return {"loss": loss / n, "err": 100.0 * (1 - top1 / n), "top5_err": top5_err}


def _processes(world_size: int, threads: int) -> str:
    """`2 CPU threads` for one process, `2 processes × 1 CPU thread` for DDP."""
    per = f"{threads} CPU thread{'s' * (threads != 1)}"
    return per if world_size == 1 else f"{world_size} processes × {per}"


def _check_batch(cfg, world_size: int, train) -> int:
    """The per-process batch, after checking `optim.batch_size` against the world size and the training
    split (each rank needs at least one whole batch of its shard): the checks that need run-time facts."""
    batch = cfg.optim.batch_size
    uneven = uneven_batch(batch, world_size)  # `auto` resolves to a count that splits; a given one is checked
    if uneven is not None:
        raise uneven
    per_rank = len(train) // world_size
    if per_rank < batch // world_size:
        chosen = cfg.data.get("train_subset")
        if world_size == 1:  # refused at compose time already where the config tells the data set's size
            raise batch_too_large(batch, per_rank, train.name, chosen)
        subset = f" than data.train_subset={chosen}" if chosen is not None else ""
        raise ConfigError(
            f"optim.batch_size={batch} gives each of the {world_size} DDP processes batches of {batch // world_size}, "
            f"more than the {per_rank} training images each gets from {train.name}: lower the batch size or use more "
            f"images{subset}."
        )
    return batch // world_size


def fit(
    model: nn.Module,
    data,
    cfg,
    device: torch.device,
    *,
    run_dir: str | os.PathLike | None = None,
    expected: dict | None = None,
    rank: int = 0,
    world_size: int = 1,
    on_epoch: Callable[[dict, list[dict]], bool | None] | None = None,
) -> Fit:
    """Train `model` on `data` with `cfg.optim` / `cfg.trainer`; resume from `run_dir`'s checkpoint.

    `batch_size` in the recipe is the global batch: each of the `world_size` processes takes
    its share of every batch from its shard of the data (the caller has set up the process
    group). `expected` (see `identity`) is stored in, and checked against, the checkpoint.
    Rank 0 alone writes checkpoints, calls `on_epoch(entry, epochs)` after each epoch, logs
    one line per epoch and shows progress (`trainer.progress`, see `_progress`). Returns status
    `completed`, `diverged` at the first non-finite loss, or `pruned` when `on_epoch` returns True
    (an Optuna trial's pruner said stop; every DDP rank stops at the same epoch).
    """
    trainer, optim_cfg = cfg.trainer, cfg.optim
    seed = int(cfg.seed)
    batch = _check_batch(cfg, world_size, data.train)
    dtype = devices.autocast_dtype(trainer.precision, device)
    if rank == 0 and device.type == "cpu" and dtype == torch.bfloat16 and not devices.cpu_has_bf16():
        log.warning(
            "trainer.precision=bf16 on a CPU without native bf16 (AVX-512 BF16 or AMX): bf16 is emulated here and "
            "runs many times slower than fp32; trainer.precision=auto chooses fp32 on this CPU"
        )
    memory_format = torch.channels_last if trainer.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)  # type: ignore[call-overload]  # torch's stub lacks it
    # the same parameters and state dict: before the optimizer and DDP (ablate.run.kernels)
    merged = kernels.merge_groups(model) if device.type == "cpu" and trainer.merge_groups else 0
    if device.type == "cpu" and trainer.channels_last:  # a faulty oneDNN kernel avoided, not optional
        kernels.subsample_strided_pointwise(model)

    opt = optimizer(model, optim_cfg)
    steps = data.train.num_batches(batch, True, rank=rank, world_size=world_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(optim_cfg, steps))
    pad = wide_pad(getattr(data.train, "pad", 0), data.resolution)  # a streamed split crops its own way
    for warning in (late_milestones(optim_cfg), long_warmup(optim_cfg), pad):
        if warning is not None and rank == 0:
            log.warning(warning)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    criterion = nn.CrossEntropyLoss(label_smoothing=float(optim_cfg.label_smoothing))
    # what a checkpoint holds besides its epoch and history, and what a resume restores
    state = _State(model, opt, sched, scaler, device, world_size, merged, expected)

    result = Fit(status="completed")
    path = Path(run_dir) / CHECKPOINT if run_dir is not None else None
    if path is not None and path.exists():
        result.epochs, result.resumed_from = state.restore(path, log_to=rank == 0)

    # evaluation runs on the bare (or compiled) model: each rank its shard, no DDP sync. DDP wraps the compiled
    # model, not the reverse: one compiled module for both, and no Dynamo warning about DDP's profiler ranges
    eval_net: Callable[..., torch.Tensor] = torch.compile(model) if trainer.compile else model
    net = eval_net
    if world_size > 1:
        net = nn.parallel.DistributedDataParallel(
            eval_net, device_ids=[device.index] if device.type == "cuda" else None
        )

    epochs = int(optim_cfg.epochs)
    eval_batch = int(trainer.eval_batch_size or batch * 2)
    show = bool(trainer.progress) and rank == 0
    for epoch in range(result.resumed_from, epochs):
        started = time.perf_counter()
        with _progress(steps, f"epoch {epoch + 1}/{epochs}", show) as bar:
            try:
                train = train_epoch(
                    net,
                    data.train,
                    opt,
                    sched,
                    scaler,
                    criterion,
                    epoch=epoch,
                    batch_size=batch,
                    seed=seed,
                    device=device,
                    dtype=dtype,
                    log_every=trainer.log_every,
                    bar=bar,
                    rank=rank,
                    world_size=world_size,
                )
            except _Diverged as e:
                result.status = "diverged"
                result.reason = (
                    f"the training loss stopped being finite in epoch {epoch + 1} ({e}) at "
                    f"optim.lr={optim_cfg.lr}: lower the learning rate or add warm-up."
                )
                break
        val = evaluate(
            eval_net, data.val, batch_size=eval_batch, device=device, dtype=dtype, rank=rank, world_size=world_size
        )
        entry = _entry(epoch, train, val, opt.param_groups[0]["lr"], time.perf_counter() - started)
        result.epochs.append(entry)
        if not (math.isfinite(train["loss"]) and math.isfinite(val["loss"])):
            result.status = "diverged"
            result.reason = (
                f"the loss stopped being finite in epoch {epoch + 1} (train {train['loss']:.4g}, "
                f"val {val['loss']:.4g}) at optim.lr={optim_cfg.lr}: lower the learning rate or add warm-up."
            )
            if rank == 0 and on_epoch is not None:
                on_epoch(entry, result.epochs)
            break
        if rank == 0:
            _log_epoch(entry, epochs)
            if path is not None and trainer.checkpoint:
                save_checkpoint(path, state.checkpoint(epoch + 1, result.epochs))
        stop = bool(on_epoch(entry, result.epochs)) if rank == 0 and on_epoch is not None else False
        if _together(stop, device, world_size) and epoch + 1 < epochs:
            result.status = "pruned"
            result.reason = (
                f"pruned after epoch {epoch + 1} of {epochs}: the Optuna study's pruner stopped this trial "
                f"at val error {val['err']:.2f}%."
            )
            if rank == 0:
                log.info("%s", result.reason)
            break
    return result


@dataclass
class _State:
    """What a run's checkpoint holds besides its epoch and history: the model, optimizer, schedule and scaler
    states, the RNG, how the run executed (processes, threads, merged groups) and its identity (`expected`)."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    device: torch.device
    world_size: int
    merged: int  # grouped convolutions computed merged (ablate.run.kernels)
    expected: dict | None

    def checkpoint(self, epoch: int, history: list[dict]) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": _rng_state(self.device),
            "device": str(self.device),
            "cpu": cpu.kind(),
            "threads": torch.get_num_threads(),
            "world_size": self.world_size,
            "merged_groups": self.merged,
            "history": history,
            **(self.expected or {"config": None, "config_hash": None, "template": None, "form": None}),
        }

    def restore(self, path: Path, log_to: bool) -> tuple[list[dict], int]:
        """Load the checkpoint at `path` (checked against `expected`) into this run's objects; its history and
        epoch. `log_to`: this rank says so, and warns where the run now executes differently."""
        state = load_checkpoint(path, self.expected)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], self.device)
        epoch = int(state["epoch"])
        if log_to:
            log.info("resumed from %s after epoch %d", path, epoch)
            self._warn_if_executed_differently(state)
        return list(state["history"]), epoch

    def _warn_if_executed_differently(self, state: dict) -> None:
        was_on = state.get("device")  # None: a checkpoint from before devices were recorded
        if was_on is not None and torch.device(was_on).type != self.device.type:
            log.warning(
                "resuming on %s a run trained on %s so far: the two run other kernels, so its numbers may differ "
                "from a straight run's",
                self.device,
                was_on,
            )
            return  # the CPU's threads and merged groups are beside the point
        was_kind, kind = state.get("cpu"), cpu.kind()  # None: a checkpoint from before CPU kinds were recorded
        if self.device.type == "cpu" and was_kind is not None and kind is not None and was_kind != kind:
            log.warning(
                "resuming on %s a run trained on %s so far: another CPU kind runs other kernels, so its numbers may "
                "differ from a straight run's",
                kind,
                was_kind,
            )
        # CPU kernels split their sums by thread, and BN takes its statistics per process: results depend on both
        now = (self.world_size, torch.get_num_threads())
        then = (int(state.get("world_size", 1)), int(state.get("threads") or 0))
        if self.device.type == "cpu" and then[1] and then != now:
            log.warning(
                "resuming with %s a run trained with %s so far: results are reproducible only at one process "
                "and thread count, so its numbers may differ from a straight run's",
                _processes(*now),
                _processes(*then),
            )
        was_merged = state.get("merged_groups")  # None: a checkpoint from before merged groups
        if was_merged is not None and bool(was_merged) != bool(self.merged):
            log.warning(
                "resuming with grouped convolutions %s a run trained with them %s so far (trainer.merge_groups): "
                "its numbers may differ from a straight run's in their last bits",
                "merged" if self.merged else "as built",
                "merged" if was_merged else "as built",
            )


def _entry(epoch: int, train: dict, val: dict, lr: float, seconds: float) -> dict:
    """One epoch of the run record's `epochs` (and of metrics.csv)."""
    return {
        "epoch": epoch + 1,
        "train_loss": train["loss"],
        "train_err": train["err"],
        "val_loss": val["loss"],
        "val_err": val["err"],
        "val_top5_err": val["top5_err"],
        "lr": lr,
        "seconds": seconds,
        "images_per_s": train["images_per_s"],
    }


def _log_epoch(entry: dict, epochs: int) -> None:
    top5 = entry["val_top5_err"]
    log.info(
        "epoch %d/%d: train loss %.4f err %.2f%% | val loss %.4f err %.2f%%%s | %.1f s, %.0f img/s",
        entry["epoch"],
        epochs,
        entry["train_loss"],
        entry["train_err"],
        entry["val_loss"],
        entry["val_err"],
        "" if top5 is None else f" top-5 {top5:.2f}%",
        entry["seconds"],
        entry["images_per_s"],
    )


def _together(stop: bool, device: torch.device, world_size: int) -> bool:
    """Rank 0's decision to stop (it asked the pruner), the same on every rank: all stop at one epoch."""
    if world_size == 1:
        return stop
    flag = torch.tensor([stop], device=device, dtype=torch.int32)
    dist.broadcast(flag, 0)
    return bool(flag.item())

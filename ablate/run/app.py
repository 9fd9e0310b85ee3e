"""One training run, from a composed config to its record: what `python -m ablate` does.

`run(cfg, run_dir)` solves the budget, builds the model, loads the data, trains, evaluates
and writes `result.json` (see `ablate.run.record`) into `run_dir`. It never raises for a run that
fails: it records status `failed` and the reason (one sentence; unexpected errors also leave
their traceback in `error.log`), so one bad member cannot stop a sweep. `main(cfg)` is the
Hydra glue: it finds the run directory, overrides and job number, and — in a single run only,
never in a multirun — turns a failure into one sentence on stderr and a non-zero exit.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ablate.run import record as runs
from ablate.errors import AblateError, CheckpointError, ConfigError

log = logging.getLogger("ablate")


def _container(cfg) -> dict:
    from omegaconf import OmegaConf

    if isinstance(cfg, dict):
        return cfg
    return OmegaConf.to_container(cfg, resolve=True)


def _reason(error: BaseException) -> str:
    """One sentence: an AblateError's message, or the exception's type and first line."""
    if isinstance(error, AblateError):
        return " ".join(str(error).split())
    message = " ".join(str(error).split()) or "no message"
    sentence = f"{type(error).__name__}: {message}"
    return sentence if sentence.endswith(".") else sentence + "."


def run(cfg, run_dir: str | os.PathLike, overrides=(), job_num: int | None = None) -> dict:
    """Train the run `cfg` describes in `run_dir` and return its record (never raises for a failed run)."""
    return execute(cfg, run_dir, overrides, job_num)[0]


def execute(cfg, run_dir, overrides=(), job_num=None) -> tuple[dict, BaseException | None]:
    """`run`, also returning the exception that failed the run (None otherwise).

    One process at a time works in a run directory (`ablate.run.lock`): a launch that finds it held
    by a live process writes nothing there and returns status failed with that sentence.
    """
    from ablate.run.lock import RunLock

    with RunLock(run_dir) as lock:
        if not lock.held:
            error = lock.busy()
            log.error("%s", error)
            return runs.finish(runs.new_record({}, overrides, job_num), "failed", str(error), 0.0), error
        return _execute(cfg, run_dir, overrides, job_num)


def _execute(cfg, run_dir, overrides, job_num) -> tuple[dict, BaseException | None]:
    started = time.perf_counter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        config = _container(cfg)
    except Exception as e:  # an interpolation that does not resolve
        config = {}
        record = runs.new_record(config, overrides, job_num)
        return _fail(record, run_dir, ConfigError(f"the config does not resolve: {' '.join(str(e).split())}"),
                     started)
    record = runs.new_record(config, overrides, job_num)
    done = runs.read_result(run_dir)
    if done and done.get("status") in ("completed", "diverged") and done.get("config_hash") == record["config_hash"]:
        # both are final: a seeded run of the same config would diverge again at the same step
        log.info("%s already holds this %s run (config %s): nothing to do%s", run_dir, done["status"],
                 record["config_hash"], "" if done["status"] == "completed" else
                 f" (delete {run_dir / runs.RESULT} to train it again)")
        return done, None
    other = _other_run(done, record, run_dir)
    try:
        template, expected = _prepare(cfg, config, record, run_dir)
        if other is not None:
            raise other
    except Exception as e:
        if isinstance(e, CheckpointError) or other is not None:
            # a checkpoint or a finished record that is not ours: leave every file in the directory as it is
            log.error("%s", e)
            return runs.finish(record, "failed", _reason(e), time.perf_counter() - started), e
        return _fail(record, run_dir, e, started)
    runs.write_result(run_dir, record)
    try:
        world_size = _world_size(cfg.trainer.get("world_size", 1))
        threads = _threads(cfg.trainer.get("num_threads"), world_size)
        if world_size > 1:
            _spawn(cfg, template, expected, record, run_dir, world_size, job_num, threads)
        else:
            _train_process(0, 1, cfg, template, expected, record, str(run_dir), None, job_num, threads)
        record = runs.read_result(run_dir) or record
    except KeyboardInterrupt:
        record = runs.read_result(run_dir) or record
        _fail(record, run_dir, None, started, reason="interrupted by the user (KeyboardInterrupt): run it again in "
                                                     "the same directory to resume from the last finished epoch.")
        raise
    except Exception as e:
        record = runs.read_result(run_dir) or record
        return _fail(record, run_dir, e, started)
    runs.finish(record, record["status"] if record["status"] != "running" else "completed", record["reason"],
                time.perf_counter() - started)
    runs.write_result(run_dir, record)
    final = record["final"]
    log.info("%s: %s%s%s", record["status"], f"val error {final['val_err']:.2f}% " if final else "",
             f"({record['reason']})" if record["reason"] else f"in {record['wall_seconds']:.0f} s",
             _speed(record.get("throughput") or {}))
    return record, None


def _speed(tp: dict) -> str:
    """`; 1356 img/s (bf16), 45% of the fp32 matmul peak`: the end-of-run speed line's tail."""
    if not tp.get("images_per_s"):
        return ""
    share = tp.get("fp32_fraction") if tp.get("fp32_fraction") is not None else tp.get("machine_fraction")
    which = "fp32 " if tp.get("fp32_fraction") is not None else ""
    return (f"; {tp['images_per_s']:.0f} img/s ({tp.get('precision') or 'fp32'})"
            + ("" if share is None else f", {share:.0%} of the {which}matmul peak"))


def _other_run(done: dict | None, record: dict, run_dir: Path) -> ConfigError | None:
    """The refusal for a directory that holds a finished run of another config (never written over)."""
    if not done or done.get("status") not in ("completed", "diverged"):
        return None
    if done.get("config_hash") == record["config_hash"]:
        return None
    return ConfigError(f"{run_dir} holds a {done['status']} run of another config (hash {done.get('config_hash')} "
                       f"there, {record['config_hash']} in this run): choose another run directory, or delete that "
                       "one to replace it.")


def _prepare(cfg, config: dict, record: dict, run_dir: Path):
    """Solve the budget, fill the record's model and budget sections, check any checkpoint."""
    from ablate.config.loading import budget_from_cfg, check_fields, solve_cfg
    from ablate.run.trainer import check_checkpoint, identity

    check_fields(cfg)
    template, solution = solve_cfg(cfg)
    form = str(cfg.model.get("form", "c"))
    record["model"] = runs.model_section(cfg.model.get("name"), form, template)
    record["budget"] = runs.budget_section(solution, budget_from_cfg(cfg.get("budget")) if solution else None)
    expected = identity(runs.hashed_config(config), record["config_hash"], template.to_dict(), form)
    epochs = check_checkpoint(run_dir, expected)
    if epochs:
        log.info("%s holds a checkpoint after epoch %d: resuming", run_dir, epochs)
    return template, expected


def _fail(record: dict, run_dir: Path, error: BaseException | None, started: float, reason: str | None = None):
    """Record status failed with one sentence; an unexpected error's traceback goes to error.log."""
    reason = reason or _reason(error)
    if error is not None and not isinstance(error, AblateError):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        runs.atomic_write_bytes(run_dir / runs.ERROR_LOG, text.encode())
    runs.finish(record, "failed", reason, time.perf_counter() - started)
    runs.write_result(run_dir, record)
    log.error("run failed: %s", reason)
    return record, error


# ----------------------------------------------------------------------------- the training processes
def _world_size(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"trainer.world_size={value!r} is invalid: give the number of DDP processes, 1 or more.")
    return value


def _threads(num_threads, world_size: int) -> int | None:
    """CPU threads per process: `trainer.num_threads`, else this job's share of the cores
    (`ablate.run.parallel`: members of a multirun running at once split them), split among DDP ranks."""
    if num_threads is not None:
        return num_threads
    from ablate.run.parallel import threads_for_job

    return max(threads_for_job() // world_size, 1)


def _train_process(rank: int, world_size: int, cfg, template, expected: dict, record: dict, run_dir: str,
                   init_file: str | None, job_num: int | None, threads: int | None = None) -> None:
    """Build, load and train in this process (DDP rank `rank` of `world_size`); rank 0 writes the record."""
    import torch
    import torch.distributed as dist

    from ablate.run import device as devices
    from ablate.data import load
    from ablate.models import build
    from ablate.run.trainer import fit

    trainer = cfg.trainer
    device = devices.choose(trainer.get("device", "auto"), job_num, rank, world_size)
    threads = devices.set_threads(threads)
    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    if world_size > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        seed = int(cfg.get("seed", 0))
        torch.manual_seed(seed)
        if device.type == "cpu" and trainer.get("deterministic", True):
            torch.use_deterministic_algorithms(True, warn_only=True)
            # deterministic mode also fills every new tensor with NaN (a debugging aid, not needed for
            # identical results): 8% of a `tiny` step in aten::fill_, so it is off
            torch.utils.deterministic.fill_uninitialized_memory = False
        data = load(cfg.data, device, seed)
        _check_data(data, template)
        form = expected["form"]
        model = build(template, form=form, zero_init_last_bn=bool(cfg.model.get("zero_init_last_bn", False)))
        record["env"] = runs.environment(str(device), threads, seed)

        def on_epoch(entry, epochs):
            record["epochs"] = list(epochs)
            runs.summarise(record)
            runs.write_result(run_dir, record)

        result = fit(model, data, cfg, device, run_dir=run_dir, expected=expected, rank=rank,
                     world_size=world_size, on_epoch=on_epoch)
        if rank == 0:
            record["epochs"] = list(result.epochs)
            record["status"], record["reason"] = result.status, result.reason
            record["throughput"] = _throughput(record, trainer, device, world_size)
            runs.summarise(record)
            runs.write_result(run_dir, record)
    finally:
        torch.use_deterministic_algorithms(deterministic)  # as it was: tests and benchmarks share the process
        torch.utils.deterministic.fill_uninitialized_memory = fill
        if world_size > 1:
            dist.destroy_process_group()


def _spawn(cfg, template, expected, record, run_dir: Path, world_size: int, job_num, threads) -> None:
    """Run `_train_process` on `world_size` processes (DDP, started from inside this job)."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="ablate-ddp-") as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        try:
            mp.spawn(_train_process, args=(world_size, cfg, template, expected, record, str(run_dir), init_file,
                                           job_num, threads), nprocs=world_size, join=True)
        except mp.ProcessRaisedException as e:
            raise _child_error(e) from e


def _child_error(error: Exception) -> Exception:
    """The error a DDP process died of, from the traceback text `spawn` hands back: an
    AblateError as itself (its sentence), anything else as a RuntimeError naming it."""
    import ablate.errors

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    last = lines[-1] if lines else str(error)
    name, _, message = last.partition(": ")
    kind = getattr(ablate.errors, name.rsplit(".", 1)[-1], None)
    if isinstance(kind, type) and issubclass(kind, AblateError):
        return kind(message)
    return RuntimeError(f"a DDP process failed with {last}")


def _check_data(data, template) -> None:
    """The data set must fit the template's input and output."""
    for field, have in (("in_channels", data.in_channels), ("resolution", data.resolution),
                        ("num_classes", data.num_classes)):
        want = getattr(template, field)
        if have != want:
            raise ConfigError(f"model.{field}={want} does not fit data={data.name}, which has {field} {have}: "
                              f"set model.{field}={have} or choose another data set.")


def _throughput(record: dict, trainer, device, world_size: int) -> dict:
    """Training images/s over the run's epochs, the FLOP/s they mean, and the fraction of the machine's peak."""
    from ablate.run import device as devices

    rates = [e["images_per_s"] for e in record["epochs"] if e.get("images_per_s")]
    if not rates:
        return {**record["throughput"], "images_per_s": None}
    # steady state: leave out the first epoch (allocator and kernel warm-up) when there are more
    steady = rates[1:] if len(rates) > 1 else rates
    images_per_s = len(steady) / sum(1 / r for r in steady)
    # training ≈ 3 × the forward pass (forward, input and weight gradients); 2 FLOPs per multiply-add
    flops = 6 * record["model"]["complexity"]["flops"] * images_per_s
    dtype = devices.autocast_dtype(trainer.get("precision", "auto"), device)
    peak = trainer.get("peak_flops")
    fp32_peak = None
    if peak is None:  # each process measured its own device or its share of the cores
        peak = devices.peak_flops(device, dtype) * world_size
        fp32_peak = peak if dtype is None else devices.peak_flops(device, None) * world_size
    elif dtype is None:
        fp32_peak = float(peak)
    return {"images_per_s": images_per_s, "train_flops_per_s": flops, "precision": devices.precision_name(dtype),
            "peak_flops": peak, "machine_fraction": flops / peak if peak else None,
            "fp32_peak_flops": fp32_peak, "fp32_fraction": flops / fp32_peak if fp32_peak else None}


# ----------------------------------------------------------------------------- Hydra glue
def main(cfg) -> float | None:
    """The Hydra task function's body: run, then return the final val top-1 error (for sweepers).

    In a multirun a failed member is recorded and returns None. In a single run a failure
    prints its sentence to stderr and exits with status 2 (a user error) or 1 (anything else).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    job_num = hc.job.num if multirun else None
    record, error = execute(cfg, hc.runtime.output_dir, list(hc.overrides.task), job_num)
    if record["status"] == "failed" and not multirun:
        print(f"ablate: {record['reason']}", file=sys.stderr)
        sys.exit(2 if error is None or isinstance(error, AblateError) else 1)
    final = record.get("final")
    return final["val_err"] if record["status"] == "completed" and final else None

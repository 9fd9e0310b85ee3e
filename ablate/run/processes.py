"""The training processes of one run: the plan they share, how many there are and their threads, how they start
(in the job's own process, or as DDP processes forked from a server that imported torch once), each process's body
(data, model, trainer, the record's epochs and trackers on rank 0) and the throughput the run reached.

`ablate.run.app` takes a run through its life (resume or refuse, solve, finish or fail); it hands this module a
solved template and calls `train(plan_for(...))`. Nothing here decides whether a run should train: only how.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import logging.config
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ablate.errors import AblateError, ConfigError
from ablate.run.pruning import Report, never, report_epoch, reporter
from ablate.run.record import RESULT, EnvSection, RunRecord, ThroughputSection

if TYPE_CHECKING:
    import torch
    from omegaconf import DictConfig

    from ablate.config.schema import DataConfig
    from ablate.data.base import Dataset
    from ablate.engine.template import Template

log = logging.getLogger("ablate")
EXIT_ORPHANED = 137  # a DDP process whose job is gone ends as if killed with it (128 + SIGKILL)


@dataclass(frozen=True)
class RunPlan:
    """What every training process of one run needs (picklable: DDP processes receive it)."""

    cfg: DictConfig  # the composed config: its data, optim and trainer groups
    template: Template  # solved
    form: str  # the block form, a | b | c
    expected: dict  # the checkpoint's identity (`ablate.run.trainer.identity`)
    threads: int | None  # CPU threads per process
    world_size: int  # DDP processes
    seed: int
    job_num: int | None  # the member's number in a multirun (picks its GPU)
    run_dir: Path
    init_file: str | None = None  # DDP rendezvous file, set by `train` when world_size > 1
    job_pid: int | None = None  # the job's process, which the DDP processes end with (set by `train`)
    report: Report = never  # after each epoch (report_epoch): a value to an Optuna trial; True: its pruner stops
    logging: dict | None = None  # the job's logging config (Hydra's job_logging), so DDP processes log where it does
    peaks: tuple[float, float] | None = None  # CPU: the matmul peaks (training dtype, fp32) of all processes
    sharing: int | None = None  # CPU: the members running at once where they outnumber the cores (no peak measured)


def start_fork_server(cfg: DictConfig) -> None:
    """Start the DDP processes' fork server now, before this process imports torch, where the run will use it:
    its own imports (torch, torch._inductor, ablate) then run on another core while this process imports torch,
    solves the run and measures the peaks, instead of after. Only on the CPU (`trainer.device=cpu`, or `auto`
    with no NVIDIA device file), with `world_size` resolving to more than one process; otherwise `plan_for`
    starts it when it is needed."""
    from ablate.run.parallel import ranks_for_job

    device = str(cfg.trainer.device)
    cpu = device == "cpu" or (device == "auto" and not os.path.exists("/dev/nvidiactl"))
    if not cpu:
        return
    _fork_server(
        ranks_for_job(
            cfg.trainer.world_size, cuda=False, batch=int(cfg.optim.batch_size), num_threads=cfg.trainer.num_threads
        )
    )


def _fork_server(world_size: int) -> None:
    """Start the fork server the DDP processes of a run of `world_size` processes will fork from (a no-op when it
    runs already, or for one process): it imports while this process goes on."""
    if world_size > 1 and _start_method() == "forkserver":
        import multiprocessing.forkserver

        multiprocessing.forkserver.ensure_running()


def plan_for(cfg: DictConfig, template: Template, expected: dict, run_dir: Path, job_num: int | None) -> RunPlan:
    """The training processes' plan: the solved model, its identity and how many processes and threads."""
    from ablate.run import device as devices
    from ablate.run.parallel import members_sharing_cores, ranks_for_job

    world_size = ranks_for_job(
        cfg.trainer.world_size,
        cuda=devices.wants_cuda(cfg.trainer.device),
        batch=int(cfg.optim.batch_size),
        num_threads=cfg.trainer.num_threads,
    )
    if not devices.wants_cuda(cfg.trainer.device):  # on a GPU the device's memory counts, and torch says so
        from ablate.data.options import options

        check_memory(template, world_size)
        check_data_memory(options(cfg.data), world_size)
    threads = threads_per_process(cfg.trainer.num_threads, world_size)
    sharing = None if devices.wants_cuda(cfg.trainer.device) else members_sharing_cores()
    _fork_server(world_size)  # started already where `start_fork_server` foresaw this count
    return RunPlan(
        cfg=cfg,
        template=template,
        form=expected["form"],
        expected=expected,
        threads=threads,
        world_size=world_size,
        seed=int(cfg.seed),
        job_num=job_num,
        run_dir=run_dir,
        report=reporter(),
        logging=job_logging() if world_size > 1 else None,
        peaks=_cpu_peaks(cfg.trainer, world_size, threads) if world_size > 1 and not sharing else None,
        sharing=sharing,
    )


def _cpu_peaks(trainer, world_size: int, threads: int | None) -> tuple[float, float] | None:
    """The matmul peaks of `world_size` CPU processes of `threads` threads each, measured here (once per job
    process: a sweep's members share the figure) rather than by each member's fresh rank 0; None on CUDA, or
    with `trainer.peak_flops` given."""
    from ablate.run import device as devices

    if trainer.peak_flops is not None or devices.wants_cuda(trainer.device):
        return None
    import torch

    cpu = torch.device("cpu")
    dtype = devices.autocast_dtype(trainer.precision, cpu)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads or before)
        peak = devices.peak_flops(cpu, dtype) * world_size
        return peak, (peak if dtype is None else devices.peak_flops(cpu, None) * world_size)
    finally:
        torch.set_num_threads(before)


def job_logging() -> dict | None:
    """Hydra's `hydra.job_logging` of this job, resolved (its log file's path included); None outside Hydra, or
    where it does not resolve (a config another job left in this process): the processes then log as Python's
    default does, and the run goes on."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not HydraConfig.initialized():
        return None
    try:
        config = OmegaConf.to_container(HydraConfig.get().job_logging, resolve=True)
    except OmegaConfBaseException:
        return None
    return config if isinstance(config, dict) and config else None


def train(plan: RunPlan) -> None:
    """Run `train_process` here, or on `plan.world_size` processes (DDP, started from inside this job)."""
    if plan.world_size == 1:
        train_process(0, plan)
        return
    import torch.multiprocessing as mp

    from ablate.data import prepare

    prepare(plan.cfg.data)  # here, once: a refusal before any process starts, a download made by one process
    method = _start_method()
    with tempfile.TemporaryDirectory(prefix="ablate-ddp-") as tmp, _quiet_rank_termination():
        plan = dataclasses.replace(plan, init_file=os.path.join(tmp, "rendezvous"), job_pid=os.getpid())
        with _standard_start_method(method):
            context = mp.start_processes(
                train_process, args=(plan,), nprocs=plan.world_size, join=False, start_method=method
            )
        try:
            while not context.join():
                pass
        except mp.ProcessRaisedException as e:
            raise _child_error(e) from e
        except BaseException:  # interrupted: the processes stop too (at their last checkpoint)
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
            for process in context.processes:
                process.join()
            raise


@contextlib.contextmanager
def _standard_start_method(method: str) -> Iterator[None]:
    """`method` as this process's multiprocessing start method while the DDP processes start, where it is one of
    joblib's (a loky worker's is 'loky'): each new process sets the start method it is told, and one that does not
    import joblib finds no 'loky' and dies before it runs a line of ablate. Restored afterwards."""
    import multiprocessing

    current = multiprocessing.get_start_method(allow_none=True)
    if current in (None, *multiprocessing.get_all_start_methods()):
        yield
        return
    multiprocessing.set_start_method(method, force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(current, force=True)


@contextlib.contextmanager
def _quiet_rank_termination() -> Iterator[None]:
    """When one DDP process fails, torch's `join` terminates the others and warns on stderr about each; the
    failed process's error is the run's one sentence, so those warnings are kept to errors while ranks run."""
    logger = logging.getLogger("torch.multiprocessing.spawn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _start_method() -> str:
    """`forkserver` where the platform has it: the server imports torch and ablate once per job process (a sweep's
    members share it), and each DDP process forks from it in a fraction of the seconds a `spawn` takes to import
    them again; torch's own threads never start in the server, so the forks are safe. Else `spawn`."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    # torch._inductor (seconds): torch.use_deterministic_algorithms imports it, and so does an optimizer's first
    # param group (through torch._dynamo, which torch's optimizers import lazily): once here, not in every fork
    multiprocessing.set_forkserver_preload(["torch", "torch._inductor", "ablate.run.processes"])
    return "forkserver"


MAX_THREADS_PER_CORE = 64  # past it a process may fail to start its threads (a segfault in OpenMP); none would help


TRAINING_BYTES_PER_PARAM = 12  # fp32 weight, gradient and SGD momentum buffer: the least a trained parameter holds


def memory_bytes() -> float:
    """This machine's memory in all, in bytes."""
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_memory(template: Template, world_size: int) -> None:
    """Refuse (ConfigError) a model whose fp32 weights, gradients and momentum alone, in each of `world_size` CPU
    training processes, exceed this machine's memory: it cannot train, and torch would say so only after the data
    loaded, in its own words (an allocation failure, or an overflow of a layer's size)."""
    from ablate.engine.complexity import totals

    try:
        params = totals(template).params
    except Exception:  # a block of one's own that cannot be counted is the build's to report
        return
    need = TRAINING_BYTES_PER_PARAM * params * world_size
    if need <= memory_bytes():
        return
    count = f"{params:,}" if params < 1e15 else f"{params:.3g}"
    raise ConfigError(
        f"the model has {count} params: their fp32 weights, gradients and momentum alone need "
        f"{_beyond_memory(need, world_size)}: give a smaller model "
        "(python -m ablate.describe shows a config's size)."
    )


def check_data_memory(opts: DataConfig, world_size: int) -> None:
    """Refuse (ConfigError) an in-memory data set that, in each of `world_size` CPU training processes, exceeds this
    machine's memory (`ablate.data.base.footprint`), naming the field that made it so: a crop padding that
    multiplies the stored training images, else the count of images."""
    from ablate.data.base import footprint, pad_fix

    held = footprint(opts)
    if held is None or held.bytes() * world_size <= memory_bytes():
        return
    need = _beyond_memory(held.bytes() * world_size, world_size)
    side = held.side
    if held.pad and held.bytes(pad=0) * world_size <= memory_bytes():
        raise ConfigError(
            f"data.pad={held.pad} stores each of the {held.kept_train:,} training images of {held.title} zero-padded "
            f"to {side + 2 * held.pad}×{side + 2 * held.pad}: {need}: {pad_fix(side)}."
        )
    fields = (
        "data.num_samples, data.val_samples" if hasattr(opts, "num_samples") else "data.train_subset, data.val_subset"
    )
    raise ConfigError(
        f"data={opts.name} holds {held.train:,} training and {held.val:,} val images of "
        f"{held.channels}×{side}×{side} in memory: {need}: give fewer images ({fields})."
    )


def _beyond_memory(need: float, world_size: int) -> str:
    """`494 GB in 2 training processes, more than this machine's 25.3 GB of memory`: bytes needed in all."""
    gb = need / 1e9
    shown = f"{gb:,.0f}" if 100 <= gb < 1e9 else f"{gb:.3g}"  # whole GB from 100 on, 3 figures past a billion
    processes = f"{world_size} training process{'es' * (world_size != 1)}"
    return f"{shown} GB in {processes}, more than this machine's {memory_bytes() / 1e9:.3g} GB of memory"


def threads_per_process(num_threads: int | None, world_size: int) -> int | None:
    """CPU threads per process: `trainer.num_threads`, else this job's share of the cores
    (`ablate.run.parallel`: members of a multirun running at once split them), split among DDP ranks. Refuses
    (ConfigError) more processes, or threads in all, than MAX_THREADS_PER_CORE per core of this machine."""
    from ablate.run.parallel import cpu_count, threads_for_job

    if world_size > MAX_THREADS_PER_CORE * cpu_count():  # each process starts at least one thread
        raise ConfigError(
            f"trainer.world_size={world_size} is more than {MAX_THREADS_PER_CORE} processes per core of this "
            f"machine's {cpu_count()} cores: give at most {MAX_THREADS_PER_CORE * cpu_count()} (more processes than "
            "cores only share them), or auto for one per core."
        )
    if num_threads is not None:
        if num_threads * world_size > MAX_THREADS_PER_CORE * cpu_count():  # OpenMP fails to start them, or crashes
            most = max(MAX_THREADS_PER_CORE * cpu_count() // world_size, 1)
            ranks = f" with {world_size} processes" if world_size > 1 else ""
            raise ConfigError(
                f"trainer.num_threads={num_threads}{ranks} is more than {MAX_THREADS_PER_CORE} threads per core of "
                f"this machine's {cpu_count()} cores: give at most {most} (more threads than cores only share "
                "them), or null for each process its share."
            )
        if num_threads * world_size > cpu_count():
            processes = f"{world_size} process{'es' * (world_size != 1)}"
            log.warning(
                "trainer.num_threads=%d gives %s %d threads on this machine's %d cores: they will share the cores "
                "and run slower; trainer.num_threads=null gives each process its share.",
                num_threads,
                processes,
                num_threads * world_size,
                cpu_count(),
            )
        return num_threads
    return max(threads_for_job() // world_size, 1)


def train_process(rank: int, plan: RunPlan) -> None:
    """Build, load and train in this process (DDP rank `rank` of `plan.world_size`).

    Rank 0 keeps the record: it takes the one `_execute` wrote in `plan.run_dir` before training
    (the same whether this process is the job's own or a DDP process) and rewrites it after every
    epoch and at the end of training.
    """
    import torch
    import torch.distributed as dist

    from ablate.data import load
    from ablate.models import build
    from ablate.run import device as devices
    from ablate.run.loggers import Trackers
    from ablate.run.trainer import fit

    trainer, world_size = plan.cfg.trainer, plan.world_size
    if plan.job_pid is not None:
        _end_with(plan.job_pid)
    if rank == 0 and world_size > 1 and plan.logging:  # a spawned process starts with logging unconfigured
        logging.config.dictConfig(plan.logging)
    device = devices.choose(trainer.device, plan.job_num, rank, world_size)
    threads = devices.set_threads(plan.threads)
    devices.activate(
        device, plan.template, plan.cfg.optim.batch_size, trainer.precision, trainer.jobs_per_gpu, world_size
    )  # CUDA: its own device, cuDNN autotuning, TF32; the memory check
    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    if world_size > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=f"file://{plan.init_file}", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(plan.seed)
        if device.type == "cpu" and trainer.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            # deterministic mode also fills every new tensor with NaN (a debugging aid, not needed for
            # identical results): it costs time in aten::fill_, so it is off
            torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
        data = load(plan.cfg.data, device, plan.seed)
        _check_data(data, plan.template)
        model = build(plan.template, form=plan.form, zero_init_last_bn=bool(plan.cfg.model.zero_init_last_bn))
        record = _rank0_record(rank, plan)
        trackers = Trackers()  # trainer.loggers (metrics.csv, TensorBoard, MLflow): rank 0's
        if record is not None:
            record.env = EnvSection.current(str(device), threads, plan.seed, world_size, **devices.env(device))
            trackers = Trackers.of(plan.cfg, plan.run_dir, record)

        told = 0  # how many of the run's epochs its Optuna trial has been told

        def tell(epochs: list[dict]) -> bool:
            """The epochs the trial has not been told, in order (a resumed run's checkpoint epochs first: a
            retried trial resumes its original's checkpoint under a new trial number); the pruner's answer."""
            nonlocal told
            stop = False
            for entry in epochs[told:]:
                stop = report_epoch(plan.report, entry)
            told = len(epochs)
            return stop

        def on_epoch(entry: dict, epochs: list[dict]) -> bool:
            assert record is not None  # fit calls back on rank 0 alone
            record.set_epochs(epochs)
            record.save(plan.run_dir)
            trackers.epoch(entry)
            return tell(epochs)

        with trackers:  # closes every logger; training that raises ends their run failed (killed: interrupted)
            result = fit(
                model,
                data,
                plan.cfg,
                device,
                run_dir=plan.run_dir,
                expected=plan.expected,
                rank=rank,
                world_size=world_size,
                on_epoch=on_epoch if record is not None else None,
            )
            if record is not None:
                tell(result.epochs)  # a checkpoint that held every epoch trained none here
                record.set_epochs(result.epochs)
                record.status, record.reason = result.status, result.reason
                record.throughput = _throughput(record, trainer, device, world_size, plan.peaks, plan.sharing)
                record.save(plan.run_dir)
                trackers.end(record)
    finally:
        torch.use_deterministic_algorithms(deterministic)  # as it was: tests and benchmarks share the process
        torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]
        if world_size > 1:
            dist.destroy_process_group()


def _end_with(pid: int) -> None:
    """End this DDP process when the job's process `pid` is gone. A job killed by SIGKILL cannot stop its DDP
    processes, and they come from a fork server, not from it: unwatched they train on, orphaned, and write the
    checkpoint that the same command, run again, resumes from. A daemon thread looks once a second."""

    from ablate.run.lock import running

    def watch() -> None:
        while running(pid):
            time.sleep(1.0)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="ablate-job-watch", daemon=True).start()


def _rank0_record(rank: int, plan: RunPlan) -> RunRecord | None:
    """Rank 0's record (the one in `plan.run_dir`); None on the other ranks."""
    if rank != 0:
        return None
    record = RunRecord.load(plan.run_dir)
    if record is None:
        raise RuntimeError(f"the run record {plan.run_dir / RESULT} written before training is gone or unreadable")
    return record


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Iteration|Warning)(: |$)")


def _child_error(error: Exception) -> Exception:
    """The error a DDP process died of, from the traceback text `spawn` hands back: an
    AblateError as itself (its sentence), anything else as a RuntimeError naming it."""
    import ablate.errors

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    headers = [line for line in lines if _EXCEPTION_LINE.match(line)]  # a message may run over lines (torch's C++)
    last = headers[-1] if headers else lines[-1] if lines else str(error)
    name, _, message = last.partition(": ")
    kind = getattr(ablate.errors, name.rsplit(".", 1)[-1], None)
    if isinstance(kind, type) and issubclass(kind, AblateError):
        return kind(message)
    return RuntimeError(f"a DDP process failed with {last}")


def _check_data(data: Dataset, template: Template) -> None:
    """The data set must fit the template's input and output."""
    from ablate.config.schema import misfit

    loaded = {"in_channels": data.in_channels, "resolution": data.resolution, "num_classes": data.num_classes}
    unfit = misfit(data.name, template, loaded)
    if unfit is not None:
        raise unfit


def _throughput(
    record: RunRecord,
    trainer,
    device: torch.device,
    world_size: int,
    peaks: tuple[float, float] | None = None,
    sharing: int | None = None,
) -> ThroughputSection:
    """Training images/s over the run's epochs, the FLOP/s they mean, and the fraction of the machine's peak.
    `peaks`: measured by the job's process; `sharing`: the members that share this machine's cores, if more than
    the cores (`RunPlan`)."""
    from ablate.run import device as devices
    from ablate.run.parallel import cpu_count

    rates = [e.images_per_s for e in record.epochs if e.images_per_s]
    if not rates or record.model is None:
        return dataclasses.replace(record.throughput, images_per_s=None)
    # steady state: leave out the first epoch (allocator and kernel warm-up) when there are more
    steady = rates[1:] if len(rates) > 1 else rates
    images_per_s = len(steady) / sum(1 / r for r in steady)
    # training ≈ 3 × the forward pass (forward, input and weight gradients); 2 FLOPs per multiply-add
    flops = 6 * record.model.complexity.flops * images_per_s
    dtype = devices.autocast_dtype(trainer.precision, device)
    peak = trainer.peak_flops
    fp32_peak = None
    shared_gpu = device.type == "cuda" and trainer.jobs_per_gpu > 1
    if peak is None and peaks is not None:  # measured by the job's process before training
        peak, fp32_peak = peaks
    elif peak is None and shared_gpu:  # the other members' steps would take most of the GPU from the measurement
        log.info(
            "the GPU's peak is not measured while trainer.jobs_per_gpu=%d members share %s (each would read a "
            "fraction of it): the shares of the peak are left out; trainer.peak_flops gives the GPU's peak",
            trainer.jobs_per_gpu,
            device,
        )
    elif peak is None and sharing:  # CPU members beyond the cores: the others train on the cores it would time
        log.info(
            "the CPU's peak is not measured while %d members share its %d cores (each would read a fraction of it): "
            "the shares of the peak are left out; trainer.peak_flops gives a peak instead",
            sharing,
            cpu_count(),
        )
    elif peak is None:  # each process measured its own device or its share of the cores
        peak = devices.peak_flops(device, dtype) * world_size
        fp32_peak = peak if dtype is None else devices.peak_flops(device, None) * world_size
    elif dtype is None:
        fp32_peak = float(peak)
    exceeded = bool(peak) and flops > peak  # a peak is the most the machine does: a run above it shows it wrong
    if exceeded and trainer.peak_flops is not None:
        log.warning(
            "the run reached %.3g FLOP/s, more than trainer.peak_flops=%g, the most the machine does: the share of "
            "the peak is left out; give the machine's peak FLOP/s, or null to measure it",
            flops,
            trainer.peak_flops,
        )
    elif exceeded:  # measured in a fraction of a second beside the run, on cores something else kept busy
        log.warning(
            "the run reached %.3g FLOP/s, more than the %.3g FLOP/s matmul peak measured beside it: the machine was "
            "busy while the peak was measured, so the shares of the peak are left out (trainer.peak_flops sets the "
            "peak instead)",
            flops,
            peak,
        )
    return ThroughputSection(
        images_per_s=images_per_s,
        train_flops_per_s=flops,
        precision=devices.precision_name(dtype),
        peak_flops=peak,
        machine_fraction=flops / peak if peak and not exceeded else None,
        fp32_peak_flops=fp32_peak,
        fp32_fraction=flops / fp32_peak if fp32_peak and not exceeded else None,
    )

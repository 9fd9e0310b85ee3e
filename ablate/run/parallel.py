"""How many CPU threads one sweep member should use, and how many DDP processes `trainer.world_size: auto` starts.

Hydra's joblib launcher runs `n_jobs` members at once on one machine, submitit_local runs a
whole batch at once, Ray gives each task `num_cpus`, SLURM gives each job `cpus_per_task`.
torch would otherwise start one thread per core in every member, and the members would fight
over the cores. No torch import: the caller passes the count to `torch.set_num_threads`.
"""

from __future__ import annotations

import os


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_for_job(hydra_cfg=None, cores: int | None = None) -> int:
    """Threads for this job: cores // members running at once on this machine (at least 1).

    `hydra_cfg` is the `hydra` node (default: the running job's, via HydraConfig); outside a
    multirun, or with the basic launcher (one member at a time), that is every core.
    """
    cores = cores or cpu_count()
    hydra_cfg = _multirun(hydra_cfg)
    if hydra_cfg is None:
        return cores
    launcher = hydra_cfg.get("launcher") or {}
    target = str(launcher.get("_target_", ""))
    cpus_per_task = launcher.get("cpus_per_task")
    if "submitit" in target and cpus_per_task:
        return int(cpus_per_task)
    if "ray" in target:
        num_cpus = (launcher.get("ray") or {}).get("remote", {}).get("num_cpus")
        return max(int(num_cpus), 1) if num_cpus else 1  # Ray runs one 1-CPU task per core by default
    members = concurrent_members(hydra_cfg, cores)
    return max(cores // members, 1)


MIN_RANK_BATCH = 32  # images per process below which BN's per-process statistics start to cost accuracy


def ranks_for_job(
    world_size: int | str, *, cuda: bool, batch: int, num_threads: int | None = None, cores: int | None = None
) -> int:
    """The DDP processes a run starts: `trainer.world_size`, resolving `auto`.

    `auto` on CUDA is 1 (more GPUs are a deliberate choice). On the CPU it is one single-threaded
    process per core of this job (`threads_for_job`: a member running alongside others gets its
    share): small convolutions barely speed up with a second intra-op thread, while two processes
    with one thread each do nearly twice the work. The count is capped so that the global `batch`
    splits evenly and every process keeps at least MIN_RANK_BATCH images, since BatchNorm takes its
    statistics per process (Wu & He, 2018). With `trainer.num_threads` set the run keeps one process
    of that many threads. A run's numbers depend on the resolved count (BN statistics, summation
    order), which the run record and checkpoint keep.
    """
    if world_size != "auto":
        return int(world_size)
    if cuda or num_threads is not None:
        return 1
    cores = threads_for_job(cores=cores) if cores is None else cores
    fits = [r for r in range(1, max(cores, 1) + 1) if batch % r == 0 and batch // r >= MIN_RANK_BATCH]
    return max(fits, default=1)


def concurrent_members(hydra_cfg, cores: int) -> int:
    """Members of a multirun running at once on this machine, as the launcher and sweeper allow."""
    launcher = hydra_cfg.get("launcher") or {}
    target = str(launcher.get("_target_", ""))
    sweeper = hydra_cfg.get("sweeper") or {}
    batch = sweeper.get("n_jobs") or sweeper.get("max_batch_size")  # Optuna sweeper / basic sweeper
    if "joblib" in target:
        n = launcher.get("n_jobs", -1)
        n = cores + 1 + n if n is not None and n < 0 else (n or 1)  # joblib: -1 means every core
    elif "LocalLauncher" in target:  # submitit_local starts a whole batch at once
        n = batch or cores
    else:  # basic launcher: one at a time; SLURM: each job has its own allocation
        n = 1
    if batch:
        n = min(n, int(batch))
    return max(int(n), 1)


def members_sharing_cores(hydra_cfg=None, cores: int | None = None) -> int | None:
    """How many members of this multirun run at once on this machine when they outnumber its cores (each then
    has a fraction of a core, and a timing taken in one of them reads the others' load); None otherwise."""
    cores = cores or cpu_count()
    hydra_cfg = _multirun(hydra_cfg)
    if hydra_cfg is None:
        return None
    members = concurrent_members(hydra_cfg, cores)
    return members if members > cores else None


def _multirun(hydra_cfg=None):
    """`hydra_cfg` (default: the running job's `hydra` node) when it is a multirun's; None otherwise."""
    if hydra_cfg is None:
        hydra_cfg = _running_hydra_cfg()
    if hydra_cfg is None or not str(hydra_cfg.get("mode", "")).endswith("MULTIRUN"):
        return None
    return hydra_cfg


def _running_hydra_cfg():
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get() if HydraConfig.initialized() else None
    except ImportError:  # pragma: no cover - hydra is a dependency
        return None

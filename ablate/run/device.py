"""Where a run computes: device, threads, precision, and the machine's peak for the FLOP/s fraction.

`trainer.device` is `auto` (CUDA when present, else the CPU), `cpu`, `cuda` or `cuda:N`. In a
multirun, `auto` and `cuda` spread jobs over the GPUs: job n (Hydra's job number) gets GPU
n mod count, since Hydra's basic and joblib launchers assign none. A DDP run's rank r takes
the r-th GPU after its job's first one.

Several small members may share one GPU (`trainer.jobs_per_gpu`, with a launcher that runs that many
more members than there are GPUs): the round-robin above already puts the same number on each GPU,
and `activate` refuses, before any training, a packing whose members cannot fit in the GPU's memory.
`activate` also makes the process's CUDA settings (current device, cuDNN autotuner, TF32 policy), and
`env` gives the record the GPU, CUDA and cuDNN it ran on.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from functools import cache
from typing import TYPE_CHECKING

import torch

from ablate.config.schema import device_spec
from ablate.config.schema import precision as checked_precision
from ablate.errors import ConfigError, shown
from ablate.run import cpu
from ablate.run.parallel import cpu_count

if TYPE_CHECKING:
    from ablate.engine.template import Template

log = logging.getLogger(__name__)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)
MMAP_THRESHOLD = 32 * 2**20  # the largest glibc accepts on 64-bit: blocks below it come from the heap
TRIM_THRESHOLD = 2**30  # free memory kept at the top of the heap before any is given back


def glibc() -> bool:
    """Whether this process's C library is glibc (whose `mallopt` `keep_freed_memory` calls)."""
    try:
        return os.uname().sysname == "Linux" and bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):  # a C library without the name (musl): not glibc
        return False


@cache
def keep_freed_memory() -> bool:
    """Make glibc keep the memory a training step frees for the next step (True where it did).

    By default glibc serves a large block with its own `mmap` and gives it back with `munmap` when it is freed,
    and trims the heap's free top: every step of a CPU training loop then asks the kernel for its activations'
    pages again, and each first touch of a page is a page fault that zeroes it (costly in a virtual machine
    above all). Raising the mmap threshold to glibc's maximum and the trim threshold far above a step's
    working set makes the steps reuse one heap. Nothing computed changes; the process keeps its peak memory
    instead of returning it between steps. A no-op where the C library is not glibc.
    """
    if not glibc():
        return False
    import ctypes

    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def visible_gpus() -> int:
    """The CUDA devices this process sees (after CUDA_VISIBLE_DEVICES); 0 without CUDA."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _visible_note() -> str:
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "" if value is None else f" (CUDA_VISIBLE_DEVICES={value!r})"


def wants_cuda(spec: str = "auto") -> bool:
    """Whether `trainer.device=spec` trains on CUDA on this machine (auto: when a GPU is visible)."""
    kind, _ = device_spec(spec)
    return kind == "cuda" or (kind == "auto" and visible_gpus() > 0)


def choose(spec: str = "auto", job_num: int | None = None, rank: int = 0, world_size: int = 1) -> torch.device:
    """The device `trainer.device=spec` names for this job and DDP rank.

    Job n of a multirun starts at GPU (n × world_size) mod count and rank r takes the r-th GPU after
    it. With more members running at once than GPUs (`trainer.jobs_per_gpu` > 1), consecutive members
    go to different GPUs, so a sweep shorter than the launcher's slots still spreads over all of them.
    `auto` without a visible GPU trains on the CPU, with a one-line warning where torch is built with
    CUDA (a launcher that hid the GPUs, such as Ray without `num_gpus`, would otherwise go unnoticed).

    Raises ConfigError (one sentence) for an unknown name, for CUDA on a machine without it, and for
    `trainer.world_size` above the visible GPUs (NCCL refuses two ranks on one GPU).
    """
    kind, index = device_spec(spec)  # the one parse of trainer.device (ablate.config.schema)
    spec = str(spec).strip().lower()
    count = visible_gpus()
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "auto" and count == 0:
        if rank == 0 and torch.backends.cuda.is_built():
            under_ray = "ray" in sys.modules  # a Ray worker: its task asked for no GPU
            log.warning(
                "trainer.device=auto sees no GPU although torch %s is built with CUDA %s%s: training on the "
                "CPU (set trainer.device=cpu to choose it on purpose%s).",
                torch.__version__,
                torch.version.cuda,
                _visible_note(),
                "; with Ray, give members GPUs with +hydra.launcher.ray.remote.num_gpus" if under_ray else "",
            )
        return torch.device("cpu")
    if count == 0:
        raise ConfigError(
            f"trainer.device={shown(spec)} asks for CUDA, but this machine has no CUDA device: "
            "use trainer.device=cpu or auto."
        )
    if world_size > count:
        raise ConfigError(
            f"trainer.world_size={world_size} is more than the {count} GPU{'s' * (count != 1)} "
            f"visible{_visible_note()}: give each DDP process its own GPU with trainer.world_size="
            f"{count} or fewer, or train on the CPU with trainer.device=cpu."
        )
    if index is not None:
        if index >= count:
            raise ConfigError(
                f"trainer.device={shown(spec)} is out of range: this machine has CUDA devices 0 to {count - 1}."
            )
        return torch.device("cuda", (index + rank) % count)
    first = ((job_num or 0) * world_size) % count
    return torch.device("cuda", (first + rank) % count)


def set_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads (None: every core this process may use); returns the count."""
    if num_threads is None:
        num_threads = cpu_count()
    torch.set_num_threads(num_threads)
    return num_threads


@cache
def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 dot products (AVX-512 BF16 or AMX), which oneDNN uses for
    bf16 convs and matmuls: there bf16 runs at about 2× fp32 (`python -m benchmarks --only ceilings`).
    Elsewhere bf16 on the CPU is emulated and slower than fp32."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu.flags())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `trainer.precision` on `device`, or None for plain fp32.

    `auto` is bf16 wherever the hardware runs it natively: GPUs of compute capability 8.0 or newer
    (`cuda_has_bf16`; fp16 with a GradScaler on older ones), and CPUs with AVX-512 BF16 or AMX, where bf16
    matmuls run at a multiple of the fp32 rate (`python -m benchmarks --only variants` measures it);
    elsewhere on the CPU it is fp32. fp16 is CUDA-only.
    """
    precision = checked_precision(precision)  # lower case; an unknown name is refused (ablate.config.schema)
    if device.type != "cuda":
        if precision == "fp16":
            raise ConfigError(
                f"trainer.precision='fp16' needs a CUDA device, and this run is on {device}: "
                "use trainer.precision=bf16, fp32 or auto."
            )
        if precision == "auto":
            return torch.bfloat16 if cpu_has_bf16() else None
        return torch.bfloat16 if precision == "bf16" else None
    if precision == "auto":
        return torch.bfloat16 if cuda_has_bf16(device) else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def cuda_has_bf16(device: torch.device) -> bool:
    """Whether this GPU has bf16 tensor cores: compute capability 8.0 (Ampere) or newer.

    Not `torch.cuda.is_bf16_supported()`, which also says yes where bf16 is emulated (V100, T4): there
    a bf16 step is slower than fp16, which those GPUs run on tensor cores.
    """
    return torch.cuda.get_device_capability(device) >= (8, 0)


def precision_name(dtype: torch.dtype | None) -> str:
    """The record's name for an autocast dtype: fp32, bf16 or fp16."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def peak_flops(device: torch.device, dtype: torch.dtype | None = None, seconds: float = 0.3) -> float:
    """Measured matmul FLOP/s of this device in the training dtype: the best of a few square sizes.

    A quick, rough ceiling (about `seconds` of work) for the record's `machine_fraction`; on a
    shared machine it reads low. Set `trainer.peak_flops` to use a known figure instead. On the
    CPU it is measured once per process, dtype and thread count (the members of a sweep share it).
    """
    if device.type == "cpu":
        return _cpu_peak_flops(dtype, torch.get_num_threads(), seconds)
    return _measure_peak(device, dtype, seconds)


@cache
def _cpu_peak_flops(dtype: torch.dtype | None, threads: int, seconds: float) -> float:
    return _measure_peak(torch.device("cpu"), dtype, seconds)


def _measure_peak(device: torch.device, dtype: torch.dtype | None, seconds: float) -> float:
    """The best matmul FLOP/s over growing square sizes, each given an equal share of `seconds`.

    Sizes grow from small ones, and a size whose single product would take longer than `seconds` at
    the best rate so far is not tried: where a dtype has no fast kernel (bf16 on a CPU without bf16
    instructions runs orders of magnitude slower than fp32), the measurement still takes about
    `seconds` instead of the minutes a large product would.
    """
    dtype = dtype or torch.float32
    sizes = (256, 1024, 2048) if device.type == "cpu" else (1024, 4096, 8192)
    share = seconds / len(sizes)
    best = 0.0
    for n in sizes:
        if best and 2 * n**3 / best > seconds:
            break
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        _matmul(a, b)  # warm-up: library initialisation, kernel choice
        _sync(device)
        count, start = 0, time.perf_counter()
        while True:
            _matmul(a, b)
            count += 1
            if count % 4 == 0 or device.type == "cpu":
                _sync(device)
                elapsed = time.perf_counter() - start
                if elapsed > share:
                    break
        best = max(best, 2 * n**3 * count / elapsed)
    return best


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- a CUDA run's settings
GIB = 2**30
# a process's CUDA context with cuBLAS and cuDNN handles: memory outside torch's allocator, at least this much
CUDA_CONTEXT_BYTES = 256 * 2**20


def activate(
    device: torch.device,
    template: Template | None = None,
    batch: int | None = None,
    precision: str = "auto",
    jobs_per_gpu: int = 1,
    world_size: int = 1,
) -> None:
    """Set this process up to train on `device`. Call once, before training.

    - On the CPU, `keep_freed_memory`: a training step's large tensors reuse the memory of the last step's
      instead of faulting fresh pages in from the kernel.

    - `torch.cuda.set_device(device)`, in every CUDA run (not only under DDP): cuDNN and cuBLAS handles,
      NCCL and any `torch.cuda` call without a device then go to the run's GPU, instead of opening a
      second context on GPU 0 beside the one on the GPU the job was given.
    - `torch.backends.cudnn.benchmark = True`: cuDNN times its algorithms once per conv shape and keeps
      the fastest. A run's shapes are fixed (whole training batches, plus the evaluation batches), and
      the grouped convs of ResNeXt gain the most from the choice.
    - TF32 policy, `torch.set_float32_matmul_precision("high")`: fp32 matmuls may use TF32 tensor cores
      (10-bit mantissa, fp32 range and accumulation), as cuDNN's convs already do by default
      (`torch.backends.cudnn.allow_tf32`). With `trainer.precision=fp32` the FC layer then follows the
      convs instead of being the one layer at full fp32 cost on Ampere and newer; SGD training is
      insensitive to that rounding, which is why PyTorch leaves it on for convs. Under bf16/fp16 autocast
      the matmuls run in that dtype and the policy does not apply.
    - With `template` and the global `batch` (`optim.batch_size`, split over `world_size` processes):
      `check_memory` refuses, before anything is trained, what cannot fit.
    """
    if device.type != "cuda":
        keep_freed_memory()
        return
    torch.cuda.set_device(device)
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")
    if template is not None and batch is not None:
        check_memory(device, template, batch, autocast_dtype(precision, device), jobs_per_gpu, world_size)


def member_bytes(template: Template, batch: int, dtype: torch.dtype | None) -> int:
    """A low estimate of the GPU memory one training process cannot do without, in bytes.

    Weights, gradients and SGD momentum in fp32 (12 bytes a parameter); the activations kept for the
    backward pass, two tensors per activation that `ablate.engine.complexity` counts (each conv's output
    is kept for its BN, and the BN/ReLU output for the next conv), in the autocast dtype, for `batch`
    images; and the CUDA context. Workspaces, the allocator's slack and a data set held on the device
    come on top: a packing this estimate refuses cannot fit, and one it accepts may still not.
    """
    from ablate.engine.complexity import totals

    counts = totals(template)
    element = 4 if dtype is None else 2
    return 12 * counts.params + 2 * element * counts.acts * batch + CUDA_CONTEXT_BYTES


def check_memory(
    device: torch.device,
    template: Template,
    batch: int,
    dtype: torch.dtype | None,
    jobs_per_gpu: int = 1,
    world_size: int = 1,
) -> None:
    """Refuse (ConfigError, one sentence) a run whose processes cannot fit in `device`'s memory.

    `batch` is the global `optim.batch_size`; each of the `world_size` processes takes its share. Two
    checks against `torch.cuda.mem_get_info`: `jobs_per_gpu` members of at least `member_bytes` each
    must fit in the GPU's whole memory (members that start together each see it all free), and this
    member must fit in what is free now (members started earlier already hold their share).
    """
    per_process = max(batch // world_size, 1)
    need = member_bytes(template, per_process, dtype)
    free, total = torch.cuda.mem_get_info(device)
    member = (
        f"a member at {per_process} images a step needs at least {need / GIB:.1f} GiB (weights, gradients, "
        "momentum and activations)"
    )
    if jobs_per_gpu * need > total:
        if jobs_per_gpu > 1:
            fit = max(total // need, 1)
            raise ConfigError(
                f"trainer.jobs_per_gpu={jobs_per_gpu} does not fit on {device}: {member}, and "
                f"{jobs_per_gpu} of them need more than its {total / GIB:.1f} GiB: use "
                f"trainer.jobs_per_gpu={fit} or fewer, or a smaller optim.batch_size."
            )
        fixed = member_bytes(template, 0, dtype)
        most = max((total - fixed) // (member_bytes(template, 1, dtype) - fixed), 0) * world_size
        raise ConfigError(
            f"optim.batch_size={batch} does not fit on {device}: {member}, more than its "
            f"{total / GIB:.1f} GiB: use optim.batch_size={most} or less"
            f"{', or a smaller model' if most < world_size else ''}."
        )
    if need > free:
        raise ConfigError(
            f"{device} has {free / GIB:.1f} GiB free of {total / GIB:.1f} GiB (other processes hold "
            f"the rest) and {member}: lower trainer.jobs_per_gpu={jobs_per_gpu} or optim.batch_size="
            f"{batch}, or free the GPU."
        )


def env(device: torch.device) -> dict[str, str | None]:
    """The hardware a run trains on, for the record's `env`: the GPU's name, compute capability, and the CUDA and
    cuDNN versions torch uses (all None on the CPU), and the CPU's kind (`ablate.run.cpu.kind`) on either."""
    out: dict[str, str | None] = {"gpu": None, "gpu_capability": None, "cuda": None, "cudnn": None, "cpu": cpu.kind()}
    if device.type != "cuda":
        return out
    props = torch.cuda.get_device_properties(device)
    version = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    out.update(
        gpu=props.name,
        gpu_capability=f"{props.major}.{props.minor}",
        cuda=torch.version.cuda,
        cudnn=_cudnn_version(version),
    )
    return out


def _cudnn_version(version: int | None) -> str | None:
    """cuDNN's version number as text: 90100 → 9.1.0 (cuDNN 9 and later), 8902 → 8.9.2 (cuDNN 8)."""
    if not version:
        return None
    if version >= 90000:
        return f"{version // 10000}.{version // 100 % 100}.{version % 100}"
    return f"{version // 1000}.{version // 100 % 10}.{version % 100}"

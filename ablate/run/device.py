"""Where a run computes: device, threads, precision, and the machine's peak for the FLOP/s fraction.

`trainer.device` is `auto` (CUDA when present, else the CPU), `cpu`, `cuda` or `cuda:N`. In a
multirun, `auto` and `cuda` spread jobs over the GPUs: job n (Hydra's job number) gets GPU
n mod count, since Hydra's basic and joblib launchers assign none. A DDP run's rank r takes
the r-th GPU after its job's first one.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache

import torch

from ablate.errors import ConfigError
from ablate.run.parallel import cpu_count

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = "auto, cpu, cuda or cuda:N"


def choose(spec: str = "auto", job_num: int | None = None, rank: int = 0, world_size: int = 1) -> torch.device:
    """The device `trainer.device=spec` names for this job and DDP rank.

    Raises ConfigError (one sentence) for an unknown name or for CUDA on a machine without it.
    """
    spec = str(spec).strip().lower()
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto" and count == 0:
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if spec != "auto" and not match:
        raise ConfigError(f"trainer.device={spec!r} is unknown: valid devices are {DEVICES}.")
    if count == 0:
        raise ConfigError(f"trainer.device={spec!r} asks for CUDA, but this machine has no CUDA device: "
                          "use trainer.device=cpu or auto.")
    if match and match.group(1) is not None:
        index = int(match.group(1))
        if index >= count:
            raise ConfigError(f"trainer.device={spec!r} is out of range: this machine has CUDA devices 0 "
                              f"to {count - 1}.")
        return torch.device("cuda", (index + rank) % count)
    first = ((job_num or 0) * world_size) % count
    return torch.device("cuda", (first + rank) % count)


def set_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads (None: every core this process may use); returns the count."""
    if num_threads is None:
        num_threads = cpu_count()
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ConfigError(f"trainer.num_threads={num_threads!r} is invalid: give a whole number of at least 1, "
                          "or null for every core.")
    torch.set_num_threads(num_threads)
    return num_threads


@lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 dot products (AVX-512 BF16 or AMX), which oneDNN uses for
    bf16 convs and matmuls: there bf16 runs at about 2× fp32 (`python -m benchmarks --only ceilings`).
    Elsewhere bf16 on the CPU is emulated and slower than fp32."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `trainer.precision` on `device`, or None for plain fp32.

    `auto` is bf16 wherever the hardware runs it natively: CUDA with bf16 (else fp16), and CPUs
    with AVX-512 BF16 or AMX, where a training step of the default template is 2.1× faster than in
    fp32 (`python -m benchmarks --only variants`); elsewhere on the CPU it is fp32. fp16 is CUDA-only.
    """
    precision = str(precision).lower()
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision={precision!r} is unknown: valid precisions are {', '.join(PRECISIONS)}.")
    if device.type != "cuda":
        if precision == "fp16":
            raise ConfigError(f"trainer.precision='fp16' needs a CUDA device, and this run is on {device}: "
                              "use trainer.precision=bf16, fp32 or auto.")
        if precision == "auto":
            return torch.bfloat16 if cpu_has_bf16() else None
        return torch.bfloat16 if precision == "bf16" else None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def precision_name(dtype: torch.dtype | None) -> str:
    """The record's name for an autocast dtype: fp32, bf16 or fp16."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def peak_flops(device: torch.device, dtype: torch.dtype | None = None, seconds: float = 0.3) -> float:
    """Measured matmul FLOP/s of this device in the training dtype: the best of a few square sizes.

    A quick, rough ceiling (about `seconds` of work) for the record's `machine_fraction`; on a
    shared machine it reads low. Set `trainer.peak_flops` to use a known figure instead.
    """
    dtype = dtype or torch.float32
    sizes = (1024, 2048) if device.type == "cpu" else (4096, 8192)
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b  # warm-up: library initialisation, kernel choice
        _sync(device)
        count, start = 0, time.perf_counter()
        while True:
            a @ b
            count += 1
            if count % 4 == 0 or device.type == "cpu":
                _sync(device)
                elapsed = time.perf_counter() - start
                if elapsed > seconds / len(sizes):
                    break
        best = max(best, 2 * n**3 * count / elapsed)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)

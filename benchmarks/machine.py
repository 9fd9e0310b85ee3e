"""The machine a benchmark ran on, and its memory high-water mark.

`describe()` is what `bench.json` and `bench.md` print first: CPU model, cores, load average,
torch version and threads (and the GPU where there is one), so a figure is never read without
the machine it came from. On the CPU, peak memory is the process's resident-set high-water
mark (`VmHWM` in /proc/self/status); `reset_peak_rss()` starts a new mark (Linux's
`clear_refs` 5), so one process can measure inference and training peaks one after the other.
"""

from __future__ import annotations

import os
import platform
import re

from ablate.run import cpu


def _status(field: str) -> int | None:
    """A /proc/self/status field in bytes (None off Linux)."""
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def rss() -> int | None:
    """This process's resident set now, in bytes."""
    return _status("VmRSS")


def peak_rss() -> int | None:
    """This process's resident-set high-water mark, in bytes."""
    return _status("VmHWM")


def reset_peak_rss() -> bool:
    """Start a new high-water mark at the current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_model() -> str:
    return cpu.info().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector-unit flags that decide matmul speed (AVX-512, AMX, bf16)."""
    return sorted(f for f in cpu.flags() if f.startswith(("avx512f", "avx512_bf16", "amx", "avx2", "fma")))


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def describe(device: str = "cpu") -> dict:
    """What the benchmark ran on."""
    import torch

    out = {
        "cpu": cpu_model(),
        "cpu_kind": cpu.kind(),
        "cpu_flags": cpu_flags(),
        "cores": cores(),
        "logical_cpus": os.cpu_count(),
        "load_average": load_average(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "device": device,
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        out["gpu"] = props.name
        out["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        out["cuda"] = torch.version.cuda
    return out

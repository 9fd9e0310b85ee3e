"""What the CPU is: the first processor's fields of /proc/cpuinfo, its kind for a run's record, its flags.

Standard library only, so that the benchmarks' machine description (which runs where Hydra is absent) reads the
CPU the same way as a run's record (`ablate.run.device`).
"""

from __future__ import annotations

import platform
from functools import cache

# the instruction sets that choose oneDNN's kernels, newest first: a CPU is named by the first it has
ISA_NAMES = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))


@cache
def kind() -> str | None:
    """The CPU's model name, family and model numbers and the newest instruction set that picks its kernels, for
    the record's `env.cpu`: `AMD EPYC (family 25, model 17; AVX-512 BF16)`. Two CPUs of one kind run the same
    kernels; another kind may round a run's numbers differently. None where /proc/cpuinfo cannot be read."""
    return describe(info())


def describe(fields: dict[str, str]) -> str | None:
    """`kind` from the `key: value` fields of one processor in /proc/cpuinfo."""
    if not fields:
        return None
    isa = next((name for flag, name in ISA_NAMES if flag in set(fields.get("flags", "").split())), None)
    numbers = [f"{k.split()[-1]} {fields[k]}" for k in ("cpu family", "model") if fields.get(k)]
    detail = "; ".join(x for x in (", ".join(numbers), isa) if x)
    name = fields.get("model name") or platform.machine() or "unknown CPU"  # Arm's cpuinfo names no model
    return f"{name} ({detail})" if detail else name


def flags() -> set[str]:
    """The CPU's feature flags (`avx2`, `avx512_bf16`, `amx_bf16`, …); empty where they cannot be read."""
    return set(info().get("flags", "").split())


@cache
def info() -> dict[str, str]:
    """The first processor's `key: value` lines of /proc/cpuinfo; empty where it cannot be read (not Linux)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block ends
                key, _, value = line.partition(":")
                out[key.strip()] = value.strip()
    except OSError:
        pass
    return out

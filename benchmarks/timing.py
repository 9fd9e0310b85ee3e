"""Timing: the median of repeated timed calls after warm-up, with the spread.

Every figure in the benchmarks is a `Timing` of one step (a training step, a matmul, a copy, a
call of the analytic model): `warmup` untimed calls first (library initialisation, kernel
choice, allocator growth, compilation), then `repeats` timed ones, each ended by `sync` (a CUDA
synchronisation on the GPU) so the clock sees the work, not just its launch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median, the quartiles and extremes, and how many calls were timed."""

    median: float
    p25: float
    p75: float
    min: float
    max: float
    n: int
    warmup_seconds: float = 0.0  # all warm-up calls together (the first includes any compilation)

    @classmethod
    def of(cls, seconds: list[float], warmup_seconds: float = 0.0) -> Timing:
        s = sorted(seconds)
        if len(s) >= 2:
            q = statistics.quantiles(s, n=4, method="inclusive")
            p25, p75 = q[0], q[2]
        else:
            p25 = p75 = s[0]
        return cls(statistics.median(s), p25, p75, s[0], s[-1], len(s), warmup_seconds)

    @property
    def spread(self) -> float:
        """Half the inter-quartile range relative to the median: the ± of the median, as a fraction."""
        return (self.p75 - self.p25) / 2 / self.median if self.median > 0 else 0.0

    def rate(self, units: float) -> float:
        """`units` per second at the median (images/s for a batch of `units` images)."""
        return units / self.median

    def as_dict(self) -> dict:
        out = asdict(self)
        out["spread"] = self.spread
        return out


def measure(step: Callable[[], object], *, warmup: int = 2, repeats: int = 10,
            sync: Callable[[], None] | None = None, min_seconds: float = 0.0) -> Timing:
    """Time `step()`: `warmup` untimed calls, then at least `repeats` timed ones.

    With `min_seconds`, timing goes on past `repeats` until the timed calls add up to that long
    (for very short steps, such as the analytic model). `sync` runs after every call, inside the
    timed span.
    """
    sync = sync or (lambda: None)
    start = time.perf_counter()
    for _ in range(warmup):
        step()
        sync()
    warmup_seconds = time.perf_counter() - start
    seconds: list[float] = []
    total = 0.0
    while len(seconds) < repeats or total < min_seconds:
        t0 = time.perf_counter()
        step()
        sync()
        dt = time.perf_counter() - t0
        seconds.append(dt)
        total += dt
    return Timing.of(seconds, warmup_seconds)


def measure_batched(step: Callable[[], object], *, calls: int, warmup: int = 1, repeats: int = 5,
                    sync: Callable[[], None] | None = None) -> Timing:
    """Like `measure`, but each timed sample is `calls` calls in a row, reported per call.

    For calls of microseconds, where one clock reading per call would be mostly clock.
    """
    def block():
        for _ in range(calls):
            step()

    t = measure(block, warmup=warmup, repeats=repeats, sync=sync)
    return Timing(t.median / calls, t.p25 / calls, t.p75 / calls, t.min / calls, t.max / calls, t.n * calls,
                  t.warmup_seconds)


def fmt_seconds(s: float | None) -> str:
    """A duration with a unit that keeps three significant digits (ns to s)."""
    if s is None:
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"  # pragma: no cover

"""Ctrl-C in a sweep whose members run in a launcher's pool (joblib's loky workers): every running member records
where it stopped before the pool goes, no queued member starts, and no worker prints a traceback.

Ctrl-C reaches the whole process group: the sweep's process and every worker. Two things used to kill members
while they wrote where they stopped (their records left `running`, as after `kill -9`): joblib kills every worker
of its pool at once (SIGKILL) when a job raises KeyboardInterrupt or SystemExit out of its worker, and when the
process waiting in joblib's `Parallel` gets KeyboardInterrupt itself. So:

- a member in a worker ends with `JobInterrupted`, an Exception that Hydra returns as the job's failure
  (`end_interrupted`); a worker that saw Ctrl-C, in a job or idle, starts no further job (`pool_job`), so the jobs
  a launch still has queued end at once, without a record (Hydra has made their folder, which the next launch uses);
- in the sweep's process, a Hydra callback (`InterruptCallback`, `hydra.callbacks.interrupt`) makes the first
  Ctrl-C that arrives while joblib waits for its pool wait until no member's run directory is held by a live
  process (`ablate.run.lock`), for up to `GRACE_S`, before it raises; a second Ctrl-C raises at once. ablate's
  Optuna sweeper waits in its own threads instead and gives its slots the same time
  (`hydra_plugins.ablate_optuna_sweeper._loop`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

GRACE_S = 10.0  # how long the first Ctrl-C waits for the running members to record where they stopped
_POLL_S = 0.05
_DEPTH = 4  # how deep member folders may sit under the sweep folder, for the drain
_JOBLIB_PARALLEL = ("joblib/parallel.py", "joblib\\parallel.py")  # a frame of the process waiting for the pool
_REFUSE_S = GRACE_S + 5.0  # after a worker saw Ctrl-C, how long it starts no job (the interrupted launch's queue)
_seen: float | None = None  # when this pool worker last got Ctrl-C (time.monotonic())


class JobInterrupted(Exception):  # noqa: N818  (what it says, as KeyboardInterrupt does)
    """A member in a launcher's pool worker that a signal interrupted (after it recorded where it stopped), or that
    did not start because its worker had been interrupted. An Exception on purpose: see the module's docstring.
    `exit_code`: the shell's 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):  # pickled back to the launching process with its exit code
        return type(self), (str(self), self.exit_code)


def end_interrupted(message: str, exit_code: int) -> None:
    """End a job that a signal interrupted (its record written, its line printed): in a pool's worker raise
    `JobInterrupted`; elsewhere (a single run, the basic launcher) exit with `exit_code`."""
    global _seen
    if _in_worker():
        _seen = time.monotonic()
        raise JobInterrupted(message, exit_code)
    sys.exit(exit_code)


@contextlib.contextmanager
def pool_job(run_dir: str | os.PathLike) -> Iterator[None]:
    """Around one job of a multirun: in a pool's worker that saw Ctrl-C in the last `_REFUSE_S` seconds, the job
    does not start (JobInterrupted: a job the interrupted launch had queued; a pool kept alive in the same Python
    session runs a later sweep's jobs again); within, Ctrl-C raises KeyboardInterrupt (the job records where it
    stopped); after it, a Ctrl-C while the worker is idle is only noted (`_note`): no traceback from the pool's
    loop, and no next job. Outside a pool's worker (a single run, the basic launcher) nothing changes."""
    worker = _in_worker() and threading.current_thread() is threading.main_thread()
    if worker:
        if _seen is not None and time.monotonic() - _seen < _REFUSE_S:
            raise JobInterrupted(f"ablate: not started in {run_dir}: the sweep was interrupted.", 128 + signal.SIGINT)
        if signal.getsignal(signal.SIGINT) is _note:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if worker:
            signal.signal(signal.SIGINT, _note)


def _note(signum, frame) -> None:
    global _seen
    _seen = time.monotonic()


def _in_worker() -> bool:
    import multiprocessing

    return multiprocessing.current_process().name != "MainProcess"


class InterruptCallback(Callback):
    """In the sweep's process of a multirun on the joblib launcher: the first Ctrl-C while joblib waits for its pool
    waits (up to `GRACE_S`) for the members to record where they stopped, then raises (module docstring)."""

    def __init__(self) -> None:
        self.previous: Any = None

    def on_multirun_start(self, config, **kwargs) -> None:
        from omegaconf import OmegaConf

        target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
        if "Joblib" not in target or threading.current_thread() is not threading.main_thread():
            return
        self.previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, _Drain(Path(str(config.hydra.sweep.dir))))

    def on_multirun_end(self, config, **kwargs) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class _Drain:
    """The sweep process's SIGINT handler during a joblib multirun."""

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.draining = False

    def __call__(self, signum, frame) -> None:
        if self.draining or not _waiting_in_joblib(frame):
            raise KeyboardInterrupt
        self.draining = True
        print(
            f"ablate: Ctrl-C: the running members record where they stopped (up to {GRACE_S:.0f} s; Ctrl-C again "
            "leaves now).",
            file=sys.stderr,
        )
        deadline = time.monotonic() + GRACE_S
        while held_runs(self.sweep_dir) and time.monotonic() < deadline:
            time.sleep(_POLL_S)  # a second Ctrl-C runs this handler again, which raises
        raise KeyboardInterrupt


def held_runs(sweep_dir: Path) -> list[Path]:
    """The member folders of `sweep_dir` whose run lock a live process on this machine holds: up to `_DEPTH` levels
    down, since `hydra.sweep.subdir` may nest them (`${model.name}/${hydra.job.num}`); not the whole tree, which
    a sweep folder of checkpoints and event files makes slow to walk at every poll."""
    from ablate.run.lock import LOCK, RunLock

    locks = (p for depth in range(1, _DEPTH + 1) for p in sweep_dir.glob("/".join(["*"] * depth + [LOCK])))
    return [p.parent for p in locks if RunLock(p.parent).live_holder() is not None]


def _waiting_in_joblib(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.endswith(_JOBLIB_PARALLEL):
            return True
        frame = frame.f_back
    return False

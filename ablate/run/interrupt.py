"""Ctrl-C in a sweep whose members run in a launcher's pool (joblib's loky workers): a running member records where
it stopped and ends as the job's failure, and an idle worker leaves quietly.

Ctrl-C reaches the whole process group: the sweep's process and every worker. A member that ended by raising
KeyboardInterrupt or SystemExit out of its worker would make joblib kill every worker of the pool at once
(SIGKILL), while the other members still write where they stopped (their records left `running`, as after
`kill -9`); so a member in a worker ends with `JobInterrupted`, an Exception that Hydra returns as the job's failure
(`end_interrupted`). Where the sweep's own process waits in joblib's `Parallel` (Hydra's basic sweeper on the joblib
launcher), its KeyboardInterrupt still makes joblib kill the pool at once; ablate's Optuna sweeper waits in its own
threads instead, and gives its slots' jobs time to end (`hydra_plugins.ablate_optuna_sweeper._loop`).
"""

from __future__ import annotations

import signal
import sys
import threading


class JobInterrupted(Exception):  # noqa: N818  (what it says, as KeyboardInterrupt does)
    """A member in a launcher's pool worker that a signal interrupted, after it recorded where it stopped. An
    Exception on purpose (see the module's docstring). `exit_code`: the shell's 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):  # pickled back to the launching process with its exit code
        return type(self), (str(self), self.exit_code)


def end_interrupted(message: str, exit_code: int) -> None:
    """End a job that a signal interrupted (its record written, its line printed): in a pool's worker raise
    `JobInterrupted`; elsewhere (a single run, the basic launcher) exit with `exit_code`."""
    if _in_worker():
        raise JobInterrupted(message, exit_code)
    sys.exit(exit_code)


def quiet_when_idle() -> None:
    """In a worker process of a launcher's pool (joblib's loky workers), make SIGINT end the process quietly with
    the shell's 130 once its job has returned: Ctrl-C reaches the whole process group, and a worker idle between
    jobs would otherwise print a KeyboardInterrupt traceback from the pool's loop under the sweep's one line. The
    next job in that worker gets Python's own handler back (`interruptible`), so a run in training is
    interrupted and recorded as before. Nothing changes in the main process (a single run, the basic launcher)."""
    if not _in_worker() or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _leave)


def interruptible() -> None:
    """Undo `quiet_when_idle` when a worker's next job starts: SIGINT raises KeyboardInterrupt again."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _leave:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _leave(signum, frame) -> None:
    raise SystemExit(128 + signum)  # multiprocessing ends a process on SystemExit without a traceback


def _in_worker() -> bool:
    import multiprocessing

    return multiprocessing.current_process().name != "MainProcess"

"""One process at a time in a run directory: a lock the kernel releases when its holder dies.

Two launches of the same sweep (or a re-launch while the first is still going) would otherwise
train the same member at once and write over each other's checkpoint and record. `RunLock`
takes an exclusive `fcntl.flock` on `RUN_DIR/.lock` without waiting: whoever comes second
finds the directory busy and leaves it alone. The kernel drops a flock when the last file
descriptor of its holder closes, so a run killed with SIGKILL never leaves a stale lock; a
clean release also removes the file.

While it holds the lock a run is the only writer in its directory, so `acquire` also removes
the temporary files (`.NAME.*.tmp`, see `ablate.run.record.atomic_write_bytes`) that a writer killed
between writing and renaming left behind: a killed checkpoint write costs no disk space.

    with RunLock(run_dir) as lock:
        if not lock.held:
            raise lock.busy()
        ...  # train
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from ablate.errors import AblateError

LOCK = ".lock"
SIGN_WAIT_S = 0.5  # how long a reader waits for a just-taken lock's `pid host` signature
TEMPORARY = ".*.tmp"  # what ablate.run.record.atomic_write_bytes writes before its rename


class RunBusyError(AblateError):
    """Another live process holds the run directory."""


class RunLock:
    """A non-blocking exclusive lock on one run directory (`RUN_DIR/.lock`)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if no live process holds it; True when this object now holds it."""
        if self._fd is not None:
            return True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # the holder before us may have removed the file after we opened it: lock the file in place
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        remove_temporaries(self.run_dir)
        return True

    def release(self) -> None:
        """Remove the lock file and drop the lock (a no-op when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: no one else can hold this file now
        finally:
            os.close(self._fd)
            self._fd = None

    def signature(self, wait: bool = False) -> tuple[int, str] | None:
        """The (pid, host) the lock file names, read without taking the lock (so that a check never makes a launch
        find the directory busy); None when the file is gone (a clean release) or unsigned. The holder signs the
        file just after it takes the lock, so with `wait` a reader that finds the file there but empty waits a
        moment (`SIGN_WAIT_S`) for the signature."""
        deadline = time.monotonic() + SIGN_WAIT_S
        while True:
            try:
                pid, host = self.path.read_text().split()
                return int(pid), host
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                if not wait or time.monotonic() >= deadline:
                    return None
                time.sleep(0.01)

    def holder(self) -> str:
        """Who holds the lock, as 'pid N on HOST' (from the lock file), or 'unknown' when it names no one."""
        signed = self.signature(wait=True)
        return "unknown" if signed is None else f"pid {signed[0]} on {signed[1]}"

    def live_holder(self) -> int | None:
        """The pid of a live process on this host that holds the lock (`signature`); None when the file is gone,
        names a dead process (killed: the kernel dropped its lock) or another host (unknowable)."""
        signed = self.signature()
        if signed is None or signed[1] != socket.gethostname():
            return None
        return signed[0] if running(signed[0]) else None

    def busy(self) -> RunBusyError:
        """The sentence for a launch that finds the directory held."""
        return RunBusyError(
            f"the run directory {self.run_dir} is in use by another ablate process "
            f"({self.holder()}): this launch leaves it alone, and the other one records the run."
        )

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def remove_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the half-done atomic writes in `run_dir` (call only while holding its lock); returns them."""
    removed = []
    for path in Path(run_dir).glob(TEMPORARY):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def running(pid: int) -> bool:
    """Whether process `pid` runs on this host: it exists (`kill(pid, 0)` sends no signal; PermissionError: it does,
    another user's) and is not a zombie (dead, its locks dropped, not yet reaped by its parent; read from /proc
    where there is one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: kill(pid, 0) said it exists

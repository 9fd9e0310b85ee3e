"""Files on disk: where data lives, MD5 checks, and verified downloads.

A download streams into `NAME.part` beside its destination, is checked against the published
MD5 while it is written, and is renamed into place only when it matches, so an interrupted
or corrupt transfer never leaves a file that looks complete. `urllib` handles http(s):// and
file:// alike (tests serve files from 127.0.0.1 or the file system; they never use the network).
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from ablate.errors import DataError

log = logging.getLogger(__name__)
CHUNK = 1 << 20
TIMEOUT_S = 60


def cache_dir(name: str) -> Path:
    """Where downloads go when `data.root` is null: $XDG_CACHE_HOME/ablate/NAME (default ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ablate" / name


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mismatch(path: Path, got: str, expected: str, fix: str) -> DataError:
    """The checksum-mismatch sentence: names the file, both digests and the fix."""
    return DataError(
        f"{path} has MD5 {got} but the published file has {expected}: it is corrupt or another version, "
        f"so training is refused; {fix}."
    )


def check_md5(path: Path, expected: str, fix: str) -> None:
    got = md5_file(path)
    if got != expected:
        raise mismatch(path, got, expected, fix)


def fetch(url: str, dest: Path, md5: str, fix: str) -> Path:
    """Download `url` to `dest`, verifying its MD5; a failure raises DataError saying what would fix it, and
    removes the folders made for it that are still empty (a mistyped data.root is not left behind)."""
    made = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]  # deepest first
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch(url, dest, md5, fix)
    except DataError:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # holds something: another file's download, or another process's
                break
        raise


def _fetch(url: str, dest: Path, md5: str, fix: str) -> Path:
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    log.info("downloading %s to %s", url, dest)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as e:
        part.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DataError(f"could not download {url} ({reason}); {fix}.") from None
    if digest.hexdigest() != md5:
        part.unlink(missing_ok=True)
        raise DataError(
            f"the download of {url} has MD5 {digest.hexdigest()} but the published file has {md5}, "
            f"so it was discarded; try again later or {fix}."
        )
    os.replace(part, dest)
    return dest

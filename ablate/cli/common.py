"""Shared plumbing of the command-line tools: one sentence and exit status 2 for user errors."""

from __future__ import annotations

import functools
import json
import sys

from ablate.errors import AblateError

EXIT_USAGE = 2


def user_errors(main):
    """Run `main`; an `AblateError` prints its sentence (no traceback) and exits with status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except AblateError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE

    return wrapper


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def human(n: float) -> str:
    """A count in the paper's style: 25.0M, 4.2G."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"

"""The project's exception types: each carries one sentence a user can act on.

Every error a user can cause (a config field, a budget, data files, paths) raises a subclass
of `AblateError` whose message names the field, the value and what would be valid. The
command-line entry points print that sentence alone and exit with status 2.
"""

import re

_WORKER = re.compile(r"Caught \w+ in DataLoader worker process \d+\.")


def own_message(message: str) -> str:
    """An error's own message out of the one torch re-raises it with from a DataLoader worker ("Caught X in
    DataLoader worker process 0.", then the worker's traceback, ending in "module.X: the message"); any other
    message as it is."""
    if _WORKER.match(message) is None:
        return message
    lines = message.strip().splitlines()
    tracebacks = [i for i, line in enumerate(lines) if line.startswith(("Traceback", "Original Traceback"))]
    start = max(tracebacks, default=0)  # the last: a chained error's traceback comes after its cause's
    own = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines) - 1)
    text = "\n".join(lines[own:])
    if re.fullmatch(r"[\w.]+", text):  # the error's type alone: it has no message
        return ""
    head, sep, tail = text.partition(": ")
    return tail if sep and re.fullmatch(r"[\w.]+", head) else text


class AblateError(Exception):
    """Base of every error caused by user input; its message is one sentence."""


class TemplateError(AblateError, ValueError):
    """An invalid network template field."""


class BudgetError(AblateError, ValueError):
    """A complexity budget that cannot be met or is malformed."""


class ConfigError(AblateError, ValueError):
    """An invalid config value, override or name."""


class DataError(AblateError, OSError):
    """Missing, corrupt or malformed data files."""


class CheckpointError(AblateError, ValueError):
    """A checkpoint that cannot be loaded into this run."""

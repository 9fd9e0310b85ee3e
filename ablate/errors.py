"""The project's exception types: each carries one sentence a user can act on.

Every error a user can cause (a config field, a budget, data files, paths) raises a subclass
of `AblateError` whose message names the field, the value and what would be valid. The
command-line entry points print that sentence alone and exit with status 2.
"""

import re
from collections.abc import Mapping, Sequence

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


def override_key(override: str) -> str:
    """`+model.cardinality=8` → `model.cardinality`: the key an override names, without Hydra's `+`, `++` or `~`."""
    return override.split("=", 1)[0].lstrip("+~")


def override_value(value: object) -> str:
    """A value as an override on the command line gives it, for sentences that tell the user what to type:
    `[16,24]`, `null`, `true`, `{metric:params}`."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):  # a list, and OmegaConf's ListConfig
        return f"[{','.join(_item(x) for x in value)}]"
    if isinstance(value, Mapping):  # a dict, and OmegaConf's DictConfig
        return "{" + ",".join(f"{k}:{_item(x)}" for k, x in value.items()) + "}"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def _item(value: object) -> str:
    """An item of a list or a mapping, quoted where the override grammar would not read it back as this text
    (`'flops <= 250'`, `'true'`, `''`)."""
    if isinstance(value, str) and (_PLAIN.fullmatch(value) is None or value in _WORDS):
        return repr(value)
    return override_value(value)


_PLAIN = re.compile(r"[A-Za-z_/][\w./:@+-]*")  # a text the grammar reads unquoted as itself, not as a number
_WORDS = ("null", "true", "false", "inf", "nan")  # plain texts the grammar reads as another type


def shown(value: object) -> str:
    """A value a user gave, in a sentence about it: a text quoted (`'abc'`, and `'1'` reads as text, not a number),
    anything else as the override grammar writes it (`[width,depth]`, `null`, `true`), never as Python's repr of a
    list (`['width', 'depth']`), which is not what the user typed."""
    return repr(value) if isinstance(value, str) else override_value(value)


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

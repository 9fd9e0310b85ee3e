"""The project's exception types: each carries one sentence a user can act on.

Every error a user can cause (a config field, a budget, data files, paths) raises a subclass
of `AblateError` whose message names the field, the value and what would be valid. The
command-line entry points print that sentence alone and exit with status 2.
"""


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

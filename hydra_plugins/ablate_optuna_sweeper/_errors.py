"""The sweeper's errors: the project's exception types, which Hydra prints as their sentence alone.

Hydra prints a `CompactHydraException` raised by a sweeper as its message, without a
traceback, and exits with status 1; callers can still catch `ConfigError` / `AblateError`.
"""

from hydra.errors import CompactHydraException

from ablate.errors import AblateError, ConfigError


class SweepConfigError(ConfigError, CompactHydraException):
    """A bad sweeper setting, search space, parameter path or storage URL."""


class SweepError(AblateError, CompactHydraException):
    """A study that cannot go on (too many failed trials); its finished trials stay in storage."""

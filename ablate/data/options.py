"""The `data` config node as checked plain values.

`options(cfg)` accepts an OmegaConf node or a plain dict, fills missing fields from the data
set's own `conf/data/NAME.yaml` (one source of defaults), and its getters raise `ConfigError`
with one sentence naming the field (`data.FIELD`), the value and what is valid.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ablate.errors import ConfigError, DataError

CONFIG_MODULE = "ablate.conf"


def _plain(cfg) -> dict:
    if cfg is None:
        return {}
    if isinstance(cfg, Mapping) and not hasattr(cfg, "_metadata"):
        return dict(cfg)
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def defaults(name: str) -> dict:
    """The fields of `conf/data/NAME.yaml`, or {} where there is no such file."""
    path = resources.files(CONFIG_MODULE) / "data" / f"{name}.yaml"
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.create(path.read_text()), resolve=True)


class Options:
    """Checked access to the fields of one `data` config node."""

    def __init__(self, values: Mapping[str, Any]):
        self.values = dict(values)
        self.name = self.values.get("name")

    def __getitem__(self, key: str):
        return self.values.get(key)

    def _bad(self, key: str, valid: str) -> ConfigError:
        return ConfigError(f"data.{key}={self.values.get(key)!r} is invalid: it must be {valid}.")

    def flag(self, key: str) -> bool:
        value = self.values.get(key, False)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def count(self, key: str, *, minimum: int = 1, optional: bool = False) -> int | None:
        """An integer >= minimum (None allowed when optional)."""
        value = self.values.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self._bad(key, what + (" or null" if optional else ""))
        return value

    def number(self, key: str, *, minimum: float = 0.0) -> float:
        value = self.values.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise self._bad(key, f"a number >= {minimum}")
        return float(value)

    def channels(self, key: str, n: int, *, positive: bool = False) -> tuple[float, ...] | None:
        """A per-channel list of n numbers (a single number is repeated), or None when null."""
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * n
        ok = isinstance(value, (list, tuple)) and len(value) == n and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and (v > 0 or not positive) for v in value)
        if not ok:
            raise self._bad(key, f"a list of {n} {'positive ' if positive else ''}numbers (one per channel) or null")
        return tuple(float(v) for v in value)

    def pair(self, key: str) -> tuple[float, float]:
        """Two positive numbers (low, high) with low <= high."""
        value = self.values.get(key)
        ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value) and value[0] <= value[1]
        if not ok:
            raise self._bad(key, "a list [low, high] of two positive numbers with low <= high")
        return float(value[0]), float(value[1])

    def text(self, key: str) -> str:
        value = self.values.get(key)
        if not isinstance(value, str) or not value:
            raise self._bad(key, "a non-empty string")
        return value

    def root(self) -> Path | None:
        """`data.root` as a path, None when null; an existing non-directory is refused."""
        value = self.values.get("root")
        if value is None or value == "":
            return None
        if not isinstance(value, (str, Path)):
            raise self._bad("root", "a directory path or null")
        path = Path(value).expanduser()
        if path.exists() and not path.is_dir():
            raise DataError(f"data.root={str(value)!r} is not a directory: point it at the folder holding the data files.")
        return path


def options(cfg) -> Options:
    """Checked options of a `data` node (OmegaConf or dict), missing fields filled from its yaml."""
    from ablate.data import available

    given = _plain(cfg)
    name = given.get("name")
    if name not in available():
        raise ConfigError(f"data.name={name!r} is unknown: available data sets are {', '.join(available())}.")
    return Options({**defaults(name), **given})

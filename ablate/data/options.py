"""The `data` config node as its data set's typed dataclass, checked by the config schema.

`options(cfg)` accepts an OmegaConf node or a plain dict, fills missing fields from the data set's own
`conf/data/NAME.yaml` (one source of the values), and returns `ablate.config.schema.data_config` of it: the
schema checks every field once, with one sentence naming `data.FIELD`, the value and what is valid, and gives
the data modules typed values (`opts.pad`, `opts.mean` as a tuple of floats or None). `root(opts)` is the one
check here: it needs the file system.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ablate.config.schema import DataConfig, FileData, ImageNetData, data_config, plain
from ablate.errors import DataError

CONFIG_MODULE = "ablate.conf"


def defaults(name: str) -> dict:
    """The fields `conf/data/NAME.yaml` sets, or {} where there is no such file."""
    path = resources.files(CONFIG_MODULE) / "data" / f"{name}.yaml"
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    values = plain(OmegaConf.create(path.read_text()))
    values.pop("defaults", None)  # the preset's schema node: its fields are the ones the file sets
    return values


def options(cfg) -> DataConfig:
    """The checked, typed options of a `data` node (OmegaConf or dict); missing fields come from its yaml."""
    given = plain(cfg)
    return data_config({**defaults(str(given.get("name"))), **given})


def root(opts: FileData | ImageNetData) -> Path | None:
    """`data.root` as a path, None when null; an existing non-directory is refused."""
    if opts.root is None:
        return None
    path = Path(opts.root).expanduser()
    if path.exists() and not path.is_dir():
        raise DataError(f"data.root={opts.root!r} is not a directory: point it at the folder holding the data files.")
    return path

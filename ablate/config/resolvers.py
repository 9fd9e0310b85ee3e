"""ablate's OmegaConf resolvers, registered when `ablate.config` is imported.

`ablate.runtime_keys` is `ablate.config.schema.RUNTIME_KEYS`, the keys that say how a run executes, not what it
computes: `conf/config.yaml` gives it to Hydra as `override_dirname.exclude_keys`, so a member's folder name and the
run's config hash (`ablate.run.record`) leave out the same keys.

`ablate.ray_object_store` is the object store that `hydra/launcher=ray` (`conf/hydra/launcher/ray.yaml`) gives
`ray.init`: Hydra's launcher's 75 MiB for a Ray it starts on this machine, none for a running cluster, which refuses
one (`ablate.config.plugins.object_store`).

`ablate.dirname` is what the config tree applies to the folders it names after config values (`hydra.run.dir` after
`model.name`, `hydra.sweep.subdir` after a member's overrides), so a value such as
`model.name=../../elsewhere` names one folder inside the outputs or the sweep, never a path out.
"""

import hashlib

from omegaconf import OmegaConf

NAME_MAX = 255  # bytes in one folder name on Linux and macOS


def dirname(value) -> str:
    """`value` as one folder name: '%' → '%25' and '/' → '%2F' (so distinct values stay distinct),
    '.' and '..' spelled out as '%2E', and a name over 255 bytes cut to 200 plus 16 hex of its hash."""
    name = str(value).replace("%", "%25").replace("/", "%2F").replace("\0", "%00")
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    if len(name.encode()) > NAME_MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = name.encode()[:200].decode(errors="ignore") + "-" + digest
    return name


def runtime_keys() -> list[str]:
    """The run-time keys (`ablate.config.schema.RUNTIME_KEYS`), for Hydra's `override_dirname.exclude_keys`."""
    from ablate.config.schema import RUNTIME_KEYS

    return list(RUNTIME_KEYS)


def ray_object_store(address) -> int | None:
    """`ray.init`'s object_store_memory for `address` (`ablate.config.plugins.object_store`; imports Ray)."""
    from ablate.config.plugins import object_store

    return object_store(address)


def register() -> None:
    """Register the resolvers (idempotent): the app, `compose` and the launchers' workers call it."""
    if not OmegaConf.has_resolver("ablate.dirname"):
        OmegaConf.register_new_resolver("ablate.dirname", dirname)
    if not OmegaConf.has_resolver("ablate.runtime_keys"):
        OmegaConf.register_new_resolver("ablate.runtime_keys", runtime_keys)
    if not OmegaConf.has_resolver("ablate.ray_object_store"):
        OmegaConf.register_new_resolver("ablate.ray_object_store", ray_object_store)

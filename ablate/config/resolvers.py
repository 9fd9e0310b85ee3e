"""ablate's OmegaConf resolvers, registered when `ablate.config` is imported.

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


def register() -> None:
    """Register the resolvers (idempotent): the app, `compose` and the launchers' workers call it."""
    if not OmegaConf.has_resolver("ablate.dirname"):
        OmegaConf.register_new_resolver("ablate.dirname", dirname)

"""Shared plumbing of the command-line tools: one sentence and exit status 2 for user errors."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from ablate.errors import AblateError, ConfigError

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 1


def user_errors(main):
    """Run `main`; an `AblateError` prints its sentence (no traceback) and exits with status 2.

    A reader that stops early (`... --json | head`) closes stdout under the tool: it ends with status 1 and no
    traceback, the way Python's documentation advises (stdout is pointed at os.devnull so the interpreter's own
    final flush does not fail again).
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            status = main(*args, **kwargs)
            sys.stdout.flush()
            return status
        except AblateError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE

    return wrapper


def add_config_dir(parser: argparse.ArgumentParser) -> None:
    """`--config-dir DIR`, as the training app takes it: a folder of the user's own config groups."""
    parser.add_argument("--config-dir", "-cd", help="a folder of your own configs (e.g. DIR/model/NAME.yaml)")


def app_overrides(config_dir: str | None, overrides: list[str]) -> list[str]:
    """`overrides` as the training app takes them: `--config-dir`'s folder added to Hydra's config search path, and
    an option of the schema groups or an empty list for a group refused (ConfigError), as the app refuses them
    (`ablate.cli.argv.schema_group`, `empty_choice`)."""
    from ablate.cli.argv import empty_choice, schema_group

    refusal = schema_group(list(overrides)) or empty_choice(list(overrides))
    if refusal is not None:
        raise ConfigError(refusal)
    if config_dir is None:
        return list(overrides)
    from ablate.config.sentences import not_a_config_dir

    folder = Path(config_dir).resolve()
    if not folder.is_dir():
        raise ConfigError(not_a_config_dir(config_dir))
    return [f"hydra.searchpath=[file://{folder}]", *overrides]


def check_model(cfg, searchpath, overrides: list[str]) -> None:
    """`ablate.config.check` of a composed config for the model tools (`training=False`: the data set is not their
    concern), its refusal said as the app says it: a budget field a `+variant=` file set names the variant
    (`ablate.config.sentences.variant_sentence`)."""
    from ablate.config import check
    from ablate.config.sentences import typed_variant, variant_sentence

    try:
        check(cfg, searchpath, training=False)
    except ConfigError as e:
        raise ConfigError(variant_sentence(str(e), typed_variant(overrides), overrides)) from None


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def human(n: float) -> str:
    """A count in the paper's style: 25.0M, 4.2G (and T above that; 3 figures past 999.9T, 5.85e+43)."""
    if abs(n) >= 999.95e12:
        return f"{n:.3g}"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


def split_sweeps(overrides: list[str]) -> tuple[list[str], dict[str, str]]:
    """The overrides to compose, and the sweeps typed among them (`model.cardinality=1,2`: {key: `1,2`}), which a
    multirun would expand and one composition cannot take. A seed sweep is dropped: the seed changes no row."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    kept, sweeps = [], {}
    for override in overrides:
        try:
            parsed = parser.parse_override(override)
        except Exception:  # composing says what is wrong with it, in Hydra's words
            kept.append(override)
            continue
        if not parsed.is_sweep_override():
            kept.append(override)
        elif parsed.key_or_group != "seed":
            sweeps[override.partition("=")[0]] = override.partition("=")[2]
    return kept, sweeps

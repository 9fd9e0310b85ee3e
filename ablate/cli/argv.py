"""Hydra's command line as users type it: overrides on both sides of `-m`.

Hydra parses its flags with argparse, whose positional `overrides` list is collected once, so
`python -m ablate +sweep=x -m seed=0,1,2` stops at `-m` and fails with "unrecognized arguments:
seed=0,1,2". `flags_first` moves every flag (with its value) in front of the overrides, keeping
the order within each, which is what argparse accepts; the meaning of the line is unchanged (a bare
`--info` is written `--info all`, what it means, so that it does not take the first override as its value).
Lines Hydra would run wrongly or answer with a traceback are refused in one sentence: a sweep config without
-m (`sweep_without_m`), glob() on a field (`glob_on_a_field`), -m beside --cfg or --info (`multirun_and_show`),
an --info choice mistyped (`info_choice`), an option of the schema groups (`schema_group`), a list for a config
group that names no config (`empty_choice`), shell completion without its one command
(`shell_completion_command`), a --config-path without the config (`config_path_refusal`) and an
--experimental-rerun without its file (`rerun_refusal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from ablate.errors import override_key

# Hydra 1.3's flags that take a value; `--info` takes one optionally, from its choices.
VALUE_FLAGS = frozenset(
    {
        "--cfg",
        "-c",
        "--package",
        "-p",
        "--config-path",
        "-cp",
        "--config-name",
        "-cn",
        "--config-dir",
        "-cd",
        "--experimental-rerun",
    }
)
INFO_FLAGS = frozenset({"--info", "-i"})
INFO_CHOICES = frozenset({"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"})
INFO_DEFAULT = "all"  # what Hydra's parser takes for a bare --info
SWEEP_GROUPS = ("sweep", "repeats")  # config groups that set up a sweep: they need -m
NOT_A_RUN = frozenset(
    {
        "--cfg",
        "-c",
        "--info",
        "-i",
        "--help",
        "-h",
        "--hydra-help",
        "--shell-completion",
        "-sc",
        "--version",
        "--resolve",
    }
)  # flags that print and exit: no run, so nothing to refuse


def flags_first(args: Sequence[str]) -> list[str]:
    """`args` (without the program name) with Hydra's flags and their values before the overrides."""
    flags, overrides = split(args)
    return flags + overrides


def overrides_of(args: Sequence[str]) -> list[str]:
    """The overrides among command-line arguments (not flags, nor a flag's value)."""
    return split(args)[1]


def split(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Hydra's flags with their values, and the overrides, each in the order given."""
    flags: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":  # everything after is positional, as argparse reads it
            overrides.extend(args[i + 1 :])
            break
        if not token.startswith("-"):
            overrides.append(token)
        elif token in VALUE_FLAGS and i + 1 < len(args):
            flags += [token, args[i + 1]]
            i += 1
        elif token in INFO_FLAGS:  # its value is optional: without one it means `all`, said so before the overrides
            chosen = i + 1 < len(args) and args[i + 1] in INFO_CHOICES
            flags += [token, args[i + 1] if chosen else INFO_DEFAULT]
            i += int(chosen)
        else:
            flags.append(token)
        i += 1
    return flags, overrides


def sweep_without_m(args: list[str], overrides: list[str]) -> str | None:
    """The refusal of `+sweep=NAME` (or `+repeats=NAME`) without -m, which would train one member; None otherwise."""
    if {"-m", "--multirun"} & set(args) or NOT_A_RUN & set(args) or "hydra.mode=MULTIRUN" in overrides:
        return None
    for override in overrides:
        group = override_key(override)
        if group in SWEEP_GROUPS and "=" in override and not override.startswith("~"):
            return (
                f"{override} sets up a sweep, which runs only with -m: add -m to run its members, or leave out "
                f"+{group}= to train one run."
            )
    return None


def glob_on_a_field(overrides: list[str]) -> str | None:
    """The refusal of glob() on a field (`model.width=glob(*)`), which selects among a config group's options only:
    Hydra launches no job for it. None otherwise."""
    for override in overrides:
        key, value = override_key(override), override.partition("=")[2]
        if value.strip().startswith("glob(") and ("." in key or key == "seed") and not key.startswith("hydra."):
            return (
                f"{override} selects nothing: glob() chooses among a config group's options, such as "
                f"model=glob(resnext*); list the field's values instead: {key}=A,B,C."
            )
    return None


SCHEMA_GROUP = "schema"  # ablate.config.schema's structured configs: what YAML options start from, never chosen
SCHEMA_OF = ("model", "optim", "trainer", "budget")  # schema=NAME nodes that check the group of the same name


def schema_group(overrides: list[str]) -> str | None:
    """The refusal of an option of the schema groups on the command line (`+schema=optim`, `schema/data=cifar`), which
    --help lists beside the others and Hydra would merge in as a package it cannot place; None otherwise."""
    for override in overrides:
        _, sep, value = override.partition("=")
        group = override_key(override)
        if sep and (group == SCHEMA_GROUP or group.startswith(SCHEMA_GROUP + "/")):
            target = group.partition("/")[2] or (value if value in SCHEMA_OF else "model")
            return (
                f"{override} chooses from {group}, the group of the structured configs that check every YAML option, "
                f"which is not chosen on the command line: choose an option of {target} instead, {target}=NAME "
                "(python -m ablate --help lists each group's options)."
            )
    return None


GROUPS = ("budget", "data", "model", "optim", "repeats", "sweep", "trainer", "variant")  # conf/'s config groups


def empty_choice(overrides: list[str]) -> str | None:
    """The refusal of a list for a config group that names no config: empty (`data=[]`, `hydra/launcher=[]`), which
    Hydra composes into a config without that group's node, or with the schema's unset fields, refused later for a
    field the user never touched; or with an item Hydra reads as another type (`model=[1]`, which ends in a
    TypeError inside Hydra). None otherwise: a list that names options (`model=[tiny]`) is Hydra's, merged in order."""
    for override in overrides:
        key, sep, value = override.partition("=")
        group = key.lstrip("+")
        if not sep or key.startswith("~") or not (group in GROUPS or "/" in group):
            continue
        if not value.strip().startswith("["):
            continue
        from ablate.config.sentences import listed_options

        items = listed_options(override)
        if not items:  # not a list after all (`[a` or `[a]b`): Hydra's parser says why
            continue
        if items == [""]:
            return (
                f"{override} chooses no {group} config (an empty list): choose one, {key}=NAME, or leave the override "
                "out (python -m ablate --help lists each group's options)."
            )
        odd = next((item for item in items if not _a_name(item)), None)
        if odd is not None:
            return (
                f"{override} lists {odd or 'an empty item'}, which Hydra does not read as a config name: give names, "
                f"such as {key}=NAME (python -m ablate --help lists each group's options)."
            )
    return None


def _a_name(item: str) -> bool:
    """Whether an item of a group's list is read by Hydra's grammar as a name (not a number, null, a bool or a
    nested list or mapping); a quoted item is a name."""
    if item[:1] in ("'", '"'):
        return True
    if not item or item[0] in "[{" or item.lower() in ("null", "true", "false", "inf", "nan", "-inf", "+inf"):
        return False
    try:
        float(item)
    except ValueError:
        return True
    return False


COMPLETION_FLAGS = ("--shell-completion", "-sc")
COMPLETION_COMMANDS = ("install", "uninstall", "query")
SHELLS = ("bash", "fish", "zsh")  # Hydra 1.3's completion plugins (a test holds them equal)


def info_choice(args: list[str]) -> str | None:
    """The refusal of `--info WORD` where WORD is none of its choices and no override (no `=`, no `~`): a mistyped
    choice, which Hydra would read as an override after printing its info header; None otherwise."""
    for flag, word in pairwise(args):
        if flag == "--":
            return None
        if flag in INFO_FLAGS and word not in INFO_CHOICES and not word.startswith(("-", "~")) and "=" not in word:
            from ablate.config.sentences import nearest_name

            nearest = nearest_name(word, sorted(INFO_CHOICES))
            hint = f" (did you mean {nearest}?)" if nearest else ""
            choices = sorted(INFO_CHOICES - {INFO_DEFAULT})
            return (
                f"{flag} {word} is not one of its choices{hint}: {flag} shows {INFO_DEFAULT}, "
                f"{', '.join(choices[:-1])} or {choices[-1]}, and {INFO_DEFAULT} without one."
            )
    return None


def shell_completion_command(args: list[str], overrides: list[str]) -> str | None:
    """The refusal of shell completion without exactly one command, or for a shell Hydra has no plugin for, which
    Hydra answers with a ValueError traceback; None otherwise."""
    flag = next((f for f in split(args)[0] if f in COMPLETION_FLAGS), None)
    if flag is None:
        return None
    commands = [o for o in overrides if o.partition("=")[0] in COMPLETION_COMMANDS]
    if len(commands) != 1:
        return (
            f"{flag} needs one command of install=SHELL, uninstall=SHELL or query=SHELL, with SHELL one of "
            f"{', '.join(SHELLS)}: e.g. python -m ablate -sc install=bash."
        )
    if commands[0].partition("=")[2] not in SHELLS:
        return f"{flag} {commands[0]} names a shell Hydra has no completion for: give one of {', '.join(SHELLS)}."
    return None


def _flag_value(flags: list[str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The last of `names` among `flags` (as `split` gives them) and its value, as typed; None if absent."""
    found = [(flags[i], flags[i + 1]) for i in range(len(flags) - 1) if flags[i] in names]
    return found[-1] if found else None


def rerun_refusal(args: list[str]) -> str | None:
    """The refusal of `--experimental-rerun` naming no file (a ValueError traceback in Hydra); None otherwise."""
    from pathlib import Path

    rerun = _flag_value(split(args)[0], ("--experimental-rerun",))
    if rerun is None or Path(rerun[1]).is_file():
        return None
    return (
        f"--experimental-rerun {rerun[1]} is not a file: give the config.pickle that Hydra's "
        "PickleJobInfoCallback wrote into a run's .hydra folder; to resume a run, run its command again with "
        "hydra.run.dir=ITS_FOLDER."
    )


def config_path_refusal(args: list[str]) -> str | None:
    """The refusal of `--config-path` naming a folder without the primary config (Hydra: "--config-name config is
    unknown", a flag not typed; a relative path is read from the app's package folder, which surprises); None
    otherwise."""
    from pathlib import Path

    flags = split(args)[0]
    given = _flag_value(flags, ("--config-path", "-cp"))
    if given is None or "://" in given[1]:  # pkg:// and file:// paths are Hydra's to find
        return None
    flag, value = given
    name = (_flag_value(flags, ("--config-name", "-cn")) or ("", "config"))[1].removesuffix(".yaml")
    folder = Path(value) if Path(value).is_absolute() else Path(__file__).parents[1] / value
    if not folder.is_dir():
        if Path(value).is_absolute():
            return f"{flag} {value} is not a folder: give the folder that holds your {name}.yaml."
        return (
            f"{flag} {value} is read from ablate's package folder, as Hydra reads a relative config path from the "
            "app's file, and is not a folder there: give an absolute path (--config-dir DIR adds configs of your "
            "own to ablate's)."
        )
    if not (folder / f"{name}.yaml").is_file():
        return (
            f"{flag} {value} holds no {name}.yaml: --config-path replaces ablate's own configs with that folder's; "
            f"to add configs of your own to ablate's, give --config-dir {value}."
        )
    return None


PACKAGE_EXAMPLES = {
    "job": "model, optim.lr or seed",
    "hydra": "hydra.run or hydra.sweeper",
    "all": "model or hydra.run",
}


def shown_package(args: list[str]) -> tuple[str, str, str] | None:
    """(the flag as typed, its package, what --cfg shows) for `--cfg KIND --package PACKAGE`; None otherwise."""
    flags = split(args)[0]
    package, cfg = _flag_value(flags, ("--package", "-p")), _flag_value(flags, ("--cfg", "-c"))
    return None if package is None or cfg is None else (package[0], package[1], cfg[1])


def package_refusal(flag: str, package: str, kind: str) -> str:
    """The sentence for `--package PACKAGE` naming nothing that `--cfg KIND` shows (Hydra: "package '…' not found in
    config", exit status 1): the nearest root key where the first part is none, else that the key is missing or
    null (Hydra reads a null value as no package)."""
    from dataclasses import fields

    from ablate.config.schema import Config
    from ablate.config.sentences import nearest_name

    keys = [f.name for f in fields(Config)] + ["hydra"]
    first = package.split(".")[0]
    nearest = None if first in keys else nearest_name(first, keys)
    why = (
        f"did you mean {nearest}?" if nearest else "a key that is missing, or null" if first in keys else "no such key"
    )
    return (
        f"{flag} {package} names nothing that --cfg {kind} shows ({why}): give a dotted key of it, such as "
        f"{PACKAGE_EXAMPLES.get(kind, PACKAGE_EXAMPLES['all'])}, or leave {flag} out for the whole config."
    )


MULTIRUN = frozenset({"-m", "--multirun"})
SHOWS = {"--cfg": "--cfg", "-c": "--cfg", "--info": "--info", "-i": "--info"}  # flags that show instead of running


def multirun_and_show(args: list[str]) -> str | None:
    """The refusal of -m beside --cfg or --info, which Hydra answers with a ValueError traceback; None otherwise."""
    flags = split(args)[0]
    shown = next((SHOWS[f] for f in flags if f in SHOWS), None)
    if shown is None or not MULTIRUN & set(flags):
        return None
    how = (
        "print the config a sweep's members start from (each member's own is in its folder's .hydra/config.yaml)"
        if shown == "--cfg"
        else "see what --info shows for the config a sweep's members start from"
    )
    return (
        f"-m and {shown} cannot be given together (Hydra does one of -m, --cfg, --info per command): drop -m to {how}."
    )

"""Hydra's errors in ablate's voice: one sentence for each way an override or a config file can be wrong.

Hydra's own messages name its internals (a search path, a defaults list, a merge of two nodes); a user who typed
one override needs the override, the value and what would be valid. `hydra_sentence` reads Hydra's and OmegaConf's
exceptions (their type, their text, the node they name) and the overrides as typed, and says that; the config
plugins' values (launchers, sweepers) are checked here too, where Hydra would only say that instantiation failed.
`ablate.config.loading.compose` and the command-line entry points raise or print these sentences.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from ablate.config.schema import Config, no_budget_field
from ablate.errors import override_key


def available(group: str, searchpath: Sequence[str] | None = None) -> list[str]:
    """`ablate.config.loading.available`, imported when a sentence lists a group's options (loading imports this
    module to say its errors)."""
    from ablate.config.loading import available as options

    return options(group, searchpath)


ADDED_GROUPS = ("sweep", "variant", "repeats")  # groups a config does not select by default: `+sweep=NAME`


def hydra_sentence(error: BaseException, overrides: Sequence[str] = ()) -> str | None:
    """One sentence for an error Hydra (or OmegaConf under it) raises while composing, naming the override as the
    user typed it among `overrides` and the valid choices or the nearest valid name ("did you mean ...?");
    None for any other error.

    The valid names come from the error itself — Hydra's list of a group's options (which includes the configs of
    the search path) and the config node whose key was not found — so no second composition is needed.
    """
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    yaml_error = bad_yaml(error)
    if yaml_error is not None:
        return yaml_error
    if not isinstance(error, (HydraException, OmegaConfBaseException)):
        return None
    overrides = [str(o) for o in overrides]
    text = str(error)
    said = _packaged(text) or _other_sweeper(text, overrides) or in_file(error, text, overrides)
    if said is not None:
        return said
    if isinstance(error, MissingConfigException):
        return _unknown_option(error, overrides)
    key = _quoted(text, "Could not override '")
    if key is not None:
        return _unknown_key(key, error.__cause__, overrides)
    key = _quoted(text, "Ambiguous value for argument '")
    if key is not None:
        name, _, value = key.partition("=")
        return f"{key} lists several values: add -m to run one job per value, or write {name}=[{value}] for a list."
    swept = _quoted(text, "Sweeping over Hydra's configuration is not supported : '")
    if swept is not None:
        return _sweep_over_hydra(swept)
    key = _quoted(text, "An item is already at '")
    if key is not None:
        typed = typed_as(key, overrides, f"+{key}=VALUE")
        return f"{typed}: {key} is already in the config, so drop the +: {key}={typed.split('=', 1)[-1]}."
    key = _quoted(text, "Could not delete from config. '")
    if key is not None:
        return f"{typed_as(key, overrides, '~' + key)}: the config has no {key} to delete."
    twice = re.search(r"Multiple values for (\S+)\. To override a value use", text)
    if twice is not None:  # one config group chosen twice with +group=option
        given = [o for o in overrides if override_key(o) == twice[1]]
        if len(given) > 1:
            listed = ", ".join(given[:-1]) + " and " + given[-1]
            return (
                f"{listed} {'both' if len(given) == 2 else 'all'} choose {twice[1]}, which takes one option: give one."
            )
    merged = _merged_kinds(text, overrides)
    if merged is not None:
        return merged
    first = " ".join(text.split()).split(" See https://hydra.cc")[0].rstrip(". ")
    if isinstance(error, OverrideParseException):
        key, _, value = str(error.override).partition("=")
        if "=" in value and not value.startswith(("'", '"')):  # Hydra's grammar takes no bare = in a value
            return (
                f"{error.override} cannot be parsed: a value that holds = is quoted for Hydra inside the shell's "
                f"""quotes: '{key}="{value}"'."""
            )
        odd = next((c for c in value if c in _QUOTED_ONLY), None)
        if odd is not None and not value.startswith(("'", '"')) and not any(c in value for c in "[]{}()"):
            return (
                f"{error.override} cannot be parsed: Hydra's grammar takes {odd} in a value only inside quotes, which "
                f"""go inside the shell's: '{key}="{value}"'."""
            )
        evaluated = re.search(r"(\w+) while evaluating '(.*?)': (.*)", first)
        if evaluated is not None:  # parsed, but the sweep function refused its arguments: quoting is not the cure
            error_type, call, why = evaluated.groups()
            return f"{error.override} cannot be evaluated: {call} raised {error_type}: {why.rstrip('.')}."
        return f"{error.override} cannot be parsed ({first}): quote it for the shell, e.g. 'model.depths=[1,2,1,1]'."
    added = _unexpected_argument(text, overrides)
    if added is not None:
        return added
    path = _quoted(text, "Additional config directory '")
    if path is not None:
        return not_a_config_dir(path)
    full = getattr(error, "full_key", None) or getattr(error.__cause__, "full_key", None)
    merging = re.fullmatch(r"Error merging override (\S+)", text.strip())  # Hydra names the override it applied
    typed = merging[1] if merging else typed_as(str(full), overrides, "") if full else ""
    target = re.search(r"Cannot merge DictConfig with ListConfig.*object_type=(\w+)", str(error.__cause__), re.S)
    if typed and full and target is not None:  # a mapping for a list field, or a list for a node of fields
        wanted, got = ("a list", "a mapping") if target[1] == "list" else ("a mapping of its fields", "a list")
        return f"{typed} is invalid: {full} takes {wanted}, not {got}."
    scalar = re.search(r"Invalid value assigned: (\w+) is not a ListConfig, list or tuple", str(error.__cause__))
    if typed and full and scalar is not None:  # a single value for a list field of a plugin's node
        value = typed.split("=", 1)[-1]
        return f"{typed} is invalid: {full} takes a list, such as {full}=[{value}]."
    kind = re.search(
        r"could not be converted to (\w+)|is not a valid (bool)\b|Cannot convert '\w+' to (string)",
        str(error.__cause__ or error),
    )
    if typed and kind is not None:  # a typed field of a plugin's node (a sweeper's, a launcher's)
        name = kind[1] or kind[2] or kind[3]
        return f"{typed} is invalid: it must be {_KINDS.get(name, name.lower())}."
    if typed and "is not Optional" in str(error.__cause__ or error):  # null for a plugin's field that takes none
        field_kind = _field_kind(error.__cause__ or error)
        return f"{typed} is invalid: it must be {_KINDS[field_kind] if field_kind else 'a value, not null'}."
    if typed:  # an override's value that does not resolve, or does not fit its node
        return f"{typed} cannot be applied: {first}."
    return f"the overrides {' '.join(overrides) or '(none)'} cannot be applied: {first}."


_QUOTED_ONLY = "!#&;<>^`~"  # characters Hydra's override grammar takes in a plain value only when it is quoted
SWEEPER_PARAMS = "hydra.sweeper.params."


def _sweep_over_hydra(override: str) -> str:
    """The sentence for a sweep over a key of Hydra's own config (`hydra.launcher.n_jobs=1,2`), which Hydra refuses;
    a search space typed under `hydra.sweeper.params.` (where sweep configs keep it) is given as the field's own
    override, which the sweepers search as they search their params."""
    key, _, value = override.partition("=")
    refusal = f"{override} sweeps over Hydra's own config, which Hydra does not allow"
    if key.startswith(SWEEPER_PARAMS):
        field = key.removeprefix(SWEEPER_PARAMS)
        return (
            f"{refusal}: on the command line a search space is the field's own override, '{field}={value}' (the "
            "sweeper searches it as it searches hydra.sweeper.params)."
        )
    return f"{refusal}: give {key} one value, and sweep over fields of the run (model.cardinality=1,2)."


OUTPUT_DIRS = ("hydra.run.dir", "hydra.sweep.dir")
DEFAULT_OUTPUT_ROOTS = ("outputs", "sweeps")  # where the run and sweep folders go when no override moves them


def unwritable_folder(error: OSError, overrides: Sequence[str] = ()) -> str | None:
    """One sentence for a run or sweep folder Hydra cannot create (`hydra.run.dir=FILE/run`, a read-only working
    folder), naming the override where one set it; None for any other error."""
    if error.filename is None:
        return None
    path = os.path.abspath(os.fsdecode(error.filename))
    because = error.strerror or type(error).__name__
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") in OUTPUT_DIRS and value and _within(os.path.abspath(value), path):
            return (
                f"{override} cannot be used: {error.filename} cannot be created ({because}); give a folder that can "
                "be written."
            )
    relative = os.path.relpath(path)
    if relative.split(os.sep, 1)[0] in DEFAULT_OUTPUT_ROOTS:
        return (
            f"{relative} cannot be created ({because}): run from a folder you can write, or give the run's folder "
            "with hydra.run.dir=DIR (hydra.sweep.dir=DIR with -m)."
        )
    return None


def _within(folder: str, path: str) -> bool:
    """Whether `path` is `folder` or one of the folders above it (what mkdir of `folder` creates first)."""
    return folder == path or folder.startswith(path.rstrip(os.sep) + os.sep)


def _packaged(text: str) -> str | None:
    """The sentence for a config of a group such as sweep/ written without `# @package _global_`: Hydra then puts
    its keys under a node named after its group, which the config lacks (`Key 'sweep' not in 'Config'`, or
    `Could not override 'budget@sweep.budget'` for its defaults list); None for any other error."""
    m = re.match(r"In '((?:[\w-]+/)*([\w-]+))/([^'/]+)':", text)
    if m is None:
        return None
    path, group = m[1], m[2]
    if group in {f.name for f in fields(Config)} or (f"Key '{group}' not in" not in text and f"@{group}." not in text):
        return None  # a model/ config's keys do belong under model:
    return (
        f"{path}/{m[3]}.yaml puts its keys under `{group}:` (Hydra's package for a config of the group {group}), "
        f"where the config has no such node: a {group} config sets keys of the whole config, so its first line "
        "must be `# @package _global_`."
    )


# the Optuna sweeper's fields: a sweep file setting one on the repeats sweeper is a search asked for repeats
_SEARCH_KEYS = ("study_name", "storage", "sampler", "pruner", "n_trials", "direction", "objectives", "constraints")


def _other_sweeper(text: str, overrides: Sequence[str]) -> str | None:
    """The sentence for a config file that sets a field of its sweeper while an override chose another sweeper
    (`+sweep=search_budget +repeats=auto`: an Optuna search's `study_name` on the adaptive-repeats sweeper); None
    for any other error."""
    flat = " ".join(text.split())
    m = re.match(r"In '([^']+/[^']+)': .*Key '([^']+)' not in '(\w+)SweeperConf' full_key: (hydra\.sweeper\.\S+)", flat)
    if m is None:
        return None
    file, conf, full = f"{m[1]}.yaml", m[3], m[4]
    sweeper = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", conf).lower()  # AblateRepeats: ablate_repeats
    own = m[1].replace("/", "=")  # sweep=search_budget: the file's own override
    choosers = [o for o in overrides if o.lstrip("+").startswith(("hydra/sweeper=", "repeats=", "sweep="))]
    choosers = [o for o in choosers if o.lstrip("+") != own]
    if not choosers:  # no other sweeper chosen: a key the file's own sweeper lacks (a typo), said elsewhere
        return None
    by = f", chosen by {' '.join(choosers)}"
    search = m[2] in _SEARCH_KEYS and sweeper == "ablate_repeats"  # repeats asked of an Optuna search
    how = " (for repeats in a search, give it seed=0,1,2: every trial then trains its design with each seed)"
    return (
        f"{file} sets {full}, which the sweeper in use does not have ({sweeper}{by}): the two need different "
        f"sweepers, so use one of them{how if search else ''}."
    )


def in_file(error: Any, text: str, overrides: Sequence[str] = ()) -> str | None:
    """The sentence for an error inside a config file (Hydra's `In 'model/mine': …`), naming the file: a defaults
    list entry that does not exist (named as typed where an override chose it: `hydra/sweeper/sampler=nope`), or a
    key its node has no field of; None for any other error."""
    import dataclasses

    from ablate.config import schema

    m = re.match(r"In '([^']+/[^']+)': ", text)  # a group's config file, not the primary config (the overrides')
    if m is None:
        return None
    file = f"{m[1]}.yaml"
    missing = getattr(error, "missing_cfg_file", None)
    if missing:
        group, _, name = missing.rpartition("/")
        searchpath = re.findall(r"path=(file://\S+)", text)  # the user's folders, as Hydra lists them
        options = available(group, searchpath) if group else []
        typed = next((o for o in overrides if override_key(o) == group and o.split("=", 1)[-1] == name), None)
        if typed is not None:  # the override replaced the file's choice
            return _unknown_choice(typed, group, options)
        nearest = nearest_name(name, options)
        hint = f" (did you mean {nearest}?)" if nearest else ""
        listed = f": available {group} configs are {', '.join(options)}" if options else ""
        return f"{file}'s defaults list names {missing}, which does not exist{hint}{listed}."
    k = re.search(r"Key '([^']+)' not in '(\w+)'\s+full_key: (\S+)", text)
    node = getattr(schema, k[2], None) if k else None
    if k is None or not (isinstance(node, type) and dataclasses.is_dataclass(node)):
        return None
    key, full = k[1], k[3]
    parent = full[: -len(key) - 1] if full.endswith("." + key) else "the config"
    names = (
        list(schema.MODEL_FIELDS) if node is schema.ModelConfig else sorted(f.name for f in dataclasses.fields(node))
    )
    nearest = nearest_name(key, names)
    hint = f" (did you mean {nearest}?)" if nearest else ""
    return f"{file} sets {full}, a field {parent} does not have{hint}; its fields are {', '.join(names)}."


# OmegaConf's type names, in its "could not be converted to X" and "is not a valid bool" errors
_KINDS = {
    "Integer": "a whole number",
    "Float": "a number",
    "Boolean": "true or false",
    "bool": "true or false",
    "string": "a text",
}
_ANNOTATIONS = {int: "Integer", float: "Float", bool: "Boolean", "int": "Integer", "float": "Float", "bool": "Boolean"}


def _field_kind(error: BaseException) -> str | None:
    """The kind (a key of _KINDS) of the typed field an OmegaConf error names, read from its dataclass; None when
    the field is not a number or a flag."""
    import dataclasses

    owner, key = getattr(error, "object_type", None), str(getattr(error, "key", "") or "")
    if owner is None or not dataclasses.is_dataclass(owner):
        return None
    field = next((f for f in dataclasses.fields(owner) if f.name == key), None)
    return None if field is None else _ANNOTATIONS.get(field.type)


def _quoted(text: str, before: str) -> str | None:
    """The text between `before` and the next single quote in `text` (None when `before` is not in it)."""
    at = text.find(before)
    return None if at < 0 else text[at + len(before) :].split("'", 1)[0]


def _unexpected_argument(text: str, overrides: Sequence[str]) -> str | None:
    """The sentence for a key added with + to a plugin's node (`+hydra.sweeper.max_seeds=4`) that its class does
    not take: Hydra's "Error in call to target … unexpected keyword argument", said as for the same key without +;
    None for any other error. The class's fields are read from the module Hydra has imported to call it: nothing
    named in a config is imported here (tests/test_security.py)."""
    import inspect
    import sys

    flat = " ".join(text.split())
    m = re.search(
        r"Error in call to target '([\w.]+)': TypeError\(.*unexpected keyword argument '(\w+)'.*full_key: (\S+)", flat
    )
    if m is None:
        return None
    module, _, name = m[1].rpartition(".")
    try:
        params = inspect.signature(getattr(sys.modules[module], name).__init__).parameters
    except (KeyError, AttributeError, TypeError, ValueError):  # not imported, or not a class with a signature
        return None
    names = sorted(p for p, v in params.items() if p != "self" and v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY))
    node, key = m[3].rstrip("."), m[2]
    typed = typed_as(f"{node}.{key}", overrides, f"+{node}.{key}")
    value = typed.split("=", 1)[1] if "=" in typed else None
    nearest = nearest_name(key, names)
    hint = f" (did you mean {node}.{nearest}{'' if value is None else '=' + value}?)" if nearest else ""
    return f"{typed}: {node} has no field {key}{hint}; its fields are {', '.join(names)}."


def not_a_config_dir(path: Any) -> str:
    """The sentence for a `--config-dir` that is not a folder (missing, or a file), for the app and every CLI."""
    return (
        f"--config-dir {path} is not a folder: give the folder that holds your config groups "
        "(DIR/model/NAME.yaml, DIR/sweep/NAME.yaml), e.g. examples/se_resnext."
    )


def typed_as(key: str, overrides: Sequence[str], default: str) -> str:
    """The (first) override of `key` as the user typed it, else `default`."""
    return next((o for o in overrides if override_key(o) == key), default)


def variant_sentence(sentence: str, variant: str | None, typed: Sequence[str]) -> str:
    """`sentence` (a refusal of the composed config) said in the terms of the `+variant=` file that set the field, where
    it names a budget field that budget=none lacks and the command line did not type (`+variant=wider` sets
    budget.vary): its way on adds a budget to the variant. Any other sentence as it is."""
    import re

    m = re.match(r"(budget\.(\w+)=.*?): budget=none \(the default\) has no field", sentence)
    if m is None or not variant or any(override_key(o) == f"budget.{m[2]}" for o in typed):
        return sentence
    return (
        f"+variant={variant} sets {m[1]}, which budget=none (the default) does not have: choose a budget with it, "
        f"e.g. +variant={variant} budget=params (or budget=flops)."
    )


def typed_variant(overrides: Sequence[str]) -> str | None:
    """The option a command line's `+variant=NAME` chooses (the last one), or None."""
    chosen = [o.split("=", 1)[1] for o in overrides if "=" in o and o.split("=", 1)[0].lstrip("+") == "variant"]
    return chosen[-1] if chosen else None


def nearest_name(name: str, names: Iterable[str]) -> str | None:
    """The valid name closest in spelling, else the one `name` extends by a word (`max_seeds`: `max`)."""
    import difflib

    names = list(names)
    found = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if found:
        return found[0]
    words = [n for n in names if name.startswith(n + "_") or n.startswith(name + "_")]
    return words[0] if len(words) == 1 else None


def bad_yaml(error: BaseException | None) -> str | None:
    """The sentence for a config file PyYAML cannot parse (Hydra lets its error through, or wraps it), naming the
    file and the place as PyYAML does, lines and columns counted from 1; None for any other error."""
    import yaml

    while error is not None and not isinstance(error, yaml.MarkedYAMLError):
        error = error.__cause__ or error.__context__
    if error is None or error.problem_mark is None:
        return None
    mark, context = error.problem_mark, error.context_mark
    where = f"at line {mark.line + 1}, column {mark.column + 1}"
    if error.context and context is not None and (context.line, context.column) != (mark.line, mark.column):
        where += f" ({error.context} from line {context.line + 1}, column {context.column + 1})"
    return f"{mark.name} is not valid YAML: {error.problem} {where}: mend the file."


def _unknown_option(error: Any, overrides: Sequence[str]) -> str:
    """`model=resnext50_32x4 is unknown (did you mean model=resnext50_32x4d?): available model configs are ...`."""
    primary = _quoted(str(error), "Cannot find primary config '")
    if primary is not None:
        return (
            f"--config-name {primary} is unknown: ablate's own is config; a config of your own needs "
            f"--config-dir DIR with DIR/{primary}.yaml."
        )
    group, _, name = (error.missing_cfg_file or "").rpartition("/")
    listed = next((o for o in overrides if override_key(o) == group and name in listed_options(o)), None)
    if group and error.options is None and listed is not None:  # one item of a list of options (`data=[a,b]`)
        options = available(group, re.findall(r"path=(file://\S+)", str(error)))
        nearest = nearest_name(name, options)
        hint = f" (did you mean {nearest}?)" if nearest else ""
        return f"{listed} names {name}, which is unknown{hint}: available {group} configs are {', '.join(options)}."
    if not group or error.options is None:  # not a group's option (a file of a defaults list)
        return " ".join(str(error).split("Available options")[0].split()).rstrip(". ") + "."
    typed = next((o for o in overrides if override_key(o) == group and o.split("=", 1)[-1] == name), f"{group}={name}")
    return _unknown_choice(typed, group, sorted(error.options))


def _merged_kinds(text: str, overrides: Sequence[str]) -> str | None:
    """The sentence for a list of a group's options whose configs are of different schema classes (`data=[
    fashion_mnist,synthetic]`): Hydra merges such a list into one config, which cannot take two kinds."""
    m = re.search(r"Merge error: (\w+) is not a subclass of (\w+)", text)
    if m is None:
        return None
    listed = next((o for o in overrides if len(listed_options(o)) > 1), None)
    if listed is None:
        return None
    key = override_key(listed)
    values = ",".join(listed_options(listed))
    return (
        f"{listed} merges {key} configs of different kinds ({m[1]} onto {m[2]}), which one config cannot be: "
        f"choose one, or add -m to run one job each with {key}={values}."
    )


def listed_options(override: str) -> list[str]:
    """The options a group override lists (`data=[a,b]`: a and b; `data=[]`: one empty item), or none where its
    value is not a list. Read from the text as typed, before Hydra parses it (`ablate.cli.argv.empty_choice`)."""
    value = override.split("=", 1)[-1].strip()
    if not (value.startswith("[") and value.endswith("]")):
        return []
    return [item.strip() for item in value[1:-1].split(",")]


def _unknown_choice(typed: str, group: str, options: Sequence[str]) -> str:
    """The sentence for an override choosing an option its group does not have, as typed (`+model=x`, `model=x`),
    with the nearest option and every option."""
    key, _, name = typed.partition("=")
    nearest = nearest_name(name, options)
    hint = f" (did you mean {key}={nearest}?)" if nearest else ""
    listed = f": available {group} configs are {', '.join(options)}" if options else ""
    return f"{typed} is unknown{hint}{listed}."


def _unknown_key(key: str, cause: BaseException | None, overrides: Sequence[str]) -> str:
    """`model.cardinalty=8: model has no field cardinalty (did you mean model.cardinality=8?); its fields are ...`:
    the fields are those of the config node OmegaConf names in the error (a schema class, or Hydra's own)."""
    import dataclasses

    from ablate.config.schema import MODEL_FIELDS

    typed = typed_as(key, overrides, key)
    value = typed.split("=", 1)[1] if "=" in typed else None
    full = str(getattr(cause, "full_key", None) or key)
    missing = str(getattr(cause, "key", None) or full.rsplit(".", 1)[-1])
    parent = full[: -len(missing) - 1] if full.endswith("." + missing) else ""
    node = getattr(cause, "object_type", None)
    names = (  # a node's own keys (_target_, _recursive_) are not for the user to set
        [f.name for f in dataclasses.fields(node) if not f.name.startswith("_")]
        if isinstance(node, type) and dataclasses.is_dataclass(node)
        else []
    )
    if not parent and names:  # the root: its groups and fields, and the groups a config adds with +
        names = sorted(names) + [f"+{g}" for g in ADDED_GROUPS]
        where, kind, listed = "the config", "group or field", "its groups and fields"
    else:
        names = list(MODEL_FIELDS) if parent == "model" else sorted(names)
        where, kind, listed = parent or "the config", "field", "its fields"
    nearest = nearest_name(missing, [n.lstrip("+") for n in names])
    hint = ""
    if nearest is not None:
        plus = "+" if f"+{nearest}" in names else ""
        rest = key[len(full) :]  # what follows the missing key in the override (modle.cardinality: .cardinality)
        fixed = f"{plus}{parent + '.' if parent else ''}{nearest}{rest}"
        hint = f" (did you mean {fixed}{'' if value is None else '=' + value}?)"
    if not names and parent == "budget":  # budget=none is {metric: null}: a budget field needs a budget first
        return no_budget_field(typed, missing)
    tail = f"; {listed} are {', '.join(names)}" if names else ""
    if not names and value is not None and value.startswith("{") and override_key(typed).lstrip("+") == parent:
        # a node in braces merges into the one the config holds: an object (a sweep's pruner or sampler) is
        # replaced by another class's; a mapping (the sweeper's params) may also take more keys, with +
        replace = f"{parent}=null {shlex.quote(typed.lstrip('+'))}"
        if "_target_" in value:
            tail = f"; a node in braces merges into the config's own {parent}: to replace it, set it to null first: "
        else:
            tail = (
                f"; a node in braces merges into the config's own {parent} without adding keys: to add them, "
                f"write {shlex.quote('+' + typed.lstrip('+'))}; to replace the node, set it to null first: "
            )
        tail += replace
    elif not names and value is not None and not typed.startswith("+"):  # no schema: the node takes new keys with +
        tail = f"; a key the config lacks is added with +: +{typed}"
    return f"{typed}: {where} has no {kind} {missing}{hint}{tail}."

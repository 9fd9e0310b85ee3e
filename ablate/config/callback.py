"""`RefuseCallback`: a single run whose config is refused ends before Hydra makes its folder.

Hydra creates a run's folder (and its log file) before it calls the task, so a config refused inside the task
left a folder holding only a failed record, and the sentence twice on the terminal (the run's log line, then the
sentence on stderr). Named in the root config (`hydra.callbacks.refuse`), this callback checks the composed config
with the same `check` and budget solver the run uses, before the folder exists: a refusal is one sentence on
stderr and exit status 2 (Hydra's callback runner turns exceptions into warnings, so it exits itself, as the
report callback does). Multirun members are not judged here: each is checked in its own job, and a refused member
is recorded as failed so the sweep goes on, unless every member is refused with the same sentence: then a
constant override is at fault (bad input), and the multirun ends in that sentence and exit status 2 before any
member runs; so does an Optuna search whose objectives or constraints name a number no run record holds. A run
this callback passes is checked again by its job (no bypass).
"""

from __future__ import annotations

import logging
import sys

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ablate.cli.common import EXIT_USAGE
from ablate.errors import override_key

log = logging.getLogger(__name__)


class RefuseCallback(Callback):
    """Refuse a single run's config (schema and budget) before Hydra makes the run's folder; refuse a multirun whose
    launcher got a misspelt key, or (a grid) whose every member's config is refused with one and the same
    sentence, before any member runs."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        sentence = untargeted_callback(config, multirun=False) or refusal(config) or report_refusal(config)
        if sentence is not None:
            print(f"ablate: {sentence}", file=sys.stderr)
            sys.exit(EXIT_USAGE)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from ablate.config.plugins import launcher_near_miss, plugin_value

        near_miss = untargeted_callback(config, multirun=True) or launcher_near_miss(config) or plugin_value(config)
        if near_miss is not None:
            print(f"ablate: {near_miss}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        axis = axis_refusal(config)
        if axis is not None:
            print(f"ablate: {axis}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        from ablate.report.collect import expected_members

        multirun = OmegaConf.to_container(config, resolve=False)
        members = expected_members(multirun if isinstance(multirun, dict) else None)
        note = large_grid(config, len(members))
        if note is not None:
            log.info(note)
        unknown = unknown_record_key(config)
        if unknown is not None:
            print(f"ablate: {unknown}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        sentence = unanimous_refusal(config, members)
        if sentence is not None:
            print(f"ablate: {sentence.rstrip('.')} (in every member of the sweep).", file=sys.stderr)
            sys.exit(EXIT_USAGE)


def unknown_record_key(config: DictConfig) -> str | None:
    """The sentence for an Optuna search whose objectives or constraints name a key that no run's result.json holds
    as a number (a misspelt `model.complexity.flop`), which would fail the first trial after training it and stop
    the search; None where every key is one (`ablate.run.record.number_keys`), or for another sweeper or result file."""
    from ablate.config.sentences import nearest_name
    from ablate.run.record import RESULT, is_number_key, number_keys

    sweeper = config.hydra.sweeper
    if not str(sweeper.get("_target_", "")).endswith("AblateOptunaSweeper") or sweeper.get("result_file") != RESULT:
        return None
    from hydra_plugins.ablate_optuna_sweeper._objectives import RETURN, Constraint

    named = [("hydra.sweeper.objectives", str(o)) for o in sweeper.get("objectives") or () if str(o) != RETURN]
    for text in sweeper.get("constraints") or ():
        try:
            constraint = Constraint.parse(str(text))
        except Exception:  # not of the form LHS <= RHS: the sweeper says so
            return None
        where = f"hydra.sweeper.constraints entry {str(text)!r}"
        named += [(where, term.key) for term in (constraint.lhs, constraint.rhs) if term.key is not None]
    run = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])
    try:
        values = OmegaConf.to_container(run, resolve=True)
    except Exception:  # an interpolation only the job resolves: config keys are the job's to judge
        values = None
    keys = number_keys(values)
    swept = [f"config.{override_key(str(k))}" for k in sweeper.get("params") or {}]  # a key a trial adds
    for where, key in named:
        if is_number_key(key, keys) or key in swept or (values is None and key.startswith("config.")):
            continue
        nearest = nearest_name(key, keys)
        hint = f" (did you mean {nearest}?)" if nearest else ""
        return (
            f"{where} names {key}, which no run's result.json holds{hint}: name a number of the run record, such as "
            "final.val_err, model.complexity.params or budget.deviation, or config.KEY for a config value."
        )
    return None


def untargeted_callback(config: DictConfig, multirun: bool) -> str | None:
    """The sentence for a node of `hydra.callbacks` without `_target_`, or None. Hydra instantiates each node and,
    where that fails, warns at every event of every job and calls nothing; such a node comes from a key set on a
    callback the command does not have, most often the report's (`+hydra.callbacks.report.out=DIR` on a grid
    without a sweep config, or on a single run)."""
    callbacks = OmegaConf.select(config, "hydra.callbacks", default=None)
    if not isinstance(callbacks, DictConfig):
        return None
    overrides = [str(o) for o in OmegaConf.select(config, "hydra.overrides.hydra", default=None) or []]
    for key in callbacks:
        name, node = str(key), callbacks[key]
        if not isinstance(node, DictConfig) or "_target_" in node:
            continue
        prefix = f"hydra.callbacks.{name}"
        keys = {o: override_key(o) for o in overrides}
        typed = next((o for o, k in keys.items() if k == prefix or k.startswith(prefix + ".")), prefix)
        if name == "report":
            if multirun:
                return (
                    f"{typed} sets an option of a report this command does not write (no sweep config brings the "
                    "report callback): add hydra/callbacks=report to the command, or drop the key and run python -m "
                    "ablate.report on the sweep folder afterwards."
                )
            return (
                f"{typed} sets an option of a report this command does not write (a single run has no report): "
                "drop the key, or run a sweep (-m)."
            )
        return (
            f"{typed} makes a callback node without _target_, which Hydra cannot call: give its class as "
            f"{prefix}._target_, or drop the key."
        )
    return None


def solved_template(config: DictConfig):
    """The template a run's composed config (hydra node included) trains, after the same schema check and budget
    solve its job makes; raises what they raise."""
    from ablate.config.loading import job_searchpath, solve_cfg
    from ablate.config.schema import check

    searchpath = job_searchpath(config)  # the user's config folders: a budget may name a model there
    run = OmegaConf.masked_copy(config, [str(k) for k in config if k != "hydra"])  # its fields alone
    check(run, searchpath)
    return solve_cfg(run, searchpath)[0]


def refusal(config: DictConfig) -> str | None:
    """The sentence a run's composed config (hydra node included) is refused with by its schema and budget, or
    None: accepted, or failing on something only the job resolves (an interpolation of the job's own)."""
    from ablate.config.sentences import variant_sentence
    from ablate.errors import AblateError

    try:
        solved_template(config)
    except AblateError as e:
        variant = OmegaConf.select(config, "hydra.runtime.choices.variant", default=None)
        task = [str(o) for o in OmegaConf.select(config, "hydra.overrides.task", default=None) or []]
        return variant_sentence(" ".join(str(e).split()), variant, task)
    except Exception:
        return None
    return None


def report_refusal(config: DictConfig) -> str | None:
    """The sentence a single run's report options (`report:`, which no single run uses, but a sweep of the same
    config would) are refused with, or None: read and checked as a multirun reads them when it starts
    (`ablate.report.options.from_sweep`; the multirun also checks its reference among its members)."""
    from ablate.errors import ConfigError
    from ablate.report.options import from_sweep

    container = OmegaConf.to_container(config, resolve=False)
    try:
        from_sweep(container if isinstance(container, dict) else None)
    except ConfigError as e:
        return str(e)
    return None


def axis_refusal(config: DictConfig) -> str | None:
    """The sentence for a grid axis that gives no value (`range(5,1)`, `shuffle()`), or one value twice (`seed=0,0`),
    or None. The basic and the repeats sweepers would launch no member, and the multirun would end with nothing to
    say but that no run wrote a result; or launch one setting twice into its one folder, where the second finds the
    first's run (or, on a pool launcher, the folder in use)."""
    from ablate.report.collect import BASIC_SWEEPER, REPEATS_SWEEPER, sweep_overrides

    if OmegaConf.select(config, "hydra.sweeper._target_", default=None) not in (BASIC_SWEEPER, REPEATS_SWEEPER):
        return None
    multirun = OmegaConf.to_container(config, resolve=False)
    parsed = sweep_overrides(multirun if isinstance(multirun, dict) else None)  # None: Hydra says why, its own way
    for o in parsed or ():
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() and o.is_discrete_sweep() else None
        twice = first_repeat(values or [])
        if twice is not None:
            return (
                f"{o.input_line} gives {o.get_key_element()}={twice} twice: each value is one setting, run once in "
                "its own folder, so give it once."
            )
        if values is not None and not values:
            key = o.get_key_element()
            why = (
                " (range(start,stop) counts up from start and stops before stop)"
                if "range(" in str(o.input_line)
                else ""
            )
            return f"{o.input_line} gives no value to sweep: give at least one, e.g. {key}=1,2{why}."
    return None


def first_repeat(values: list[str]) -> str | None:
    """The first value that comes a second time in `values`, or None."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


LARGE_GRID = 20  # members above which a grid says why its first member takes a while to start


def large_grid(config: DictConfig, n: int) -> str | None:
    """For a grid of Hydra's basic sweeper of `n` members, more than LARGE_GRID in one batch: the line that says why
    nothing starts for a while (Hydra composes every member's config before it launches the first), else None."""
    if OmegaConf.select(config, "hydra.sweeper.max_batch_size", default=None) is not None:
        return None
    if n <= LARGE_GRID:
        return None
    return (
        f"{n:,} members: Hydra composes each member's config before it launches the first; "
        "hydra.sweeper.max_batch_size=N launches them N at a time, each batch checked as it starts."
    )


def unanimous_refusal(config: DictConfig, members: list[list[str]]) -> str | None:
    """For a multirun of Hydra's basic sweeper (whose members are known before they run): the one sentence every
    member's config is refused with, as a constant override that no member can take (`optim.lr=-1`,
    `+budget.bogus=1`); None when a member is accepted or two are refused differently, a sweep value's own fault,
    which the member records while the sweep goes on. Members are composed one by one and the first accepted one
    ends the search, so a sweep that starts costs one composition."""
    from hydra.core.global_hydra import GlobalHydra

    if not members or not GlobalHydra.instance().is_initialized():
        return None
    loader = GlobalHydra.instance().config_loader()
    sentences = set()
    for overrides in members:
        try:
            member = loader.load_sweep_config(config, list(overrides))
        except Exception:  # a member Hydra cannot compose: the launch says so in its own words
            return None
        sentence = refusal(member)
        sentences.add(sentence)
        if sentence is None or len(sentences) > 1:
            return None
    return sentences.pop()

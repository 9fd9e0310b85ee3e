"""The values of Hydra's launcher and sweeper plugins that their typed configs take but the plugin cannot run.

Hydra checks a plugin's config against its schema (a number where a number goes) and no further: joblib's
`n_jobs=0`, submitit's `tasks_per_node=0` or a Ray task asking for more CPUs than its Ray has end in the plugin's
traceback once the sweep has started, or, for Ray, in a wait without end. `plugin_value` says each in one sentence
when the multirun starts (`ablate.config.callback.RefuseCallback`), before any member runs;
`ray_unreachable` says a Ray cluster that cannot be reached, which only connecting can tell.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ablate.config.sentences import nearest_name, typed_as
from ablate.errors import shown
from ablate.report.collect import BASIC_SWEEPER, override_key


def launcher_near_miss(config: Any) -> str | None:
    """The sentence for a key added with + to the launcher's node (`+hydra.launcher.n_job=2`) that is a near miss of
    one of its fields: a launcher that takes any keyword (joblib's passes them to its backend) would take it
    silently and run with the field's default. A key that is no near miss of a field passes, as Hydra allows."""
    import difflib

    from omegaconf import DictConfig, OmegaConf

    node = OmegaConf.select(config, "hydra.launcher")
    overrides = [str(o) for o in OmegaConf.select(config, "hydra.overrides.hydra", default=None) or []]
    if not isinstance(node, DictConfig):
        return None
    added = {override_key(o).removeprefix("hydra.launcher."): o for o in overrides if o.startswith("+")}
    added = {k: o for k, o in added.items() if "." not in k and override_key(o).startswith("hydra.launcher.")}
    fields = [str(k) for k in node if k != "_target_" and k not in added]
    for key, typed in added.items():
        near = difflib.get_close_matches(key, fields, n=1, cutoff=0.8)
        if near:
            value = typed.split("=", 1)[1]
            return (
                f"{typed}: hydra.launcher has no field {key} (did you mean hydra.launcher.{near[0]}={value}?); its "
                f"fields are {', '.join(fields)}."
            )
    return None


JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SUBMITIT_LAUNCHERS = {
    f"hydra_plugins.hydra_submitit_launcher.submitit_launcher.{kind}Launcher": option
    for kind, option in (("Local", "submitit_local"), ("Slurm", "submitit_slurm"))
}


def _submitit_value(config: Any, launcher: str) -> str | None:
    """The sentence for submitit's launchers where they would end in a traceback: a timeout below a minute (the
    member is killed at once), fewer than one task per node (submitit's assertion), the SLURM launcher on a machine
    without `srun`."""
    import shutil

    from omegaconf import OmegaConf

    timeout = OmegaConf.select(config, "hydra.launcher.timeout_min", default=None)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout < 1:
        return (
            f"hydra.launcher.timeout_min={timeout} is invalid: give the minutes each member may run, 1 or more "
            "(submitit stops a member at its timeout)."
        )
    tasks = OmegaConf.select(config, "hydra.launcher.tasks_per_node", default=None)
    if isinstance(tasks, int) and not isinstance(tasks, bool) and tasks < 1:  # submitit asserts "Nothing to do!"
        return (
            f"hydra.launcher.tasks_per_node={tasks} is invalid: give the processes each member runs, 1 or more "
            "(ablate's DDP takes its processes from trainer.world_size; 1 is right for it)."
        )
    if SUBMITIT_LAUNCHERS[launcher] == "submitit_slurm" and shutil.which("srun") is None:
        return (
            "hydra/launcher=submitit_slurm submits to a SLURM cluster, and this machine has no srun: run the command "
            "on the cluster's login node, or launch here with hydra/launcher=submitit_local or joblib."
        )
    return None


def plugin_value(config: Any) -> str | None:
    """The sentence for a field of a Hydra plugin (a launcher, a sweeper) whose value its typed config takes but the
    plugin cannot run: Ray's (`_ray_value`), joblib's `n_jobs=0` ("has no meaning" to joblib, which raises once the
    sweep has started), a joblib `backend` other than loky (Hydra's launcher replaces it silently), the basic
    sweeper's `max_batch_size` below 1 (an assertion)."""
    from omegaconf import OmegaConf

    batch = OmegaConf.select(config, "hydra.sweeper.max_batch_size", default=None)
    basic = OmegaConf.select(config, "hydra.sweeper._target_", default=None) == BASIC_SWEEPER
    if basic and isinstance(batch, int) and batch < 1:  # Hydra's basic sweeper asserts it, once the sweep started
        return (
            f"hydra.sweeper.max_batch_size={batch} is invalid: give how many members to launch at a time, 1 or more, "
            "or null for all at once."
        )
    launcher = OmegaConf.select(config, "hydra.launcher._target_", default=None)
    if launcher in SUBMITIT_LAUNCHERS:
        return _submitit_value(config, launcher)
    if launcher == RAY_LAUNCHER:
        return _ray_value(config)
    if launcher != JOBLIB_LAUNCHER:
        return None
    if OmegaConf.select(config, "hydra.launcher.n_jobs", default=None) == 0:
        return (
            "hydra.launcher.n_jobs=0 is invalid: give how many jobs run at once, 1 or more (or -1 for one per core, "
            "as joblib counts)."
        )
    backend = OmegaConf.select(config, "hydra.launcher.backend", default=None)
    if backend not in (None, "loky"):  # Hydra's launcher sets loky whatever the config says
        return (
            f"hydra.launcher.backend={backend} would be ignored: Hydra's joblib launcher always runs loky (one process "
            "per job); drop it, or give hydra.launcher.backend=loky."
        )
    return _joblib_value(config)


def _joblib_value(config: Any) -> str | None:
    """The sentence for a joblib field of a value joblib refuses with a ValueError only once the sweep has started:
    prefer, require, batch_size, pre_dispatch, max_nbytes (read by joblib's own helpers where it has them)."""
    from omegaconf import OmegaConf

    def value(name: str) -> Any:
        return OmegaConf.select(config, f"hydra.launcher.{name}", default=None)

    if value("prefer") not in (None, "processes", "threads"):
        return f"hydra.launcher.prefer={value('prefer')} is invalid: give processes, threads or null."
    if value("require") not in (None, "sharedmem"):
        return f"hydra.launcher.require={value('require')} is invalid: give sharedmem or null."
    batch = value("batch_size")
    if batch not in (None, "auto") and not (str(batch).isdigit() and int(batch) >= 1):
        return f"hydra.launcher.batch_size={batch} is invalid: give auto or a whole number of at least 1."
    dispatch = value("pre_dispatch")
    if dispatch not in (None, "all") and not _evaluates(str(dispatch).replace("n_jobs", "1")):
        return (
            f"hydra.launcher.pre_dispatch={dispatch} is invalid: give all, a whole number, or an expression of "
            "n_jobs such as 2*n_jobs."
        )
    size = value("max_nbytes")
    if size is not None and not _a_size(size):
        return f"hydra.launcher.max_nbytes={size} is invalid: give a size such as 1M, 500K or 10G, or null."
    return None


def _evaluates(expression: str) -> bool:
    """Whether joblib's arithmetic evaluator takes `expression` (its `pre_dispatch`, with n_jobs put in)."""
    try:
        from joblib._utils import eval_expr
    except ImportError:  # a joblib without it: joblib says it, its own way
        return True
    try:
        eval_expr(expression)
    except (ValueError, TypeError, SyntaxError, ZeroDivisionError):
        return False
    return True


def _a_size(size: Any) -> bool:
    """Whether joblib reads `size` as its `max_nbytes` (a whole number of bytes, or a text such as 1M)."""
    from joblib.disk import memstr_to_bytes

    if isinstance(size, int) and not isinstance(size, bool):
        return size >= 0
    try:
        memstr_to_bytes(str(size))
    except (ValueError, KeyError, IndexError):
        return False
    return True


RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
RAY_INIT, RAY_REMOTE = "hydra.launcher.ray.init", "hydra.launcher.ray.remote"
LOCAL_OBJECT_STORE = 78_643_200  # bytes (75 MiB): what Hydra's Ray launcher gives a Ray it starts on this machine


def _ray_value(config: Any) -> str | None:
    """The sentence for Ray's launcher where it would end in Ray's traceback (an argument `ray.init` or a Ray task does
    not have, a task option of the wrong type or sign) or wait without end: a member asking for more CPUs, GPUs or
    custom resources than the Ray the launcher starts on this machine has (Ray keeps such a task pending, and prints
    that no node can fit it, every half minute). A cluster's resources are not judged: its autoscaler may add them."""
    from omegaconf import OmegaConf

    overrides = [str(o) for o in OmegaConf.select(config, "hydra.overrides.hydra", default=None) or []]
    init = _container(OmegaConf.select(config, RAY_INIT, default=None))
    remote = _container(OmegaConf.select(config, RAY_REMOTE, default=None))
    return (
        _ray_keys(init, remote, overrides) or _ray_values(init, remote, overrides) or _ray_fits(init, remote, overrides)
    )


def _container(node: Any) -> dict:
    from omegaconf import DictConfig, OmegaConf

    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else None
    return values if isinstance(values, dict) else {}


def _typed_as(key: str, value: Any, overrides: Sequence[str]) -> str:
    """`key=value` as the user typed it (with its `+`), else as the config holds it."""
    return typed_as(key, overrides, f"{key}={shown(value)}")


_NAMED = {
    RAY_INIT: ("ray.init takes no argument", "its arguments"),
    RAY_REMOTE: ("a Ray task has no option", "its options"),
}


def _ray_keys(init: dict, remote: dict, overrides: Sequence[str]) -> str | None:
    """An argument of `ray.init` or an option of a Ray task that Ray does not have (`num_cpu`). `ray.init` passes
    unknown arguments on to a `ray://` client, so they are judged only where the address is not one."""
    import inspect

    import ray
    from ray._common.ray_option_utils import task_options

    arguments = [n for n in inspect.signature(ray.init).parameters if n != "kwargs"]
    client = str(init.get("address") or "").startswith("ray://")
    for node, given, valid in ((RAY_INIT, init if not client else {}, arguments), (RAY_REMOTE, remote, task_options)):
        for key in given:
            if key in valid or (node == RAY_INIT and key.startswith("_")):  # ray.init's private arguments
                continue
            typed = _typed_as(f"{node}.{key}", given[key], overrides)
            near = nearest_name(key, valid)
            value = typed.split("=", 1)[1]
            hint = f" (did you mean {node}.{near}={value}?)" if near else ""
            what, listed = _NAMED[node]
            public = sorted(name for name in valid if not name.startswith("_"))
            return f"{typed}: {what} {key}{hint}; {listed} are {', '.join(public)}."
    return None


_TYPES = {int: "a whole number", float: "a number", str: "a text", dict: "a mapping", bool: "true or false"}


def _ray_values(init: dict, remote: dict, overrides: Sequence[str]) -> str | None:
    """A task option Ray's own validator refuses (`num_cpus=-1`, `num_gpus=x`), and a count of CPUs or GPUs for the
    Ray it starts that is not a whole number of at least 0."""
    from ray._common.ray_option_utils import task_options, validate_task_options

    for key, value in remote.items():
        try:
            validate_task_options({key: value}, in_options=False)
        except TypeError:
            constraint = task_options[key].type_constraint
            types = constraint if isinstance(constraint, tuple) else (constraint,)
            kinds = [_TYPES[t] for t in types if t in _TYPES]
            if float in types:
                kinds = [k for k in kinds if k != "a whole number"]
            valid = " or ".join([*kinds, "null"])
            return f"{_typed_as(f'{RAY_REMOTE}.{key}', value, overrides)} is invalid: Ray takes {valid} there."
        except ValueError as e:
            reason = str(e).rstrip(".")
            return f"{_typed_as(f'{RAY_REMOTE}.{key}', value, overrides)} is invalid: {reason[:1].lower()}{reason[1:]}."
    for key in ("num_cpus", "num_gpus"):
        value = init.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            return (
                f"{_typed_as(f'{RAY_INIT}.{key}', value, overrides)} is invalid: give the "
                f"{'CPUs' if key == 'num_cpus' else 'GPUs'} of the Ray started on this machine, a whole number of at "
                "least 0, or null for what the machine has."
            )
    return None


def _ray_fits(init: dict, remote: dict, overrides: Sequence[str]) -> str | None:
    """A member asking for more CPUs, GPUs or custom resources than the Ray that the launcher starts on this machine
    has (where it starts one: `local_head`)."""
    if not local_head(init):
        return None
    have = {
        "CPU": init.get("num_cpus") if init.get("num_cpus") is not None else _ray_cpus(),
        "GPU": init.get("num_gpus") if init.get("num_gpus") is not None else _ray_gpus(),
        **(init.get("resources") or {}),
    }
    asked = {
        "CPU": remote.get("num_cpus") if remote.get("num_cpus") is not None else 1,  # Ray's default for a task
        "GPU": remote.get("num_gpus") or 0,
        **(remote.get("resources") or {}),
    }
    for name, amount in asked.items():
        there = have.get(name, 0)
        if not _counts(there, amount) or not amount or amount <= there:  # there None: Ray's detection gave no count
            continue
        option = {"CPU": "num_cpus", "GPU": "num_gpus"}.get(name)
        if option == "num_cpus" and remote.get("num_cpus") is None:  # Ray's default of 1, and init gave it 0
            return (
                f"{_typed_as(f'{RAY_INIT}.num_cpus', there, overrides)}: the Ray that hydra/launcher=ray starts on "
                "this machine would have no CPU, and each member asks for 1 (a Ray task's default): no member could "
                "ever start (Ray would wait without end); give it 1 or more, or null for this machine's cores."
            )
        key = f"{RAY_REMOTE}.{option or 'resources'}"
        unit = f"{name}{'s' * (amount != 1)}" if option else f"of resource {name}"
        if option is None or init.get(option) is not None:
            source = f"{RAY_INIT}.{option or 'resources'}"
        else:
            source = f"this machine's {'cores' if option == 'num_cpus' else 'GPUs'}"
        way = "drop it" if there == 0 else f"ask for at most {there:g}"
        return (
            f"{_typed_as(key, amount if option else remote.get('resources'), overrides)}: each member asks Ray for "
            f"{amount:g} {unit}, and the Ray that hydra/launcher=ray starts on this machine has {there:g} ({source}): "
            f"no member could ever start (Ray would wait without end); {way}, or give the address of a Ray cluster "
            f"that has them in {RAY_INIT}.address."
        )
    return None


def _counts(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def local_head(init: dict) -> bool:
    """Whether `ray.init(**init)` starts a new Ray on this machine rather than connecting to a running one: address
    `local`, or none with neither `RAY_ADDRESS` nor a Ray already started here (Ray's own rule)."""
    address = init.get("address")
    if address == "local":
        return True
    if address is not None:
        return False
    try:
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(None, init.get("_temp_dir")) is None  # type: ignore[arg-type]
    except Exception:  # a Ray without that helper, or an address it cannot read: not judged here
        return not os.environ.get("RAY_ADDRESS")


def _ray_cpus() -> float | None:
    try:
        from ray._private.utils import get_num_cpus

        return get_num_cpus()
    except Exception:  # pragma: no cover - a Ray without that helper
        return None


def _ray_gpus() -> float | None:
    """The GPUs a Ray started here would see (Ray's NVIDIA detection, after CUDA_VISIBLE_DEVICES); None unknown."""
    try:
        from ray._private.accelerators import get_accelerator_manager_for_resource

        manager = get_accelerator_manager_for_resource("GPU")
        if manager is None:
            return None
        count = manager.get_current_node_num_accelerators()
        visible = manager.get_current_process_visible_accelerator_ids()
        return count if visible is None else min(count, len(visible))
    except Exception:  # pragma: no cover - a Ray without those helpers
        return None


def object_store(address: Any) -> int | None:
    """`ray.init`'s object_store_memory in ablate's `hydra/launcher=ray`: Hydra's launcher gives a Ray it starts
    75 MiB, and passed that to a running cluster too, which `ray.init` refuses ("When connecting to an existing
    cluster, object_store_memory must not be provided"): so only a Ray started here gets it."""
    return LOCAL_OBJECT_STORE if local_head({"address": address}) else None


def ray_unreachable(error: BaseException, overrides: Sequence[str] = ()) -> str | None:
    """The sentence for a Ray cluster that `ray.init` cannot connect to (a ConnectionError raised inside Ray)."""
    import traceback

    if not isinstance(error, ConnectionError):
        return None
    frames = traceback.extract_tb(error.__traceback__)
    if not any(f"{os.sep}ray{os.sep}" in frame.filename for frame in frames[-3:]):
        return None
    key = f"{RAY_INIT}.address"
    typed = typed_as(key, overrides, "")
    where = typed or (f"RAY_ADDRESS={os.environ['RAY_ADDRESS']}" if os.environ.get("RAY_ADDRESS") else key)
    reason = str(error).split(". ")[0].rstrip(".")
    return (
        f"{where}: no Ray cluster can be reached there ({reason}): start it (ray start --head on its head node), or "
        f"give the address of a running one ({key}=HEAD:6379, ray://HEAD:10001, or auto for the cluster this "
        "machine belongs to), or null to start a Ray on this machine."
    )

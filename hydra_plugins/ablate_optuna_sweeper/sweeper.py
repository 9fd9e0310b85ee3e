"""A Hydra sweeper on Optuna's ask-and-tell interface (Optuna >= 4).

Each batch asks `n_jobs` trials, turns their parameters into Hydra overrides, launches them
through whatever launcher is configured (basic, joblib, submitit, ray) and tells Optuna each
job's values. A job that raised, returned nothing, NaN or a non-number is told as FAIL and the
study goes on with a new trial in its place, until more than `max_failure_rate` of `n_trials`
have failed. The study lives in a SQLite file in the sweep folder unless `storage` names a
database; a re-run with the same storage and study name resumes it: the completed trials it
holds, and those other workers are running, count toward `n_trials` (running trials left by a
killed sweep on this machine are told FAIL first). A trial that samples a design already run is
told that run's values instead of running again (`rerun_duplicates: false`). After every batch `<sweep_dir>/study.json`
lists every trial for the report. Optuna is imported only when a sweep starts.
"""

import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, ListConfig, OmegaConf

from hydra_plugins.ablate_optuna_sweeper import objectives as obj
from hydra_plugins.ablate_optuna_sweeper.errors import SweepConfigError as ConfigError, SweepError
from hydra_plugins.ablate_optuna_sweeper import search_space, storage

log = logging.getLogger(__name__)
DIRECTIONS = ("minimize", "maximize")
STUDY_RECORD = "study.json"
MAX_COPIES_IN_A_ROW = 50  # designs already run, proposed in a row: the sampler has run out of new ones


class AblateOptunaSweeper(Sweeper):
    """See `config.AblateOptunaSweeperConf` for the meaning of each argument."""

    def __init__(self, direction: Any = "minimize", objectives: Any = None, constraints: Any = (),
                 sampler: Any = None, seed: int = 0, study_name: str | None = None, storage: str | None = None,
                 n_trials: int = 20, n_jobs: int = 2, max_failure_rate: float = 0.25,
                 result_file: str = "result.json", rerun_duplicates: bool = False, params: Any = None) -> None:
        super().__init__()
        # checked in setup(): an error raised here would reach the user wrapped by hydra.utils.instantiate
        self._args = dict(direction=direction, objectives=objectives, constraints=constraints, n_trials=n_trials,
                          n_jobs=n_jobs, max_failure_rate=max_failure_rate)
        self.sampler = sampler
        self.seed = seed
        self.study_name = study_name
        self.storage_url = storage
        self.result_file = result_file
        self.rerun_duplicates = bool(rerun_duplicates)
        self.params = _plain(params) or {}
        self.config: DictConfig | None = None
        self.hydra_context = None
        self.launcher = None

    def _check_args(self, direction, objectives, constraints, n_trials, n_jobs, max_failure_rate) -> None:
        """Validate the settings, one sentence per mistake (ConfigError)."""
        self.directions = _directions(direction)
        self.objectives = None if objectives is None else [str(o) for o in _plain(objectives)]
        if self.objectives is not None and len(self.objectives) != len(self.directions):
            raise ConfigError(
                f"hydra.sweeper.objectives={self.objectives} has {len(self.objectives)} entries for "
                f"{len(self.directions)} directions: give one objective per direction."
            )
        self.constraints = [obj.Constraint.parse(c) for c in _plain(constraints or [])]
        self.n_trials = _count("n_trials", n_trials, 1)
        self.n_jobs = _count("n_jobs", n_jobs, 1)
        if isinstance(max_failure_rate, bool) or not isinstance(max_failure_rate, (int, float)) \
                or not 0.0 <= max_failure_rate <= 1.0:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={max_failure_rate!r} is invalid: "
                              "give a fraction from 0.0 to 1.0.")
        self.max_failure_rate = float(max_failure_rate)

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self._check_args(**self._args)
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)
        self.sweep_dir = Path(str(config.hydra.sweep.dir))  # resolved once: ${now:...} is read here

    # -- the loop ---------------------------------------------------------------------------------------------------

    def sweep(self, arguments: list[str]) -> list:
        """Ask, launch and tell batches until the study holds `n_trials` completed trials; returns the job returns."""
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        space = search_space.parse(self.params, arguments, self.hydra_context.config_loader)
        search_space.check_keys(space, self.config)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")

        url = self.storage_url or storage.default_url(self.sweep_dir)
        study_name = self.study_name or str(self.config.hydra.job.name)
        study = storage.load_study(storage.open_storage(url), study_name, self.directions)
        # a resumed study must not replay the samples of its first run: offset the seed by the trials it holds
        study.sampler = self._make_sampler(offset=len(study.get_trials(deepcopy=False)))
        log.info(f"Study {study_name!r} in {storage.masked(url)}: directions {self.directions}, "
                 f"sampler {type(study.sampler).__name__}, {self.n_trials} trials, {self.n_jobs} per batch.")
        _fail_stale_trials(study)

        started, tic = _now(), time.perf_counter()
        run_id = uuid.uuid4().hex  # this invocation's entry in study.json (two may start in one second)
        job_idx = _next_job_num(study, self.sweep_dir)
        launched, failed, returns = [], 0, []
        while True:
            to_go = self.n_trials - _counted(study)
            if to_go <= 0:
                break
            trials, runs, copies = self._ask_batch(study, space, to_go)
            if not runs:
                for trial, source in copies:
                    _tell_copy(study, trial, source)
                launched += [t.number for t in trials]
                log.warning(f"The sampler proposed {len(copies)} designs in a row that have run already: the search "
                            f"space seems exhausted; the study stops with {_counted(study)} of n_trials="
                            f"{self.n_trials} trials run.")
                break
            batch = [space.trial_overrides(t.params) for t in runs]
            for trial in trials:
                trial.set_user_attr("worker", _worker())
                trial.set_user_attr("sweep_dir", str(self.sweep_dir.resolve()))
            for i, trial in enumerate(runs):
                trial.set_user_attr("job_num", job_idx + i)
                trial.set_user_attr("overrides", list(batch[i]))
            if runs:
                self._validate(study, trials, batch)
                try:
                    results = self.launcher.launch(batch, initial_job_idx=job_idx)
                except Exception as e:  # the launcher lost the batch (a killed worker, a cluster error)
                    results = [_lost(e)] * len(batch)
                job_idx += len(batch)
                returns.append(results)
                for trial, result in zip(runs, results):
                    failed += not self._tell(study, trial, result)
            for trial, source in copies:
                _tell_copy(study, trial, source)
            launched += sorted(t.number for t in trials)
            self._write_record(study, url, run_id, started, time.perf_counter() - tic, launched)
            if failed > self.max_failure_rate * self.n_trials:
                raise SweepError(
                    f"{failed} of this run's {len(launched)} trials failed, more than "
                    f"hydra.sweeper.max_failure_rate={self.max_failure_rate:g} of n_trials={self.n_trials}: the study "
                    f"stops; its finished trials stay in {storage.masked(url)} (see the job logs in {self.sweep_dir})."
                )
        self._write_record(study, url, run_id, started, time.perf_counter() - tic, launched)
        _log_best(study)
        return returns

    def _make_sampler(self, offset: int = 0):
        """TPE (one direction) or NSGA-II (several), or the configured `_target_` node; seeded with
        `seed` (the node's own, else the sweeper's) plus `offset`."""
        import optuna
        from hydra.utils import instantiate

        if self.sampler is None:
            cls = optuna.samplers.TPESampler if len(self.directions) == 1 else optuna.samplers.NSGAIISampler
            return cls(seed=self.seed + offset)
        node = OmegaConf.create(_plain(self.sampler))
        seed = node.get("seed")
        node.seed = (self.seed if seed is None else seed) + offset
        return instantiate(node)

    def _ask_batch(self, study, space, to_go: int) -> tuple[list, list, list]:
        """Ask trials until `min(n_jobs, to_go)` of them need a run: the trials, those to run, and
        (trial, source) pairs for trials whose design has run already (or is in this batch), which
        are told the source's values instead of running, unless `rerun_duplicates`. Such copies do
        not count toward n_trials; after MAX_COPIES_IN_A_ROW of them the space counts as exhausted."""
        from optuna.trial import TrialState

        done = {} if self.rerun_duplicates else {
            _design(t.params): t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "copy_of" not in t.user_attrs}
        trials, runs, copies, batch = [], [], [], {}
        while len(runs) < min(self.n_jobs, to_go) and len(copies) < MAX_COPIES_IN_A_ROW:
            trial = study.ask(space.distributions)
            trials.append(trial)
            key = _design(trial.params)
            source = None if self.rerun_duplicates else done.get(key) or batch.get(key)
            if source is None:
                batch[key] = trial
                runs.append(trial)
            else:
                copies.append((trial, source))
        return trials, runs, copies

    def _validate(self, study, trials, batch) -> None:
        """Compose every member's config before launching, so a bad value fails in one sentence."""
        import optuna

        try:
            self.validate_batch_is_legal(batch)
        except Exception as e:
            for trial in trials:
                trial.set_user_attr("fail_reason", "its config could not be composed")
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            msg = " ".join(str(e).split()).rstrip(".")
            raise ConfigError(f"the trial overrides {list(batch[0])} cannot be composed: {msg}.") from None

    def _tell(self, study, trial, result) -> bool:
        """Tell one job's values (or its failure); returns whether the trial completed."""
        import optuna

        from hydra.core.utils import JobStatus

        job_dir = _job_dir(result, self.sweep_dir, trial.user_attrs.get("job_num"))
        trial.set_user_attr("job_dir", None if job_dir is None else str(job_dir))
        where = f"{self.result_file} of job {job_dir}"
        record = None
        try:
            if isinstance(result, obj.TrialFailed):
                raise result
            if result.status != JobStatus.COMPLETED:
                error = result._return_value
                raise obj.TrialFailed(f"the job raised {type(error).__name__}: {_first_line(error)}")
            record = obj.read_record(job_dir, self.result_file)
            values = obj.values(result.return_value, self.objectives, len(self.directions), record, where)
            constraints = [c.value(record, where) for c in self.constraints]
        except obj.TrialFailed as e:
            reason = str(e)
            if isinstance(record, dict) and record.get("reason"):  # the job's own account (ablate's run record)
                reason += f" ({_first_line(record['reason'])})"
            trial.set_user_attr("fail_reason", reason)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            log.warning(f"Trial {trial.number} failed: {reason}; it is recorded as failed and the study goes on.")
            return False
        for constraint, value in zip(self.constraints, constraints):
            trial.set_constraint(constraint.text, value)
        study.tell(trial, values)
        log.info(f"Trial {trial.number} {dict(trial.params)}: {values}")
        return True

    def _write_record(self, study, url: str, run_id: str, started: str, wall_seconds: float,
                      launched: list[int]) -> None:
        """`<sweep_dir>/study.json`: the study's settings, every trial, the best, and this run's wall time."""
        path = self.sweep_dir / STUDY_RECORD
        previous = _read_json(path) or {}
        runs = [r for r in previous.get("runs", []) if r.get("id") != run_id]
        runs.append({"id": run_id, "started_at": started, "wall_seconds": round(wall_seconds, 3), "trials": list(launched),
                     "worker": _worker()})
        record = {
            "study_name": study.study_name, "storage": storage.masked(url), "directions": self.directions,
            "objectives": self.objectives or [obj.RETURN] * len(self.directions),
            "constraints": [c.text for c in self.constraints], "sampler": type(study.sampler).__name__,
            "n_trials": self.n_trials, "n_jobs": self.n_jobs, "result_file": self.result_file,
            "params": {k: str(d) for k, d in _distributions(study).items()},
            "best_trials": _best_numbers(study), "runs": runs,
            "trials": [_trial_row(t) for t in study.get_trials(deepcopy=False)],
        }
        from ablate.run.record import atomic_write_json

        atomic_write_json(path, record)


# -- helpers --------------------------------------------------------------------------------------------------------

def _plain(node: Any) -> Any:
    """OmegaConf containers as plain Python."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _directions(direction: Any) -> list[str]:
    items = _plain(direction)
    items = [items] if isinstance(items, str) else list(items or [])
    if not items:
        raise ConfigError("hydra.sweeper.direction is empty: give minimize or maximize, or a list of them.")
    for d in items:
        if str(d).lower() not in DIRECTIONS:
            raise ConfigError(f"hydra.sweeper.direction={d!r} is invalid: valid directions are minimize and maximize.")
    return [str(d).lower() for d in items]


def _count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"hydra.sweeper.{name}={value!r} is invalid: give a whole number of at least {least}.")
    return value


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> str:
    from ablate.run.record import now

    return now()


def _counted(study) -> int:
    """Trials that count toward n_trials: those run to completion and those running (here or in
    another worker). A failed trial does not count: a new one replaces it, within max_failure_rate;
    nor does a copy of an earlier trial's design."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum("copy_of" not in t.user_attrs for t in study.get_trials(deepcopy=False, states=states))


def _design(params: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def _tell_copy(study, trial, source) -> None:
    """Tell `trial` the values of `source`, a finished trial of the same design (it is not run again)."""
    from optuna.trial import TrialState

    source = study.get_trials(deepcopy=False)[source.number]  # as stored, after this batch was told
    trial.set_user_attr("copy_of", source.number)
    trial.set_user_attr("job_dir", source.user_attrs.get("job_dir"))
    if source.state != TrialState.COMPLETE:
        trial.set_user_attr("fail_reason", f"the same design as trial {source.number}, which failed")
        study.tell(trial, state=TrialState.FAIL)
        return
    for key, value in source.constraints.items():
        trial.set_constraint(key, value)
    study.tell(trial, source.values)
    log.info(f"Trial {trial.number} {dict(trial.params)}: the same design as trial {source.number}, not run again: "
             f"{source.values}")


def _lost(error: Exception) -> "obj.TrialFailed":
    return obj.TrialFailed(f"the launcher lost its batch ({type(error).__name__}: {_first_line(error)})")


def _fail_stale_trials(study) -> None:
    """Tell FAIL for running trials left by a dead sweeper process on this machine (a killed run)."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if worker_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        study.tell(trial.number, state=TrialState.FAIL)
        log.warning(f"Trial {trial.number} was left running by a stopped sweep; it is recorded as failed.")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _next_job_num(study, sweep_dir: Path) -> int:
    """The first job number this sweep folder has not used (a resumed sweep keeps its folders)."""
    here = str(sweep_dir.resolve())
    used = [t.user_attrs.get("job_num", -1) for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("sweep_dir") == here]
    return max(used, default=-1) + 1


def _job_dir(result, sweep_dir: Path, job_num) -> Path | None:
    """The job's output folder: from its Hydra config, else `<sweep_dir>/<job_num>`."""
    out = OmegaConf.select(result.hydra_cfg, "hydra.runtime.output_dir") if result.hydra_cfg is not None else None
    if out:
        return Path(str(out))
    return None if job_num is None else sweep_dir / str(job_num)


def _first_line(error: Any) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__).rstrip(".")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _distributions(study) -> dict:
    """The distributions of the study's trials, by parameter name (union over trials)."""
    out: dict = {}
    for t in study.get_trials(deepcopy=False):
        out.update(t.distributions)
    return out


def _best_numbers(study) -> list[int]:
    """The best trial (one direction) or the Pareto front (several), copies of a design left out."""
    try:
        best = [study.best_trial] if len(study.directions) == 1 else study.best_trials
    except ValueError:  # no completed trial yet
        return []
    return sorted({t.user_attrs.get("copy_of", t.number) for t in best})


def _trial_row(t) -> dict:
    duration = t.duration.total_seconds() if t.duration is not None else None
    return {"number": t.number, "state": t.state.name, "values": t.values, "params": t.params,
            "constraints": dict(t.constraints),
            "user_attrs": t.user_attrs, "seconds": duration,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None}


def _log_best(study) -> None:
    best = _best_numbers(study)
    if not best:
        log.warning("No trial completed.")
        return
    for number in best:
        t = study.trials[number]
        log.info(f"Best trial {t.number}: values {t.values}, params {t.params}")

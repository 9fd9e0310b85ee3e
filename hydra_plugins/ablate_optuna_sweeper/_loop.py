"""One run of the sweeper over a study: ask, launch, tell, until the study holds `n_trials` trials that ran.

Scheduling. With `asynchronous` (every launcher but basic), `n_jobs` threads each ask a trial,
launch it as a one-job batch and tell its values, so a new trial starts as soon as one ends and
no slot waits for the slowest member of a batch. On the basic launcher, which runs jobs one at a
time in this process (it sets Hydra's global job config and logging per job, so it cannot run
from several threads), `n_jobs` trials are asked and launched as one batch.

Counting. Trials that completed, were pruned or are running (here or in another worker sharing
the study) count toward `n_trials`; a failed trial does not: a new one takes its place, until
more than `max_failure_rate` of `n_trials` have failed in this run.

Repeats. With a repeat key (`seed=0,1,2` on ablate's app), a trial is its design run once per value: jobs with
consecutive numbers, run one after another in its slot (on the basic launcher, each repeat of the batch's trials
as one batch), told the mean of their values. A repeat that does not complete (pruned, failed) ends the trial: the
pruner judges the first repeat, the one whose per-epoch values the trial holds.

Duplicates. A trial that samples the design of a finished trial is told that trial's values
without running; one that samples a design running now (here, or in another worker) waits for
that trial and is then told its values. Neither counts; after `MAX_COPIES_IN_A_ROW` such trials in
a row the search space counts as used up.

Faults. This run's heartbeat thread beats for its running trials; before each ask, trials whose
heartbeat stopped are failed and queued again (Optuna's heartbeat and retry callback), and at the
start, running trials of a stopped sweeper on this machine are too. A retried trial runs in its original's
folder (the same job number), where its job resumes from that folder's checkpoint. If this run itself stops on
an error or Ctrl-C, it tells FAIL for every trial it still holds, so none is left RUNNING, and queues those that
were running again.

After every trial `<sweep_dir>/study.json` lists every trial for the report; at the end
`<sweep_dir>/optimization_results.yaml` holds the best parameters and value (the Pareto front
for several objectives), as the official Optuna sweeper writes it.
"""

import contextlib
import datetime
import json
import logging
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hydra_plugins.ablate_optuna_sweeper import _objectives as obj
from hydra_plugins.ablate_optuna_sweeper import _storage as storage
from hydra_plugins.ablate_optuna_sweeper._errors import SweepConfigError as ConfigError
from hydra_plugins.ablate_optuna_sweeper._errors import SweepError

log = logging.getLogger("hydra_plugins.ablate_optuna_sweeper.sweeper")
STUDY_RECORD = "study.json"
RESULTS = "optimization_results.yaml"
MAX_COPIES_IN_A_ROW = 50  # designs already run, proposed in a row: the sampler has run out of new ones
WAIT_S = 1.0  # how often the end of a run looks at trials another worker is running
SETUP_WAIT_S = 2.0  # the longest wait for an earlier trial that another worker is still giving its parameters
RECORD_EVERY_S = 1.0  # study.json is rewritten after a trial ends, at most this often (and at the end)
_ACTIVE_RUNS: set[str] = set()  # the runs alive in this process: a trial of any other one is stale
_RESET = (  # a retried trial's old ones
    "copy_of",
    "fail_reason",
    "job_dir",
    "job_dirs",
    "repeat_values",
    "status",
    "complexity",
    "prune_trial",
)
_OUTCOME = ("job_dir", "job_dirs", "repeat_values", "status", "complexity")  # what a copy takes from its source


class Search:
    """The state of one run: the trials it holds, its job numbers, failures and copies waiting for a source."""

    def __init__(self, sweeper, study, rdb, space, url: str, n_trials: int, custom, prune_study=None) -> None:
        self.s = sweeper
        self.study, self.rdb, self.space, self.url = study, rdb, space, url
        self.n_trials, self.custom, self.prune_study = n_trials, custom, prune_study
        self.sweep_dir: Path = sweeper.sweep_dir
        self.lock = threading.RLock()
        self.compose_lock = threading.Lock()
        self.run_id = uuid.uuid4().hex
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.job_idx = _next_job_num(study, self.sweep_dir)
        self.job_nums: dict[int, int] = {}  # trial number -> job number, for the trials this run launches
        self.written = -float("inf")
        self.validated = False  # a slot has composed a trial's config
        self.held: dict[int, Any] = {}  # trial number -> Trial this run asked and has not told yet
        self.started: set[int] = set()  # numbers of held trials whose job was launched
        self.pending: dict[int, tuple[Any, int]] = {}  # copy's number -> (copy, number of the trial it waits for)
        self.launched: list[int] = []  # the trials this run told, copies included
        self.failed = 0
        self.last_failure: tuple[int, str] | None = None
        self.copies_in_a_row = 0
        self.stopping = False
        self.interrupted = False  # Ctrl-C: the slots tell nothing more
        self.error: BaseException | None = None
        self.failure_stop = False  # self.error is the stop for too many failures
        self.started_at, self.tic = _now(), time.perf_counter()
        self._ids: dict[tuple[str, int], int] = {}

    # -- the run ----------------------------------------------------------------------------------------------

    def run(self) -> None:
        _quiet_optuna()
        _ACTIVE_RUNS.add(self.run_id)
        beat = _Heartbeat(self) if self.s.heartbeat_interval else None
        try:
            self._fail_stopped_workers()
            if beat:
                beat.start()
            if self.s.asynchronous:
                _prepare_launcher(self.s.launcher)
                self._run_slots()
            else:
                self._run_batches()
            if self.error is not None:  # a slot's error, too many failures, a config that cannot be composed
                raise self.error
            self._finish_copies()
        except BaseException as e:
            self._abandon(e)
            raise
        finally:
            if beat:
                beat.stop()
            _ACTIVE_RUNS.discard(self.run_id)
            with self.lock:
                self._write_record()
        write_results(self.study, self.sweep_dir / RESULTS, self.space)
        _log_best(self.study)

    def _run_batches(self) -> None:
        """Ask up to n_jobs trials, launch them as one batch, tell each; again until done."""
        while not self.stopping:
            with self.lock:
                trials: list = []
                while len(trials) < self.s.n_jobs and self._to_go() > 0:
                    trial = self._propose()
                    if trial is None:
                        break
                    trials.append(trial)
            if not trials:
                break
            for trial in trials:
                self._label(trial)
            jobs = {t.number: self._jobs(t) for t in trials}
            if not self._validate(trials, [jobs[t.number][0][0] for t in trials]):
                break
            self.started.update(t.number for t in trials)
            # the first repeat of every trial, then the next of those whose last completed (not pruned, not failed)
            outcomes: dict[int, list] = {t.number: [] for t in trials}
            going = list(trials)
            for i in range(len(jobs[trials[0].number])):
                for t, outcome in zip(going, self._launch([jobs[t.number][i] for t in going]), strict=True):
                    outcomes[t.number].append(outcome)
                going = [t for t in going if outcomes[t.number][-1][0] == "COMPLETE"]
            for trial in trials:
                self._tell(trial, outcomes[trial.number])

    def _run_slots(self) -> None:
        """n_jobs threads, each: ask a trial, launch it alone, tell it; again until done."""
        threads = [
            threading.Thread(target=self._slot, name=f"ablate-optuna-slot-{i}", daemon=True)
            for i in range(self.s.n_jobs)
        ]
        with _launcher_quiet(self.s.launcher):
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    while thread.is_alive():
                        thread.join(0.5)  # a short join lets Ctrl-C reach this thread
            except KeyboardInterrupt:  # the jobs got it too: let them record where they stopped (a second one leaves)
                with self.lock:
                    self.interrupted = self.stopping = True
                from ablate.run.interrupt import GRACE_S  # the same wait as a grid's on the joblib launcher

                log.info(
                    f"Interrupted: waiting up to {GRACE_S:.0f} s for the running jobs to record where they stopped "
                    "(Ctrl-C again leaves now)."
                )
                deadline = time.monotonic() + GRACE_S
                for thread in threads:
                    thread.join(max(0.0, deadline - time.monotonic()))
                raise

    def _slot(self) -> None:
        try:
            while True:
                with self.lock:
                    if self.stopping or self._to_go() <= 0:
                        return
                    trial = self._propose()
                    if trial is None:
                        return
                self._label(trial)
                jobs = self._jobs(trial)
                if not self.validated and not self._validate([trial], [jobs[0][0]]):
                    return
                self.validated = True
                self.started.add(trial.number)
                log.info(f"Trial {trial.number} starts as {_jobs_text(jobs, self.space)}: {dict(trial.params)}")
                outcomes: list = []
                for job in jobs:  # the repeats one after another; a job that did not complete ends the trial
                    outcomes += self._launch([job])
                    if self.interrupted or outcomes[-1][0] != "COMPLETE":
                        break
                if self.interrupted:  # the main thread fails the trial and queues it again (`_abandon`)
                    return
                self._tell(trial, outcomes)
        except BaseException as e:  # raised again in the main thread once every slot has stopped
            with self.lock:
                self.error = self.error or e
                self.stopping = True

    # -- asking -----------------------------------------------------------------------------------------------

    def _to_go(self) -> int:
        """Trials still to ask for. Trials whose heartbeat stopped are failed (and queued again) first: they do not
        count."""
        import optuna

        optuna.storages.fail_stale_trials(self.study)
        return self.n_trials - _counted(self.study)

    def _propose(self):
        """A trial to run (its job number chosen), or None when the space seems used up. Trials that repeat a
        design are told (or wait for) their source's values here. Holds the lock: what another slot must see
        before it asks (the trial, its parameters) is in storage when this returns; `_label` writes the rest."""
        while True:
            if self.copies_in_a_row >= MAX_COPIES_IN_A_ROW:
                log.warning(
                    f"The sampler proposed {self.copies_in_a_row} designs in a row that have run already: "
                    f"the search space seems exhausted; the study stops with {_counted(self.study)} of "
                    f"n_trials={self.s.n_trials} trials run."
                )
                self.stopping = True
                return None
            trial = self._ask()
            source = None if self.s.rerun_duplicates else self._source(trial)
            if source is None:
                self.copies_in_a_row = 0
                self.job_nums[trial.number] = self._job_num(trial)
                return trial
            self.copies_in_a_row += 1
            self._label(trial, run=False)
            trial.set_user_attr("copy_of", source.number)
            trial.set_user_attr("job_dir", source.user_attrs.get("job_dir"))
            if source.state.is_finished():
                self._tell_copy(trial, source)
            else:
                self.pending[trial.number] = (trial, source.number)

    def _launch(self, jobs: list[tuple[tuple[str, ...], int]]) -> list:
        """Launch (overrides, job number) pairs; returns their outcomes (`_outcome`) in order. Jobs of consecutive
        numbers go in one launch (a launcher numbers a launch's jobs from its first); a launch the launcher lost
        gives each of its jobs a failure."""
        results: list = []
        start = 0
        for end in range(1, len(jobs) + 1):
            if end < len(jobs) and jobs[end][1] == jobs[end - 1][1] + 1:
                continue
            run = jobs[start:end]
            try:
                got = list(self.s.launcher.launch([o for o, _ in run], initial_job_idx=run[0][1]))
            except Exception as e:  # the launcher lost the batch (a killed worker, a cluster error)
                got = [_lost(e)] * len(run)
            results += [self._outcome(result, num) for result, (_, num) in zip(got, run, strict=True)]
            start = end
        return results

    def _job_num(self, trial) -> int:
        """The job number (and so the run folder) of a trial about to run: a retry (of a trial a killed or
        interrupted sweep left, or whose heartbeat stopped) keeps the retried trial's, whose user attributes it
        carries, so its job resumes what the stopped one left in the folder and no folder stays behind without an
        end; a new trial takes the next unused number."""
        inherited = trial.user_attrs.get("job_num")
        if isinstance(inherited, int) and trial.user_attrs.get("sweep_dir") == str(self.sweep_dir.resolve()):
            return inherited
        self.job_idx += len(self.space.repeats) or 1  # one number per repeat
        return self.job_idx - (len(self.space.repeats) or 1)

    def _ask(self):
        """A new trial (or a queued retry), held by this run, with the search space's parameters suggested."""
        since = time.time()
        try:
            trial = self.study.ask()
        except BaseException as e:  # the sampler failed while making the trial: do not leave it RUNNING
            self._fail_orphans(since, e)
            raise
        self.held[trial.number] = trial
        for name, distribution in self.space.distributions.items():
            _suggest(trial, name, distribution)
        if self.custom is not None:
            self.custom(self.s.config, trial)
        return trial

    def _source(self, trial):
        return source_of(self.study, trial)

    def _label(self, trial, run: bool = True) -> None:
        """Write what users and other workers read about a trial of this run: its heartbeat, worker, sweep folder;
        for one that runs, its job number, overrides and its trial in the pruning study. A retried trial's old
        values go. Outside the lock: these writes need no order among the slots."""
        self._beat(trial)
        stale = {key: None for key in _RESET if trial.user_attrs.get(key) is not None}
        attrs: dict[str, Any] = {
            **stale,
            "worker": self.worker,
            "sweep_run": self.run_id,
            "sweep_dir": str(self.sweep_dir.resolve()),
        }
        if run:
            attrs.update(job_num=self.job_nums[trial.number], overrides=list(self.space.trial_overrides(trial.params)))
            if self.space.repeat_key is not None:
                attrs["repeats"] = list(self.space.repeats)
            if self.prune_study is not None:
                shadow = self.prune_study.ask()
                attrs["prune_trial"] = shadow.number
                with self.lock:
                    self.held[-1 - shadow.number] = shadow  # negative keys: trials of the pruning study
        for key, value in attrs.items():
            trial.set_user_attr(key, value)

    def _jobs(self, trial) -> list[tuple[tuple[str, ...], int]]:
        """The trial's jobs, (overrides, job number) each: its parameters (and repeat), the first job then where
        its per-epoch values go (`hydra.sweeper.trial`): the pruner judges the trial on its first repeat."""
        target = self._prune_target(trial)
        extra: tuple[str, ...] = ()
        if target is not None:
            items = ",".join(f"{k}:{_quote(v) if isinstance(v, str) else v}" for k, v in target.items())
            extra = (f"hydra.sweeper.trial={{{items}}}",)
        first = self.job_nums[trial.number]
        return [
            ((*overrides, *extra) if i == 0 else overrides, first + i)
            for i, overrides in enumerate(self.space.job_overrides(trial.params))
        ]

    def _prune_target(self, trial) -> dict | None:
        if self.prune_study is not None:
            return {
                "study_name": self.prune_study.study_name,
                "storage": self.url,
                "trial_number": trial.user_attrs["prune_trial"],
            }
        if len(self.study.directions) == 1:
            return {"study_name": self.study.study_name, "storage": self.url, "trial_number": trial.number}
        return None

    def _validate(self, trials, batch) -> bool:
        """Compose every member's config before launching, so a bad key or value fails in one sentence. The slots
        compose the first trial of a run only: a launcher that runs jobs elsewhere composes each again, and a value
        that cannot be composed fails that trial with the launcher's error."""
        try:
            with self.compose_lock:
                self.s.validate_batch_is_legal(batch)
        except Exception as e:
            msg = " ".join(str(e).split()).rstrip(".")
            with self.lock:
                for trial in trials:
                    self._finish(trial, "FAIL", reason="its config could not be composed")
                self.error = self.error or ConfigError(
                    f"the trial overrides {list(self.space.trial_overrides(trials[0].params))} cannot be composed: "
                    f"{msg}."
                )
                self.stopping = True
            return False
        return True

    # -- telling ----------------------------------------------------------------------------------------------

    def _tell(self, trial, outcomes: list) -> None:
        """Tell the outcome of the trial's jobs (`_outcome` each): their values, PRUNED, or FAIL with the reason;
        then what depends on it (copies waiting for it, the failure count, study.json) under the lock."""
        state, values, constraints, attrs, reason = self._combined(outcomes)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if state == "COMPLETE":
            for constraint, value in zip(self.s.constraints, constraints, strict=True):
                trial.set_constraint(constraint.text, value)
            log.info(f"Trial {trial.number} {dict(trial.params)}: {values}{_repeats_text(attrs, self.space)}")
        elif state == "PRUNED":
            log.info(f"Trial {trial.number} {dict(trial.params)}: pruned")
        else:
            log.warning(f"Trial {trial.number} failed: {reason}; it is recorded as failed and the study goes on.")
        self._store(trial, state, values, reason)
        with self.lock:
            self._forget(trial)
            if state == "FAIL":
                self.failed += 1
                self.last_failure = (trial.number, reason)
            self._resolve_copies()
            self._check_failures()
            self._write_record(every=RECORD_EVERY_S)

    def _combined(self, outcomes: list):
        """(state, values, constraint values, user attrs, reason) of a trial from its jobs' outcomes: one job's as
        it is; of several repeats, the first that failed or was pruned, else the mean of their values and the
        largest of each constraint."""
        if self.space.repeat_key is None:
            return outcomes[0]
        key = self.space.repeat_key
        dirs = [o[3].get("job_dir") for o in outcomes]
        for (state, _, _, attrs, reason), value in zip(outcomes, self.space.repeats, strict=False):
            if state != "COMPLETE":
                reason = None if reason is None else f"{key}={value}: {reason}"
                extra = {"fail_reason": reason} if reason is not None else {}
                return state, None, [], {**outcomes[0][3], **attrs, **extra, "job_dirs": dirs}, reason
        per_job = [o[1] for o in outcomes]
        values = [sum(v[i] for v in per_job) / len(per_job) for i in range(len(per_job[0]))]
        constraints = [max(o[2][i] for o in outcomes) for i in range(len(outcomes[0][2]))]
        attrs = {**outcomes[0][3], "job_dirs": dirs, "repeat_values": per_job}
        return "COMPLETE", values, constraints, attrs, None

    def _outcome(self, result, job_num):
        """(state, values, constraint values, user attrs, reason) of one job."""
        from hydra.core.utils import JobStatus

        job_dir = _job_dir(result, self.sweep_dir, job_num)
        where = f"{self.s.result_file} of job {job_dir}"
        record = obj.read_record(job_dir, self.s.result_file) if not isinstance(result, obj.TrialFailed) else None
        attrs: dict = {"job_dir": None if job_dir is None else str(job_dir)}
        complexity = obj.lookup_or_none(record, "model.complexity")
        if isinstance(complexity, dict):
            attrs["complexity"] = complexity
        status = record.get("status") if isinstance(record, dict) else None
        try:
            if isinstance(result, obj.TrialFailed):
                raise result
            if result.status != JobStatus.COMPLETED:
                error = result._return_value
                if type(error).__name__ == "TrialPruned":
                    return "PRUNED", None, [], {**attrs, "status": "pruned"}, None
                raise obj.TrialFailed(f"the job raised {type(error).__name__}: {_first_line(error)}")
            if status == "pruned":
                return "PRUNED", None, [], {**attrs, "status": "pruned"}, None
            values = obj.values(result.return_value, self.s.objectives, len(self.s.directions), record, where)
            constraints = [c.value(record, where) for c in self.s.constraints]
        except obj.TrialFailed as e:
            reason = str(e)
            if isinstance(record, dict) and record.get("reason"):  # the job's own account (ablate's run record)
                reason += f" ({_first_line(record['reason'])})"
            return "FAIL", None, [], {**attrs, "status": status or "failed", "fail_reason": reason}, reason
        return "COMPLETE", values, constraints, {**attrs, "status": status or "completed"}, None

    def _finish(self, trial, state: str, values=None, reason: str | None = None) -> None:
        """Tell `trial` `state` and stop holding it. Holds the lock."""
        self._store(trial, state, values, reason)
        self._forget(trial)

    def _store(self, trial, state: str, values=None, reason: str | None = None) -> None:
        """Tell `trial` (and its trial in the pruning study) `state` in storage."""
        from optuna.trial import TrialState

        if reason is not None and trial.user_attrs.get("fail_reason") is None:
            trial.set_user_attr("fail_reason", reason)
        _tell(self.study, trial, TrialState[state], values)
        shadow_number = trial.user_attrs.get("prune_trial")
        shadow = self.held.get(-1 - shadow_number) if shadow_number is not None else None
        if shadow is not None:
            index = self.s.prune_index
            _tell(self.prune_study, shadow, TrialState[state], None if values is None else [values[index]])

    def _forget(self, trial) -> None:
        """`trial` is told: it is this run's, no longer held. Holds the lock."""
        self.launched.append(trial.number)
        self.held.pop(trial.number, None)
        self.started.discard(trial.number)
        shadow_number = trial.user_attrs.get("prune_trial")
        if shadow_number is not None:
            self.held.pop(-1 - shadow_number, None)

    def _tell_copy(self, trial, source) -> None:
        """Tell `trial` the outcome of `source`, a finished trial of the same design (it is not run again)."""
        from optuna.trial import TrialState

        for key in _OUTCOME:
            if source.user_attrs.get(key) is not None:
                trial.set_user_attr(key, source.user_attrs[key])
        if source.state == TrialState.COMPLETE:
            for key, value in source.constraints.items():
                trial.set_constraint(key, value)
            self._finish(trial, "COMPLETE", source.values)
            log.info(
                f"Trial {trial.number} {dict(trial.params)}: the same design as trial {source.number}, "
                f"not run again: {source.values}"
            )
        elif source.state == TrialState.PRUNED:
            if len(self.study.directions) == 1:  # its curve, so that its value is the source's (Optuna's rule)
                for step, value in sorted(source.intermediate_values.items()):
                    trial.report(value, step)
            self._finish(trial, "PRUNED")
            last = max(source.intermediate_values, default=None)
            where = "" if last is None else f" after step {last} at {source.intermediate_values[last]:.4g}"
            log.info(
                f"Trial {trial.number} {dict(trial.params)}: the same design as trial {source.number}, "
                f"not run again: pruned{where}"
            )
        else:
            self._finish(trial, "FAIL", reason=f"the same design as trial {source.number}, which failed")

    def _resolve_copies(self) -> bool:
        """Tell every waiting copy whose source has finished; returns whether copies still wait."""
        if not self.pending:
            return False
        trials = self.study.get_trials(deepcopy=False)
        for number, (copy, source_number) in list(self.pending.items()):
            if trials[source_number].state.is_finished():
                del self.pending[number]
                self._tell_copy(copy, trials[source_number])
        return bool(self.pending)

    def _finish_copies(self) -> None:
        """Copies still wait for trials other workers are running: wait for those (their heartbeat fails them
        if their worker dies); without heartbeats, tell the copies FAIL instead of waiting without end."""
        import optuna

        while True:
            with self.lock:
                if not self._resolve_copies():
                    return
                if not self.s.heartbeat_interval:
                    for number, (copy, source) in list(self.pending.items()):
                        del self.pending[number]
                        self._finish(
                            copy,
                            "FAIL",
                            reason=f"the same design as trial {source}, which another "
                            "worker was still running when this sweep ended",
                        )
                    return
                optuna.storages.fail_stale_trials(self.study)
            time.sleep(WAIT_S)

    def _check_failures(self) -> None:
        rate, n = self.s.max_failure_rate, self.s.n_trials
        if rate >= 1.0:
            if self.failed > n and not self.stopping:
                log.warning(
                    f"{self.failed} trials failed in this run, more than n_trials={n}: the sweep ends "
                    "(hydra.sweeper.max_failure_rate=1.0 makes failures no error)."
                )
                self.stopping = True
            return
        if self.failed > rate * n and (self.error is None or self.failure_stop):
            # written again at each later failure of the run (a batch's other trials end after the stop), so that
            # the sentence counts them all and names the last
            self.failure_stop = True
            number, reason = self.last_failure or (None, "")
            self.error = SweepError(
                f"{self.failed} of this run's {len(self.launched)} trials failed, more than "
                f"hydra.sweeper.max_failure_rate={rate:g} of n_trials={n}: the study stops; its finished trials stay "
                f"in {storage.masked(self.url)} (see the job logs in {self.sweep_dir}); the last failure, trial "
                f"{number}: {reason}."
            )
            self.stopping = True

    # -- faults -----------------------------------------------------------------------------------------------

    def _abandon(self, error: BaseException) -> None:
        """This run stops on `error` (Ctrl-C, a lost storage, a bug): tell FAIL for every trial it holds, so that none
        stays RUNNING, and queue those that were running again (`max_retry` times): the trials were not at fault,
        and the next run resumes each in its folder (`_job_num`), as a basic sweep resumes its members."""
        what = type(error).__name__ + (f": {_first_line(error)}" if str(error).strip() else "")
        retry = storage.retry_callback(self.s.max_retry)
        with self.lock:
            for number, trial in list(self.held.items()):
                if number < 0:
                    continue
                when = "while the trial ran" if number in self.started else "before the trial ran"
                if number in self.pending:
                    when = f"while the trial waited for trial {self.pending[number][1]}"
                try:  # the storage may be gone: nothing here may hide `error`
                    again = number in self.started and number not in self.pending and self._retries_left(number)
                    self._finish(
                        trial, "FAIL", reason=f"the sweep stopped {when}: {what}" + ("; queued again" if again else "")
                    )
                    if again:
                        retry(self.study, self.study.get_trials(deepcopy=False)[number])
                except Exception:  # already finished by another worker, or the storage is gone
                    pass
            self.pending.clear()

    def _retries_left(self, number: int) -> bool:
        """Whether Optuna's retry callback would queue trial `number` again (`max_retry` counts its retries)."""
        history = self.study.get_trials(deepcopy=False)[number].system_attrs.get("retry_history", [])
        return self.s.max_retry is None or len(history) < self.s.max_retry

    def _fail_orphans(self, since: float, error: BaseException) -> None:
        """A trial the sampler failed to make is in storage, RUNNING, and no one holds it: fail it."""
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if (
                t.number not in self.held
                and "worker" not in t.user_attrs
                and t.datetime_start
                and t.datetime_start.timestamp() >= since - 1
            ):
                self.study.tell(t.number, state=TrialState.FAIL)
                log.warning(f"Trial {t.number} failed: the sampler raised {type(error).__name__} while making it.")

    def _fail_stopped_workers(self) -> None:
        """Running trials of a sweeper on this machine that stopped (killed, or crashed in this process) are failed
        and queued again with their parameters (`max_retry` times); a new ask picks them up."""
        from optuna.trial import TrialState

        from ablate.run.lock import running

        host = socket.gethostname()
        retry = storage.retry_callback(self.s.max_retry)
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker_host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
            if worker_host != host or not pid.isdigit():
                continue
            mine = int(pid) == os.getpid()
            if (mine and trial.user_attrs.get("sweep_run") in _ACTIVE_RUNS) or (not mine and running(int(pid))):
                continue
            trial_id = self._trial_id(self.study, trial.number)
            self.rdb.set_trial_user_attr(
                trial_id, "fail_reason", f"left running by a sweep that stopped ({worker_host}:{pid})"
            )
            try:
                self.study.tell(trial.number, state=TrialState.FAIL)
            except Exception:  # another worker failed it first
                continue
            retry(self.study, self.study.get_trials(deepcopy=False)[trial.number])
            log.warning(
                f"Trial {trial.number} was left running by a stopped sweep; it is recorded as failed"
                + (" and queued again." if trial.user_attrs.get("copy_of") is None else ".")
            )

    def _trial_id(self, study, number: int) -> int:
        key = (study.study_name, number)
        if key not in self._ids:
            study_id = self.rdb.get_study_id_from_name(study.study_name)
            self._ids[key] = self.rdb.get_trial_id_from_study_id_trial_number(study_id, number)
        return self._ids[key]

    def _beat(self, trial) -> None:
        if self.s.heartbeat_interval:
            self.rdb.record_heartbeat(self._trial_id(self.study, trial.number))

    # -- records ----------------------------------------------------------------------------------------------

    def _write_record(self, every: float = 0.0) -> None:
        """`<sweep_dir>/study.json`: the study's settings, every trial, the best, and this run's wall time; not
        again within `every` seconds of the last write (the run's end always writes). Holds the lock."""
        if time.perf_counter() - self.written < every:
            return
        self.written = time.perf_counter()
        s = self.s
        path = self.sweep_dir / STUDY_RECORD
        previous = _read_json(path) or {}
        runs = [r for r in previous.get("runs", []) if r.get("id") != self.run_id]
        runs.append(
            {
                "id": self.run_id,
                "started_at": self.started_at,
                "wall_seconds": round(time.perf_counter() - self.tic, 3),
                "trials": sorted(self.launched),
                "worker": self.worker,
            }
        )
        record = {
            "study_name": self.study.study_name,
            "storage": storage.masked(self.url),
            "directions": s.directions,
            "objectives": s.objectives or [obj.RETURN] * len(s.directions),
            "constraints": [c.text for c in s.constraints],
            "sampler": type(self.study.sampler).__name__,
            "pruner": type(self.study.pruner).__name__ if s.pruner_node is not None else None,
            "n_trials": s.n_trials,
            "n_jobs": s.n_jobs,
            "asynchronous": s.asynchronous,
            "result_file": s.result_file,
            "params": {k: str(d) for k, d in _distributions(self.study).items()},
            "repeats": {"key": self.space.repeat_key, "values": self.space.repeats} if self.space.repeat_key else None,
            "best_trials": _best_numbers(self.study),
            "runs": runs,
            "trials": [_trial_row(t) for t in self.study.get_trials(deepcopy=False)],
        }
        from ablate.run.record import atomic_write_json

        atomic_write_json(path, record)


class _Heartbeat:
    """A thread that records a heartbeat for every trial the run holds, each `heartbeat_interval` seconds."""

    def __init__(self, search: Search) -> None:
        self.search = search
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="ablate-optuna-heartbeat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _loop(self) -> None:
        search = self.search
        while not self.done.wait(search.s.heartbeat_interval):
            with search.lock:
                held = [(search.prune_study if n < 0 else search.study, t.number) for n, t in search.held.items()]
            for study, number in held:
                try:
                    search.rdb.record_heartbeat(search._trial_id(study, number))
                except Exception as e:  # a lost connection: the next beat tries again
                    log.debug(f"heartbeat of trial {number} failed: {e}")


# -- helpers --------------------------------------------------------------------------------------------------------


def _quiet_optuna() -> None:
    """Ask-and-tell with a heartbeat storage is what this sweeper means to do: Optuna's warnings say otherwise."""
    import optuna

    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    warnings.filterwarnings(
        "ignore",
        category=optuna.exceptions.ExperimentalWarning,
        message=".*(fail_stale_trials|RetryHeartbeatStaleTrialCallback).*",
    )


@contextlib.contextmanager
def _launcher_quiet(launcher) -> Iterator[None]:
    """Each trial of the slots is a launch of its own, and a launcher's INFO lines for a launch (joblib's: its pool,
    the sweep folder, the job numbered #0 within the launch) would come three to a trial, saying nothing the
    slot's one line does not; its warnings and errors still show."""
    package = logging.getLogger(type(launcher).__module__.rsplit(".", 1)[0])  # hydra_plugins.hydra_joblib_launcher
    level = package.level
    package.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        package.setLevel(level)


def _prepare_launcher(launcher) -> None:
    """Ray's launcher starts Ray in its first launch; two slots launching at once would both start it."""
    if type(launcher).__name__ == "RayLauncher":
        from hydra_plugins.hydra_ray_launcher._launcher_util import start_ray

        launcher.ray_cfg.init.setdefault("object_store_memory", 78643200)  # as the launcher's own launch() sets
        start_ray(launcher.ray_cfg.init)


def _suggest(trial, name: str, d) -> None:
    """Suggest `name` from distribution `d` through Trial's public methods."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(d, CategoricalDistribution):
        trial.suggest_categorical(name, d.choices)
    elif isinstance(d, IntDistribution):
        trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    else:
        trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


def _tell(study, trial, state, values) -> None:
    """study.tell; GridSampler's `study.stop()` when its grid is used up raises outside `optimize` (after the trial
    is stored): the loop ends on its own count, so that error is dropped."""
    try:
        study.tell(trial, values=values, state=state)
    except RuntimeError as e:
        if "Study.stop" not in str(e):
            raise


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _now() -> str:
    from ablate.run.record import now

    return now()


def _counted(study) -> int:
    """Trials that count toward n_trials: those run to completion, pruned, or running (here or in another
    worker). A failed trial does not count: a new one replaces it, within max_failure_rate; nor does a copy
    of another trial's design."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(t.user_attrs.get("copy_of") is None for t in study.get_trials(deepcopy=False, states=states))


def source_of(study, trial, wait_s: float = SETUP_WAIT_S):
    """A trial that ran the design `trial` sampled, or one running it that was asked earlier, or None; finished
    ones first. Only earlier running trials count, so that two workers asking the same design at once never wait
    for each other: the later one waits. Optuna stores a trial before its parameters, one at a time: an earlier
    running trial whose parameters so far agree with this one's, but are fewer, may be this design in another
    worker's hands, so it is looked at again (for up to `wait_s`: a worker that died there leaves it so), if it
    started within `wait_s` (an older one is a design of fewer parameters, in a conditional search space)."""
    from optuna.trial import TrialState

    design = _design(trial.params)
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    deadline = time.monotonic() + wait_s
    while True:
        earlier = [
            t
            for t in study.get_trials(deepcopy=False, states=states)
            if t.number != trial.number
            and t.user_attrs.get("copy_of") is None
            and (t.state.is_finished() or t.number < trial.number)
        ]
        same = [t for t in earlier if _design(t.params) == design]
        fresh = datetime.datetime.now() - datetime.timedelta(seconds=wait_s)  # Optuna's local start times
        unfinished = [
            t
            for t in earlier
            if t.state == TrialState.RUNNING
            and len(t.params) < len(trial.params)
            and set(_design(t.params)) <= set(design)
            and (t.datetime_start is None or t.datetime_start >= fresh)  # older: a design of fewer parameters
        ]
        if same or not unfinished or time.monotonic() >= deadline:
            finished = [t for t in same if t.state.is_finished()]
            return (finished or same or [None])[0]
        time.sleep(0.05)


def _design(params: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def _lost(error: Exception) -> "obj.TrialFailed":
    return obj.TrialFailed(f"the launcher lost its job ({type(error).__name__}: {_first_line(error)})")


def _next_job_num(study, sweep_dir: Path) -> int:
    """The first job number this sweep folder has not used (a resumed sweep keeps its folders); a trial with
    repeats used one number per repeat."""
    here = str(sweep_dir.resolve())
    last = [
        t.user_attrs["job_num"] + len(t.user_attrs.get("repeats") or [None]) - 1
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("sweep_dir") == here and isinstance(t.user_attrs.get("job_num"), int)
    ]
    return max(last, default=-1) + 1


def _jobs_text(jobs: list, space) -> str:
    """`job 4`, or with repeats `jobs 4-6 (seed=0,1,2)` (one repeat: `job 4 (seed=1)`)."""
    numbers = f"job {jobs[0][1]}" if len(jobs) == 1 else f"jobs {jobs[0][1]}-{jobs[-1][1]}"
    return numbers if space.repeat_key is None else f"{numbers} ({space.repeat_key}={','.join(space.repeats)})"


def _repeats_text(attrs: dict, space) -> str:
    """` (the mean of seed=0: [10.1], seed=1: [10.3])` for a trial with repeats, else nothing."""
    per_job = attrs.get("repeat_values")
    if not per_job or space.repeat_key is None:
        return ""
    parts = [f"{space.repeat_key}={v}: {values}" for v, values in zip(space.repeats, per_job, strict=False)]
    return f" (the mean of {', '.join(parts)})"


def _job_dir(result, sweep_dir: Path, job_num) -> Path | None:
    """The job's output folder: from its Hydra config, else `<sweep_dir>/<job_num>`."""
    cfg = getattr(result, "hydra_cfg", None)
    out = OmegaConf.select(cfg, "hydra.runtime.output_dir") if cfg is not None else None
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


def _best(study) -> list:
    """The best trial (one direction) or the Pareto front (several), each copy replaced by the trial it copies."""
    try:
        best = [study.best_trial] if len(study.directions) == 1 else study.best_trials
    except ValueError:  # no completed trial yet
        return []
    trials = study.get_trials(deepcopy=False)
    numbers = sorted(
        {t.user_attrs.get("copy_of") if t.user_attrs.get("copy_of") is not None else t.number for t in best}
    )
    return [trials[n] for n in numbers]


def _best_numbers(study) -> list[int]:
    return [t.number for t in _best(study)]


def write_results(study, path: Path, space=None) -> None:
    """`optimization_results.yaml` as the official sweeper writes it: `best_params` and `best_value` (one
    objective) or `solutions`, each with `params` and `values` (the Pareto front); the trial numbers beside, and
    with repeats (`space.repeat_key`) the seeds whose mean each value is."""
    best = _best(study)
    if len(study.directions) == 1:
        t = best[0] if best else None
        results = {
            "name": "optuna",
            "best_params": t.params if t else None,
            "best_value": t.value if t else None,
            "best_trial": t.number if t else None,
        }
    else:
        results = {
            "name": "optuna",
            "solutions": [{"params": t.params, "values": t.values, "trial": t.number} for t in best],
        }
    if space is not None and space.repeat_key is not None:
        results["repeats"] = {"key": space.repeat_key, "values": list(space.repeats)}
    tmp = path.with_name(path.name + ".tmp")
    OmegaConf.save(OmegaConf.create(results), tmp)
    os.replace(tmp, path)


def _trial_row(t) -> dict:
    duration = t.duration.total_seconds() if t.duration is not None else None
    return {
        "number": t.number,
        "state": t.state.name,
        "values": t.values,
        "params": t.params,
        "constraints": dict(t.constraints),
        "user_attrs": t.user_attrs,
        "retry_of": (t.system_attrs.get("retry_history") or [None])[-1],  # the failed trial this one runs again
        "seconds": duration,
        "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
        "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
    }


def _log_best(study) -> None:
    best = _best(study)
    if not best:
        log.warning("No trial completed.")
    for t in best:
        log.info(f"Best trial {t.number}: values {t.values}, params {t.params}")

"""One training run, from a composed config to its record: what `python -m ablate` does.

`run(cfg, run_dir)` takes a run through its steps, one function each:

1. resume or refuse (`_resume_or_refuse`): a finished run of this config in `run_dir` is returned as
   it is; a finished run of another config is never written over;
2. solve (`_solve`): the budget, the record's model and budget sections, the checkpoint's identity
   (a checkpoint of this config is resumed, one of another is refused);
3. build (`processes.plan_for`): a `RunPlan`, everything a training process needs;
4. train (`processes.train`): in this process, or on `trainer.world_size` DDP processes (auto: one per CPU core);
5. finish (`_finish`): the final status, times and speed in `result.json` (`ablate.run.record`).

It never raises for a run that fails: it records status `failed` and the reason (one sentence;
unexpected errors also leave their traceback in `error.log`), so one bad member cannot stop a
sweep. A run stopped by Ctrl-C (SIGINT) or SIGTERM (`timeout`, a SLURM pre-emption) records status
`interrupted`, where it stopped and how to resume, and raises `RunInterrupted`; launched again in
the same directory it resumes from its last checkpoint, as a killed run does. `main(cfg)` is the
Hydra glue: it finds the run directory, overrides and job number; in a single run it turns a
failure into one sentence on stderr and exit status 2 (1 for an unexpected error), and in any run
an interruption into one line and exit status 130 (SIGINT) or 143 (SIGTERM), without a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shlex
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ablate.errors import AblateError, CheckpointError, ConfigError, override_value, own_message
from ablate.run import processes
from ablate.run.record import (
    ERROR_LOG,
    RESULT,
    BudgetSection,
    ModelSection,
    RunRecord,
    ThroughputSection,
    atomic_write_bytes,
    first_difference,
    hashed_config,
)

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from ablate.engine.budget import Solution
    from ablate.engine.template import Template

log = logging.getLogger("ablate")


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal: SIGINT (Ctrl-C) or SIGTERM. A KeyboardInterrupt, so code that stops on
    Ctrl-C stops on either. `where` it stopped and how to `resume` are None when it stopped before training
    began, when nothing is recorded; `exit_code` is the shell's 128 + the signal's number (130, 143)."""

    def __init__(self, signum: int, where: str | None = None, resume: str | None = None):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.where, self.resume = signum, where, resume

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def by(self) -> str:
        return "Ctrl-C (SIGINT)" if self.signum == signal.SIGINT else signal.Signals(self.signum).name


def run(
    cfg: DictConfig, run_dir: str | os.PathLike, overrides: Iterable[str] = (), job_num: int | None = None
) -> RunRecord:
    """Train the run `cfg` describes in `run_dir` and return its record. Never raises for a failed run;
    raises `RunInterrupted` (a KeyboardInterrupt) for one stopped by Ctrl-C or SIGTERM."""
    return execute(cfg, run_dir, overrides, job_num)[0]


def execute(
    cfg: DictConfig, run_dir: str | os.PathLike, overrides: Iterable[str] = (), job_num: int | None = None
) -> tuple[RunRecord, BaseException | None]:
    """`run`, also returning the exception that failed the run (None otherwise).

    One process at a time works in a run directory (`ablate.run.lock`): a launch that finds it held
    by a live process writes nothing there and returns status failed with that sentence.
    """
    from ablate.run.lock import RunLock

    with _sigterm_interrupts(), RunLock(run_dir) as lock:
        if not lock.held:
            error = lock.busy()
            log.error("%s", error)
            return RunRecord.new({}, overrides, job_num).finish("failed", str(error), 0.0), error
        return _execute(cfg, Path(run_dir), overrides, job_num)


def _execute(
    cfg: DictConfig, run_dir: Path, overrides: Iterable[str], job_num: int | None
) -> tuple[RunRecord, BaseException | None]:
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        config = _container(cfg)
    except Exception as e:  # an interpolation that does not resolve
        error = ConfigError(f"the config does not resolve: {' '.join(str(e).split())}")
        return _fail(RunRecord.new({}, overrides, job_num), run_dir, error, started)
    record = RunRecord.new(config, overrides, job_num)
    finished, refusal = _resume_or_refuse(record, run_dir, replace=cfg.trainer.replace is True)
    if finished is not None:
        return finished, None
    if job_num is not None and refusal is None and not (run_dir / RESULT).exists():
        taken = _taken_from_sibling(record, run_dir)
        if taken is not None:
            taken.save(run_dir)
            return taken, None
    try:
        template, expected, resumed = _solve(cfg, config, record, run_dir)
        if refusal is not None:
            raise refusal
    except Exception as e:
        if isinstance(e, CheckpointError) or refusal is not None:
            # a checkpoint or a finished record that is not ours: leave every file in the directory as it is; the
            # record's refusal before its checkpoint's, as it names the way on for both (trainer.replace=true)
            e = refusal if refusal is not None and isinstance(e, CheckpointError) else e
            log.error("%s", e)
            return record.finish("failed", _reason(e), time.perf_counter() - started), e
        return _fail(record, run_dir, e, started)
    record.save(run_dir)
    pad = unused_pad(overrides, augment=config.get("data", {}).get("augment") is not False)
    if pad is not None:
        log.warning(pad)
    try:
        processes.train(processes.plan_for(cfg, template, expected, run_dir, job_num))
        record = RunRecord.load(run_dir) or record
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (`_sigterm_interrupts`)
        record = RunRecord.load(run_dir) or record
        raise _interrupted(record, run_dir, e, resumed, cfg, started) from None
    except Exception as e:
        record = RunRecord.load(run_dir) or record
        return _fail(record, run_dir, e, started)
    return _finish(record, run_dir, started), None


def unused_pad(overrides: Iterable[str], augment: bool) -> str | None:
    """The warning for a `data.pad` given on the command line while `data.augment` is off: the padding is the
    pad-and-crop augmentation's, so it would change nothing, and say nothing. None where no pad was given, or
    the images are augmented. (Here, not beside `ablate.data.base.wide_pad`: that module imports torch.)"""
    from ablate.report.collect import override_key

    given = [o for o in overrides if override_key(o) == "data.pad"]
    if augment or not given:
        return None
    return (
        f"{given[-1].lstrip('+~')} changes nothing: the training images are not augmented (data.augment=false); "
        "add data.augment=true to pad and randomly crop them."
    )


# ----------------------------------------------------------------------------- the steps
def _resume_or_refuse(record: RunRecord, run_dir: Path, replace: bool) -> tuple[RunRecord | None, ConfigError | None]:
    """What `run_dir` already holds for the new `record`: (its finished run of this very config, to return as it
    is — or None), and (the refusal for a finished run of another config, which is never written over — or None).
    Anything else (no record, a running or failed one of any config) is resumed or replaced. With
    `replace` (`trainer.replace=true`; read before the config is checked, so only a true boolean counts) a run of
    another config (its record, checkpoint and error log) is deleted first."""
    done = RunRecord.load(run_dir)
    if done is not None and done.config_hash != record.config_hash and replace:
        _delete_run(run_dir, done)
        return None, None
    if done is None or not done.is_final:
        return None, None
    if done.config_hash == record.config_hash:
        # both final statuses: a seeded run of the same config would diverge again at the same step
        log.info(
            "%s already holds this %s run (config %s): nothing to do%s",
            run_dir,
            done.status,
            record.config_hash,
            "" if done.status == "completed" else f" (delete {run_dir / RESULT} to train it again)",
        )
        return done, None
    diff = first_difference(hashed_config(done.config), hashed_config(record.config))
    what = f"{diff[0]}={override_value(diff[1])} there, {override_value(diff[2])} in this run; " if diff else ""
    return None, ConfigError(
        f"{run_dir} holds a {done.status} run of another config ({what}hash {done.config_hash} "
        f"there, {record.config_hash} in this run): choose another run directory, or add "
        "trainer.replace=true to replace it."
    )


def _taken_from_sibling(record: RunRecord, run_dir: Path) -> RunRecord | None:
    """A sweep member's record taken from a sibling folder (the same sweep folder) that finished a run of its very
    config — completed or diverged, which a seeded re-run would repeat; pruned depends on its study — or None.

    A config reaches a second folder name when overrides differ only in form: the main job without a seed and
    then `seed=0,1` into the same sweep folder train seed 0 (the default) as `…` and as `…,seed=0`. The copy
    keeps the sibling's results, times and environment, takes this member's overrides, job number and config
    (runtime keys may differ) and names the sibling in `same_as`; the report counts the config once."""
    import json

    for sibling in sorted(p for p in run_dir.parent.iterdir() if p != run_dir):
        try:
            text = (sibling / RESULT).read_text()
            if record.config_hash not in text:  # most siblings: no JSON parsed
                continue
            done = RunRecord.from_dict(json.loads(text))
        except (OSError, ValueError, TypeError):  # no record, or one that cannot be read: not a run to take
            continue
        if done.config_hash == record.config_hash and done.status in ("completed", "diverged"):
            log.info(
                "%s runs the config that %s beside it %s (config %s): its record is taken, nothing is trained (a "
                "fresh hydra.sweep.dir trains it again).",
                run_dir,
                sibling.name,
                done.status,
                record.config_hash,
            )
            return dataclasses.replace(
                done,
                config=record.config,
                overrides=record.overrides,
                job_num=record.job_num,
                same_as=done.same_as or sibling.name,
            )
    return None


def _delete_run(run_dir: Path, done: RunRecord) -> None:
    """Delete what a run of another config left in `run_dir` (its record, checkpoint, error log), saying so."""
    from ablate.run.trainer import CHECKPOINT

    for name in (RESULT, CHECKPOINT, ERROR_LOG):
        (run_dir / name).unlink(missing_ok=True)
    log.warning(
        "%s held a %s run of another config (hash %s): deleted, as trainer.replace=true asks",
        run_dir,
        done.status,
        done.config_hash,
    )


def _solve(cfg: DictConfig, config: dict, record: RunRecord, run_dir: Path) -> tuple[Template, dict, int]:
    """Solve the budget, fill the record's model and budget sections, check any checkpoint in `run_dir`;
    returns the template, the checkpoint identity it must have and the epochs a checkpoint already holds."""
    from ablate.config.loading import solve_cfg
    from ablate.config.schema import check

    check(cfg)
    template, solution = solve_cfg(cfg)
    processes.start_fork_server(cfg)  # a checked config: before this process imports torch
    from ablate.run.trainer import check_checkpoint, identity  # torch: after the config's own errors

    form = str(cfg.model.form)
    record.model = ModelSection.of(cfg.model.name, form, template)
    record.budget = None if solution is None else BudgetSection.of(solution)
    if solution is not None:
        log.info("%s", solved(solution))
    expected = identity(hashed_config(config), record.config_hash, template.to_dict(), form)
    epochs = check_checkpoint(run_dir, expected)
    if epochs:
        log.info("%s holds a checkpoint after epoch %d: resuming", run_dir, epochs)
    return template, expected, epochs


def solved(solution: Solution) -> str:
    """What the budget solver chose, for the log: the field and its value, what stayed fixed, the complexity reached
    and its deviation from the target — `bottleneck_width=3 solved for C=8: params N, −2.51% of tiny's M` (a scaled
    budget: `of 2× tiny's M`; an absolute one: `of the target M`)."""
    b, t = solution.budget, solution.template
    given = f"d={t.bottleneck_width}" if solution.vary == "cardinality" else f"C={t.cardinality}"
    metric = b.metric if b.scope == "network" else f"{b.metric} of a block"
    scale = "" if b.scale in (None, 1) else f"{b.scale:g}× "
    of = f"{scale}{b.reference}'s" if b.reference else "the target"
    deviation = f"{solution.deviation:+.2%}".replace("-", "\N{MINUS SIGN}")
    return (
        f"{solution.vary}={solution.value} solved for {given}: {metric} {solution.achieved:,}, {deviation} of "
        f"{of} {b.target:,.0f}"
    )


def _finish(record: RunRecord, run_dir: Path, started: float) -> RunRecord:
    """Record the end (status completed unless training set another), write it, log one line (a pruned run's
    reason was logged when the pruner stopped it: not again)."""
    record.finish(
        record.status if record.status != "running" else "completed", record.reason, time.perf_counter() - started
    )
    record.save(run_dir)
    final = record.final
    log.info(
        "%s: %s%s%s",
        record.status,
        f"val error {final.val_err:.2f}% " if final and final.val_err is not None else "",
        f"({record.reason})" if record.reason and record.status != "pruned" else f"in {record.wall_seconds:.0f} s",
        _speed(record.throughput),
    )
    return record


def _fail(record: RunRecord, run_dir: Path, error: Exception, started: float) -> tuple[RunRecord, Exception]:
    """Record status failed with one sentence; an unexpected error's traceback goes to error.log."""
    reason = _reason(error)
    if not isinstance(error, AblateError):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        atomic_write_bytes(run_dir / ERROR_LOG, text.encode())
    else:  # an earlier launch's traceback would be taken for this failure's
        (run_dir / ERROR_LOG).unlink(missing_ok=True)
    record.finish("failed", reason, time.perf_counter() - started)
    record.save(run_dir)
    log.error("run failed: %s", reason, extra={SAID_ON_STDERR: True})
    return record, error


def _interrupted(
    record: RunRecord, run_dir: Path, error: KeyboardInterrupt, resumed: int, cfg: DictConfig, started: float
) -> RunInterrupted:
    """Record status interrupted: where the run stopped and how to resume; the exception to raise."""
    from ablate.run.trainer import CHECKPOINT

    signum = error.signum if isinstance(error, RunInterrupted) else signal.SIGINT
    done = max(len(record.epochs), resumed)  # epochs finished: in this launch's record, or an earlier checkpoint
    where = f"in epoch {done + 1} of {cfg.optim.epochs}"
    if done >= cfg.optim.epochs:  # stopped while it measured and recorded its end: nothing is left to train
        where = f"after the last epoch ({done} of {cfg.optim.epochs})"
    if done >= cfg.optim.epochs and (run_dir / CHECKPOINT).exists():
        resume = "finish it"
    elif done and (run_dir / CHECKPOINT).exists():
        resume = f"resume after epoch {done}"
    elif done:
        resume = "start from the first epoch (trainer.checkpoint=false keeps no checkpoint)"
    else:
        resume = "start from the first epoch"
    stop = RunInterrupted(signum, where, resume)
    record.finish(
        "interrupted",
        f"interrupted by {stop.by} {where}: run it again in the same directory to {resume}.",
        time.perf_counter() - started,
    )
    record.save(run_dir)
    log.warning("run interrupted: %s", record.reason, extra={SAID_ON_STDERR: True})
    return stop


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Within: SIGTERM raises `RunInterrupted`, as Ctrl-C raises KeyboardInterrupt, so a run stopped by
    `timeout` or a SLURM pre-emption records where it stopped. A second SIGTERM acts as before (by default it
    ends the process at once). Signal handlers belong to the main thread: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    previous = signal.SIG_DFL if previous is None else previous

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, previous)
        raise RunInterrupted(signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _container(cfg: DictConfig | dict) -> dict:
    from omegaconf import OmegaConf

    if isinstance(cfg, dict):
        return cfg
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


_CPU_OOM = re.compile(r"DefaultCPUAllocator: can't allocate memory: you tried to allocate (\d+) bytes")


def _reason(error: BaseException) -> str:
    """One sentence: an AblateError's message, or the exception's type and message (its own where a DataLoader
    worker raised it, not torch's re-raise with the worker's traceback)."""
    message = " ".join(own_message(str(error)).split())
    if isinstance(error, AblateError):
        return message
    message = message or "no message"
    if (oom := _CPU_OOM.search(message)) is not None:  # torch's allocator, in this process or a DDP one
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
        return (
            f"out of memory: one tensor of {int(oom.group(1)) / 1e9:.1f} GB could not be allocated (this machine has "
            f"{ram:.1f} GB in all): give a smaller model, or a smaller optim.batch_size."
        )
    sentence = f"{type(error).__name__}: {message}"
    return sentence if sentence.endswith(".") else sentence + "."


def _speed(tp: ThroughputSection) -> str:
    """`; 1356 img/s (bf16), 21% of the bf16 matmul peak, 45% of the fp32 one`: the end-of-run speed line's tail.

    The share of the peak in the run's own precision first, then of the fp32 peak (the yardstick the same across
    precisions) where the run trained in another; a share under 10 % keeps two significant digits.
    """
    if not tp.images_per_s:
        return ""
    precision = tp.precision or "fp32"
    shares = [(tp.machine_fraction, precision)]
    if precision != "fp32":
        shares.append((tp.fp32_fraction, "fp32"))
    said = [f"{_percent(share)} of the {name} matmul peak" for share, name in shares if share is not None]
    if len(said) == 2:
        said[1] = said[1].replace("matmul peak", "one")
    return f"; {tp.images_per_s:.0f} img/s ({precision})" + "".join(", " + s for s in said)


def _percent(share: float) -> str:
    percent = 100 * share
    return f"{percent:.0f}%" if percent >= 9.95 else f"{percent:#.2g}%"  # 9.96 would read "10.%"


# ----------------------------------------------------------------------------- Hydra glue
def main(cfg: DictConfig) -> float | None:
    """The Hydra task function's body: run, then return the final val top-1 error (for sweepers).

    In a multirun a failed member is recorded and returns None. In a single run a failure
    prints its sentence to stderr and exits with status 2 (a user error) or 1 (anything else).
    An interrupted run (either) prints where it stopped and how to resume, and exits with
    status 130 (Ctrl-C) or 143 (SIGTERM).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return _job(cfg, hc, multirun=False)
    from ablate.run.interrupt import pool_job

    with pool_job(hc.runtime.output_dir):  # in a pool's worker: Ctrl-C interrupts this job, and no job after it
        return _job(cfg, hc, multirun=True)


SAID_ON_STDERR = "ablate_said_on_stderr"  # a log record's flag: a single run's command says it on stderr itself


class _NotOnTerminal(logging.Filter):
    """Keeps off the terminal's handlers a record that a single run's command says on stderr as its last line (how
    it failed, where it was interrupted), so that the sentence is read once; the run's log file still holds it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, SAID_ON_STDERR, False)


@contextlib.contextmanager
def _said_once(multirun: bool) -> Iterator[None]:
    """Within: for a single run, `_NotOnTerminal` on the root logger's terminal handlers (Hydra's console handler;
    not its file handler). A multirun keeps each member's line: its progress log is where a member's end is read."""
    handlers = (
        []
        if multirun
        else [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]
    )
    quiet = _NotOnTerminal()
    for h in handlers:
        h.addFilter(quiet)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet)


def _job(cfg: DictConfig, hc: Any, multirun: bool) -> float | None:
    """`main`'s body: run the job, and say how it ended where it failed or was interrupted."""
    job_num = hc.job.num if multirun else None
    _from_launch_folder(cfg, hc)
    try:
        with _said_once(multirun):
            record, error = execute(cfg, hc.runtime.output_dir, list(hc.overrides.task), job_num)
    except KeyboardInterrupt as e:  # one line, no traceback, the shell's exit status for the signal
        stop = e if isinstance(e, RunInterrupted) else RunInterrupted(signal.SIGINT)
        again = (
            f"hydra.sweep.dir={shlex.quote(str(hc.sweep.dir))} (its finished members are kept)"
            if multirun
            else f"hydra.run.dir={shlex.quote(str(hc.runtime.output_dir))}"
        )
        if stop.where is None:  # before training began (or while its end was being recorded)
            line = f"ablate: interrupted by {stop.by} in {hc.runtime.output_dir}: to go on, run the same command with "
            line += f"{again}."
        else:
            line = (
                f"ablate: interrupted by {stop.by} {stop.where} of {hc.runtime.output_dir}: to {stop.resume}, run "
                f"the same command with {again}."
            )
        print(line, file=sys.stderr)
        from ablate.run.interrupt import end_interrupted

        end_interrupted(line, stop.exit_code)  # exits, or in a pool's worker raises JobInterrupted
    if record.status == "failed" and not multirun:
        line = f"ablate: {record.reason}"
        if error is not None and not isinstance(error, AblateError):  # a bug, maybe in user code: where to look
            line = f"{line.rstrip('.')}; its traceback: {Path(hc.runtime.output_dir) / ERROR_LOG}."
        print(line, file=sys.stderr)
        sys.exit(2 if error is None or isinstance(error, AblateError) else 1)
    final = record.final
    return final.val_err if record.status == "completed" and final else None


def _from_launch_folder(cfg: DictConfig, hc: Any) -> None:
    """With `hydra.job.chdir=true` Hydra runs the job inside its own folder: a relative `data.root` or MLflow store
    (`trainer.mlflow_uri=sqlite:///ml.db`, or a folder; or the same in `$MLFLOW_TRACKING_URI`) still means the
    folder the command was launched from, as without chdir, so that a sweep's members share one store; they are
    made absolute there (run-time keys: the config hash does not change)."""
    from omegaconf import OmegaConf

    if not hc.job.chdir:
        return
    root = OmegaConf.select(cfg, "data.root")
    if isinstance(root, str) and not os.path.isabs(os.path.expanduser(root)):
        cfg.data.root = os.path.normpath(os.path.join(hc.runtime.cwd, root))
    uri = OmegaConf.select(cfg, "trainer.mlflow_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    if isinstance(uri, str) and (store := _store_from(uri, hc.runtime.cwd)) != uri:
        cfg.trainer.mlflow_uri = store  # from the environment too: the key wins over it in the job


def _store_from(uri: str, cwd: str) -> str:
    """`uri` with a relative SQLite file (`sqlite:///ml.db`) or store folder (`mlruns`) made absolute in `cwd`."""
    sqlite = "sqlite:///"
    if uri.startswith(sqlite) and not os.path.isabs(uri[len(sqlite) :]):
        return sqlite + os.path.normpath(os.path.join(cwd, uri[len(sqlite) :]))
    if ":" not in uri and not os.path.isabs(os.path.expanduser(uri)):
        return os.path.normpath(os.path.join(cwd, uri))
    return uri

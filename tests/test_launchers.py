"""Sweeps through Hydra's launchers: joblib and submitit_local run here, Ray on a local head,
SLURM as configuration; and each member's share of the cores (`ablate.run.parallel.threads_for_job`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ablate.run.parallel import concurrent_members, cpu_count, members_sharing_cores, ranks_for_job, threads_for_job
from tests.test_optuna_sweeper import load, multirun, study_record

ROOT = Path(__file__).resolve().parents[1]


def member(cfg):
    """Records where it ran (process, threads it would use) and returns 10·x + y."""
    out = Path(HydraConfig.get().runtime.output_dir)
    info = {"pid": os.getpid(), "threads": threads_for_job(), "job_num": HydraConfig.get().job.num}
    (out / "result.json").write_text(json.dumps(info))
    return 10.0 * cfg.x + cfg.y


def _runs(sweep_dir: Path) -> list[dict]:
    return [json.loads((sweep_dir / str(n) / "result.json").read_text()) for n in (0, 1)]


def _check_two_members(sweep_dir: Path, threads: int) -> None:
    trials = load(sweep_dir).get_trials()
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "COMPLETE")]
    for t in trials:
        assert t.value == pytest.approx(10.0 * t.params["x"] + t.params["y"])
    runs = _runs(sweep_dir)
    assert [r["job_num"] for r in runs] == [0, 1]
    assert study_record(sweep_dir)["asynchronous"] is True  # each trial its own launch, from the sweeper's slots
    assert os.getpid() not in {r["pid"] for r in runs}  # the members ran outside the sweeper's process
    assert [r["threads"] for r in runs] == [threads, threads]


SPACE = ("x=interval(0,1)", "y=choice(1,2)", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2")


# -- threads per member ----------------------------------------------------------------------------------------------

def _hydra(launcher: dict, sweeper: dict | None = None, mode="MULTIRUN"):
    return OmegaConf.create({"mode": mode, "launcher": launcher, "sweeper": sweeper or {}})


JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
LOCAL = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
RAY = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def test_members_share_cores_only_when_more_run_at_once_than_there_are_cores():
    """Where each member's one-thread timings (its matmul peak) read the other members' load."""
    assert members_sharing_cores(_hydra({"_target_": JOBLIB, "n_jobs": 5}), cores=2) == 5
    assert members_sharing_cores(_hydra({"_target_": JOBLIB, "n_jobs": 2}), cores=2) is None  # a core each
    assert members_sharing_cores(_hydra({"_target_": JOBLIB, "n_jobs": -1}), cores=2) is None  # joblib: one per core
    assert members_sharing_cores(_hydra({"_target_": JOBLIB, "n_jobs": 8}, {"n_jobs": 2}), cores=2) is None  # batch
    assert members_sharing_cores(_hydra({"_target_": LOCAL}, {"n_jobs": 4}), cores=2) == 4
    assert members_sharing_cores(_hydra({"_target_": BASIC}), cores=2) is None
    assert members_sharing_cores(_hydra({"_target_": SLURM, "cpus_per_task": 1}), cores=2) is None  # own allocation
    assert members_sharing_cores(_hydra({"_target_": JOBLIB, "n_jobs": 5}, mode="RUN"), cores=2) is None


def test_threads_are_the_cores_shared_among_concurrent_members():
    assert threads_for_job(_hydra({"_target_": JOBLIB, "n_jobs": 2}), cores=16) == 8
    assert threads_for_job(_hydra({"_target_": JOBLIB, "n_jobs": 2}), cores=2) == 1
    assert threads_for_job(_hydra({"_target_": JOBLIB, "n_jobs": -1}), cores=16) == 1  # joblib: every core
    assert threads_for_job(_hydra({"_target_": JOBLIB, "n_jobs": 3}), cores=2) == 1  # never below 1
    # the sweeper's batch bounds how many run at once
    assert threads_for_job(_hydra({"_target_": JOBLIB, "n_jobs": 8}, {"n_jobs": 2}), cores=16) == 8
    assert threads_for_job(_hydra({"_target_": LOCAL}, {"n_jobs": 4}), cores=16) == 4
    assert threads_for_job(_hydra({"_target_": SLURM, "cpus_per_task": 10}), cores=64) == 10
    assert threads_for_job(_hydra({"_target_": SLURM, "cpus_per_task": None}), cores=32) == 32  # its allocation
    assert threads_for_job(_hydra({"_target_": RAY, "ray": {"remote": {"num_cpus": 3}}}), cores=16) == 3
    assert threads_for_job(_hydra({"_target_": RAY, "ray": {"remote": {}}}), cores=16) == 1
    assert threads_for_job(_hydra({"_target_": BASIC}), cores=16) == 16  # one member at a time
    assert threads_for_job(_hydra({"_target_": JOBLIB, "n_jobs": 2}, mode="RUN"), cores=16) == 16
    assert concurrent_members(_hydra({"_target_": JOBLIB, "n_jobs": -2}), cores=16) == 15


# -- joblib and submitit_local, run here ------------------------------------------------------------------------

@pytest.mark.slow
def test_joblib_runs_two_members_at_once(tmp_path, caplog):
    """Also found by hand: each trial of an asynchronous search is a launch of its own, and Hydra's joblib launcher
    said three lines for each (`Joblib.Parallel(…)`, `Launching jobs, sweep output dir : …`, `#0 : …`, every job
    numbered 0). The sweeper says one: which trial starts, as which job, with which parameters."""
    from joblib.externals.loky import get_reusable_executor

    try:
        with caplog.at_level("INFO"):
            multirun(member, tmp_path, *SPACE, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    finally:
        get_reusable_executor().shutdown(wait=True)  # leave no worker processes behind
    _check_two_members(tmp_path, threads=max(cpu_count() // 2, 1))
    assert len({r["pid"] for r in _runs(tmp_path)}) == 2  # two worker processes
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("hydra_plugins.hydra_joblib_launcher")]
    starts = sorted(m for m in caplog.messages if " starts as job " in m)
    assert [m.split(":")[0] for m in starts] == ["Trial 0 starts as job 0", "Trial 1 starts as job 1"]
    assert all(m.count("{'x': ") == 1 for m in starts), starts


@pytest.mark.slow
def test_submitit_local_runs_the_same_code_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the job processes unpickle this module's task function
    multirun(member, tmp_path, *SPACE, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5")
    _check_two_members(tmp_path, threads=max(cpu_count() // 2, 1))  # submitit_local starts a batch at once
    logs = sorted(p.name for p in (tmp_path / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2  # one submitit job folder (and log) per member


@pytest.mark.slow
def test_ray_runs_two_members_on_a_local_head(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # Ray's workers unpickle this module's task function
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a local head: no token written to ~/.ray
    try:
        multirun(member, tmp_path, *SPACE, "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
                 "+hydra.launcher.ray.init.include_dashboard=false", "+hydra.launcher.ray.remote.num_cpus=1")
    finally:
        ray.shutdown()  # stops the head this test started
    _check_two_members(tmp_path, threads=1)  # a 1-CPU Ray task uses one thread


# -- SLURM and Ray: one override, GPUs per member -------------------------------------------------------------------

def _compose(*overrides):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    import ablate.config  # noqa: F401  the schema in Hydra's ConfigStore and the resolvers, whatever ran before

    GlobalHydra.instance().clear()
    with initialize_config_module("ablate.conf", version_base="1.3"):
        return compose("config", overrides=["+sweep=search_budget", *overrides], return_hydra_config=True)


def test_slurm_launcher_config():
    cfg = _compose("hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1",
                   "hydra.launcher.cpus_per_task=8", "hydra.launcher.timeout_min=240")
    launcher = cfg.hydra.launcher
    assert launcher._target_ == SLURM
    assert (launcher.partition, launcher.gpus_per_node, launcher.cpus_per_task, launcher.timeout_min) == \
        ("gpu", 1, 8, 240)
    assert OmegaConf.to_container(launcher, resolve=False)["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"
    assert threads_for_job(_hydra(OmegaConf.to_container(launcher, resolve=False)), cores=64) == 8
    assert cfg.hydra.sweeper.n_jobs == 2  # the sweeper still asks two trials per batch


def test_ray_launcher_config_asks_one_gpu_per_member():
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the ray extra is not installed")
    cfg = _compose("hydra/launcher=ray", "+hydra.launcher.ray.init.address=auto",
                   "+hydra.launcher.ray.remote.num_gpus=1", "+hydra.launcher.ray.remote.num_cpus=4")
    assert cfg.hydra.launcher._target_ == RAY
    assert OmegaConf.to_container(cfg.hydra.launcher.ray, resolve=True) == {
        "init": {"address": "auto", "object_store_memory": None},  # a running cluster refuses an object store size
        "remote": {"num_gpus": 1, "num_cpus": 4}}


def test_ray_launcher_gives_the_object_store_size_only_to_a_ray_it_starts(monkeypatch):
    """Found by hand: Hydra's Ray launcher gives every `ray.init` 75 MiB of object store, and `ray.init` refuses any
    size when it connects to a running cluster ("When connecting to an existing cluster, object_store_memory must
    not be provided"), so no address of one worked (auto, HEAD:6379, RAY_ADDRESS). ablate's `hydra/launcher=ray`
    gives the 75 MiB to a Ray started on this machine only."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the ray extra is not installed")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def store(*overrides):
        cfg = _compose("hydra/launcher=ray", *overrides)
        return OmegaConf.to_container(cfg.hydra.launcher.ray.init, resolve=True)["object_store_memory"]

    assert store("hydra.launcher.ray.init.address=local") == 78_643_200  # the launcher's own figure
    assert store("hydra.launcher.ray.init.address=auto") is None
    assert store("hydra.launcher.ray.init.address=10.0.0.1:6379") is None
    assert store("hydra.launcher.ray.init.address=ray://10.0.0.1:10001") is None
    assert store("hydra.launcher.ray.init.object_store_memory=1000000") == 1_000_000  # the user's, as given
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # no address: Ray connects to RAY_ADDRESS's cluster
    assert store() is None


@pytest.mark.slow
def test_ray_runs_members_on_a_running_cluster(tmp_path, monkeypatch):
    """The same, end to end: a Ray head started here, and a sweep of ablate's app (another process) sent to its
    address (Ray's ValueError, exit 1, before the fix)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        address = ray.get_runtime_context().gcs_address
        sweep = tmp_path / "sweep"
        done = subprocess.run(
            [sys.executable, "-m", "ablate", "-m", "data=synthetic", "data.num_samples=128", "data.val_samples=64",
             "optim.epochs=1", "model.depths=[1,1]", "model.cardinality=1,2", "hydra/launcher=ray",
             f"hydra.launcher.ray.init.address={address}", f"hydra.sweep.dir={sweep}"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    finally:
        ray.shutdown()  # stops the head this test started
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/result.json"))]
    assert [r["status"] for r in records] == ["completed", "completed"]


def test_a_ray_member_that_could_never_start_is_refused(monkeypatch):
    """Found by hand: `+hydra.launcher.ray.remote.num_gpus=1` on a machine without a GPU (or more CPUs than the
    machine has) left every member pending in Ray, and the sweep waited without end, printing Ray's "No available
    node types can fulfill resource request" every half minute."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the ray extra is not installed")
    from ablate.config import plugins

    monkeypatch.setattr(plugins, "_ray_gpus", lambda: 0)
    monkeypatch.setattr(plugins, "_ray_cpus", lambda: 2)

    def said(*overrides):
        """The refusal of `hydra/launcher=ray` with `overrides` (each `+hydra.launcher.ray.NODE.KEY=NUMBER`)."""
        ray = {"init": {"address": "local"}, "remote": {}}
        for o in overrides:
            node, key = o.split("=")[0].split(".")[-2:]
            ray[node][key] = int(o.split("=")[1])
        return plugins.plugin_value(OmegaConf.create({"hydra": {
            "launcher": {"_target_": RAY, "ray": ray}, "overrides": {"hydra": ["hydra/launcher=ray", *overrides]}}}))

    assert said("+hydra.launcher.ray.remote.num_gpus=1") == (
        "+hydra.launcher.ray.remote.num_gpus=1: each member asks Ray for 1 GPU, and the Ray that hydra/launcher=ray "
        "starts on this machine has 0 (this machine's GPUs): no member could ever start (Ray would wait without end); "
        "drop it, or give the address of a Ray cluster that has them in hydra.launcher.ray.init.address.")
    assert said("+hydra.launcher.ray.remote.num_cpus=3") == (
        "+hydra.launcher.ray.remote.num_cpus=3: each member asks Ray for 3 CPUs, and the Ray that hydra/launcher=ray "
        "starts on this machine has 2 (this machine's cores): no member could ever start (Ray would wait without "
        "end); ask for at most 2, or give the address of a Ray cluster that has them in "
        "hydra.launcher.ray.init.address.")
    assert said("+hydra.launcher.ray.remote.num_cpus=2") is None
    assert said("+hydra.launcher.ray.init.num_gpus=1", "+hydra.launcher.ray.remote.num_gpus=1") is None  # as told
    assert said("+hydra.launcher.ray.remote.num_gpus=0") is None


def test_a_misspelt_ray_argument_or_option_is_refused_with_its_near_miss(tmp_path):
    """Found by hand: `+hydra.launcher.ray.init.num_cpu=1` ended in Ray's "Unknown keyword argument(s)" traceback and
    `+hydra.launcher.ray.remote.num_cpu=1` in its "Invalid option keyword" one, once the sweep had started. (The
    lists of valid names are Ray's, and change with its version: only their start is held here.)"""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the ray extra is not installed")
    for node, what in (("init", "ray.init takes no argument"), ("remote", "a Ray task has no option")):
        done = subprocess.run(
            [sys.executable, "-m", "ablate", "-m", "hydra/launcher=ray", f"+hydra.launcher.ray.{node}.num_cpu=1",
             "data=synthetic", "model.cardinality=1,2", f"hydra.sweep.dir={tmp_path / node}"],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2
        sentence = done.stderr.strip()
        assert sentence.startswith(
            f"ablate: +hydra.launcher.ray.{node}.num_cpu=1: {what} num_cpu (did you mean "
            f"hydra.launcher.ray.{node}.num_cpus=1?); its "), sentence
        assert ", num_cpus, num_gpus, " in sentence and "\n" not in sentence and " _" not in sentence
        assert not (tmp_path / node).exists()  # refused before the sweep folder


def test_a_ray_cluster_that_cannot_be_reached_is_one_sentence(monkeypatch):
    """`ray.init`'s ConnectionError (no cluster at the address) was a traceback; a ConnectionError from elsewhere is
    not Ray's to say."""
    from ablate.config.plugins import ray_unreachable

    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    def raised_in(filename: str) -> BaseException:
        code = compile("raise ConnectionError('Could not find any running Ray instance. Please specify one.')",
                       filename, "exec")
        try:
            exec(code, {})
        except ConnectionError as e:
            return e
        raise AssertionError("nothing raised")

    error = raised_in(os.path.join(os.sep, "x", "ray", "_private", "worker.py"))
    assert ray_unreachable(error, ["hydra/launcher=ray", "hydra.launcher.ray.init.address=auto"]) == (
        "hydra.launcher.ray.init.address=auto: no Ray cluster can be reached there (Could not find any running Ray "
        "instance): start it (ray start --head on its head node), or give the address of a running one "
        "(hydra.launcher.ray.init.address=HEAD:6379, ray://HEAD:10001, or auto for the cluster this machine belongs "
        "to), or null to start a Ray on this machine.")
    assert ray_unreachable(raised_in(os.path.join(os.sep, "x", "mine.py")), []) is None
    assert ray_unreachable(OSError("disk"), []) is None


def test_world_size_auto_is_one_single_threaded_process_per_core_on_the_cpu():
    """`trainer.world_size: auto`: one process per core of the job, each with ≥ 32 images of an evenly split batch."""
    assert ranks_for_job("auto", cuda=False, batch=128, cores=2) == 2
    assert ranks_for_job("auto", cuda=False, batch=128, cores=1) == 1  # a member sharing the machine: its one core
    assert ranks_for_job("auto", cuda=False, batch=128, cores=16) == 4  # 4 × 32 images; not 16 × 8
    assert ranks_for_job("auto", cuda=False, batch=96, cores=4) == 3  # 96 splits over 3, not over 4 with ≥ 32 each
    assert ranks_for_job("auto", cuda=False, batch=48, cores=2) == 1  # 2 × 24 would starve BN's statistics
    assert ranks_for_job("auto", cuda=True, batch=256, cores=16) == 1  # CUDA: more GPUs are a deliberate choice
    assert ranks_for_job("auto", cuda=False, batch=128, num_threads=2, cores=2) == 1  # threads pinned: one process
    assert ranks_for_job(3, cuda=False, batch=128, cores=2) == 3  # a number is taken as it is


def test_world_size_auto_in_a_sweep_running_members_side_by_side_is_one_process():
    """Two joblib members on 2 cores get one core each, so auto starts one process of one thread in each."""
    hydra = _hydra({"_target_": JOBLIB, "n_jobs": 2})
    assert ranks_for_job("auto", cuda=False, batch=128, cores=threads_for_job(hydra, cores=2)) == 1


@pytest.mark.slow
def test_ddp_members_in_joblib_workers(tmp_path):
    """Members of two DDP processes each, under the joblib launcher: every member failed (found by hand) because a
    loky worker's multiprocessing start method is 'loky', which the DDP processes it starts cannot find."""
    import subprocess
    import sys

    sweep = tmp_path / "sweep"
    args = [sys.executable, "-m", "ablate", "-m", "model.cardinality=1,2", "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2", "trainer.world_size=2", "trainer.num_threads=1", "data=synthetic",
            "data.num_samples=128", "data.val_samples=64", "model.depths=[1,1]", "model.width=16",
            "model.stem_width=16", "optim.batch_size=32", "optim.epochs=1", "trainer.progress=false",
            f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sweep.glob("*/result.json")]
    assert sorted((r["status"], r["env"]["world_size"]) for r in records) == [("completed", 2), ("completed", 2)]


IDLE_WORKER = """
import multiprocessing, os, signal, sys, time
from ablate.run import interrupt
from ablate.run.interrupt import JobInterrupted, pool_job

def worker(ready, go, out):
    with pool_job("job-0"):
        pass  # a member's job that returned
    ready.set()
    go.wait(20)  # idle in the pool, as a loky worker between jobs: Ctrl-C comes here
    try:
        with pool_job("job-1"):
            out.put("started")
    except JobInterrupted as e:
        out.put(f"refused {e.exit_code}: {e}")
    interrupt._REFUSE_S = 0.0  # as if the refusal window had passed: a later sweep's job in the same pool runs
    with pool_job("job-2"):
        out.put("job-2 started")

if __name__ == "__main__":
    before = signal.getsignal(signal.SIGINT)
    with pool_job("single"):  # in the main process (a single run, the basic launcher): nothing changes
        assert signal.getsignal(signal.SIGINT) is before
    assert signal.getsignal(signal.SIGINT) is before
    ready, go, out = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
    child = multiprocessing.Process(target=worker, args=(ready, go, out))
    child.start()
    ready.wait(20)
    os.kill(child.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    time.sleep(0.5)
    go.set()  # the pool hands the worker its next job
    print(out.get(timeout=20))
    print(out.get(timeout=20))
    child.join(20)
    print(child.exitcode)
"""


def test_ctrl_c_on_an_idle_worker_of_a_sweep_prints_nothing_and_stops_its_next_job(tmp_path):
    """Found by hand: Ctrl-C on `+sweep=cardinality_vs_width hydra/launcher=joblib -m` printed, after ablate's one
    line, a `KeyboardInterrupt` traceback from a loky worker idle between jobs (`gc.collect()`). A worker whose job
    has returned notes Ctrl-C quietly, and its next job does not start (the launch's queued members end at once;
    before, the worker left with 130, and joblib then killed the pool's other workers mid-record)."""
    script = tmp_path / "idle.py"
    script.write_text(IDLE_WORKER)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["refused 130: ablate: not started in job-1: the sweep was interrupted.",
                                        "job-2 started", "0"]
    assert done.stderr == ""


def ctrl_c_once_started(script_text: str, tmp_path, sweep, *args) -> tuple[str, str]:
    """Run a script (its first argument the sweep folder) in its own process group, send the group SIGINT as Ctrl-C
    does once jobs 0 and 1 have written `started-<n>` in the sweep folder; returns its stdout and stderr."""
    import os
    import signal
    import time

    script = tmp_path / "script.py"
    script.write_text(script_text)
    proc = subprocess.Popen([sys.executable, str(script), str(sweep), *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not all((Path(sweep) / f"started-{n}").exists() for n in (0, 1)) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    return proc.communicate(timeout=60)


GRID_ON_JOBLIB = """
import sys
from tests.interrupted_member import member

if __name__ == "__main__":
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="grid", node={"x": 0})
    version.setbase("1.3")
    hydra = Hydra.create_main_hydra2(task_name="grid", config_search_path=create_config_search_path(None))
    callback = "{_target_: ablate.run.interrupt.InterruptCallback}" if sys.argv[2] == "callback" else "{}"
    try:
        hydra.multirun(config_name="grid", task_function=member, with_log_configuration=False,
                       overrides=["hydra.mode=MULTIRUN", f"hydra.sweep.dir={sys.argv[1]}", "hydra/launcher=joblib",
                                  "hydra.launcher.n_jobs=2", "hydra/hydra_logging=none", "hydra/job_logging=none",
                                  f"+hydra.callbacks.interrupt={callback}", "x=1,2,3"])
    except KeyboardInterrupt:
        print("interrupted")
"""


@pytest.mark.slow
@pytest.mark.parametrize("callback", ["callback", "none"])
def test_ctrl_c_on_a_grid_on_joblib_lets_running_members_record_and_starts_no_other(tmp_path, callback):
    """Found by hand: Ctrl-C on a grid sweep on the joblib launcher left members' records `running`: the sweep's
    process, waiting in joblib, got KeyboardInterrupt, and joblib killed the pool at once (SIGKILL) while members
    wrote where they stopped. With ablate's InterruptCallback (in its root config) the first Ctrl-C waits until no
    member's run directory is held; the member joblib still had queued never starts. Without it, the slow member
    is killed: the fault this guards against."""
    sweep = tmp_path / "sweep"
    out, err = ctrl_c_once_started(GRID_ON_JOBLIB, tmp_path, sweep, callback)
    assert out.strip() == "interrupted", err[-3000:]
    recorded = sorted(p.name for p in sweep.glob("recorded-*"))
    if callback == "none":
        assert "recorded-1" not in recorded  # killed while it wrote (job 0, quicker, may have been in time)
        return
    assert recorded == ["recorded-0", "recorded-1"]
    assert not (sweep / "started-2").exists()  # the queued member did not start
    assert "the running members record where they stopped (up to 10 s; Ctrl-C again leaves now)" in err
    assert "Traceback" not in err


def test_the_ctrl_c_drain_sees_members_in_nested_folders(tmp_path):
    """Noticed in session 20: with `hydra.sweep.subdir=${model.name}/${hydra.job.num}` the members' folders are two
    levels down, and the drain, looking one level down only, left at once while they were still writing."""
    from ablate.run.interrupt import held_runs
    from ablate.run.lock import RunLock

    flat, nested, deep = tmp_path / "job-0", tmp_path / "tiny" / "1", tmp_path / "a" / "b" / "c"
    locks = [RunLock(d) for d in (flat, nested, deep)]
    for lock in locks:
        assert lock.acquire()
    try:
        assert sorted(held_runs(tmp_path)) == sorted([flat, nested, deep])
        locks[0].release()
        assert sorted(held_runs(tmp_path)) == sorted([nested, deep])
    finally:
        for lock in locks:
            lock.release()
    assert held_runs(tmp_path) == []

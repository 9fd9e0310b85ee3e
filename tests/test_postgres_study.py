"""A real shared study: two sweeper processes on one PostgreSQL study.

A session fixture starts PostgreSQL (Debian's `postgresql` package: initdb + pg_ctl, as the
`postgres` user when the tests run as root) on a free loopback port with its socket in a
temporary folder, and creates a database. Two `python -m pgapp -m` workers of a tiny Hydra
app run the Optuna sweeper with the same storage URL and study name: every trial number
appears once, none is lost, and the best trial is what the database holds.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
N_TRIALS = 12
APP = textwrap.dedent("""
    import time

    import hydra
    from hydra.core.config_store import ConfigStore

    from hydra_plugins.ablate_optuna_sweeper import register

    register()  # found without Hydra's plugin scan (an editable install hides the folder from it)
    ConfigStore.instance().store(name="pgapp", node={
        "x": 0.0, "y": 1, "defaults": [{"override hydra/sweeper": "ablate_optuna"}, "_self_"]})


    @hydra.main(version_base="1.3", config_path=None, config_name="pgapp")
    def main(cfg):
        time.sleep(0.3)  # long enough for the two workers to interleave
        return (cfg.x - 2.0) ** 2 + cfg.y


    if __name__ == "__main__":
        main()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for this test session; yields the URL of an empty database `studies`."""
    if not PG_BINS:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    psycopg2 = pytest.importorskip("psycopg2", reason="the postgres extra (psycopg2-binary) is not installed")
    bin_dir = PG_BINS[-1].parent
    root = Path(tempfile.mkdtemp(prefix="ablate-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "ablate", "--auth=trust",
                                 "--no-sync", "-E", "UTF8", "--locale=C"]), check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
                                 "-w", "-t", "30", "start"]), check=True, capture_output=True)
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="ablate", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE studies")
        conn.close()
        # trust authentication accepts any password: the URL carries one to check that it is masked
        yield f"postgresql://ablate:pg-secret@127.0.0.1:{port}/studies"
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_one_study(postgres, tmp_path):
    import optuna

    (tmp_path / "pgapp").mkdir()
    (tmp_path / "pgapp" / "__main__.py").write_text(APP)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "pgapp", "-m", "x=interval(-4,4)", "y=choice(1,2,3)",
         f"hydra.sweeper.storage={postgres}", "hydra.sweeper.study_name=shared", f"hydra.sweeper.n_trials={N_TRIALS}",
         "hydra.sweeper.n_jobs=1", f"hydra.sweeper.seed={i}", f"hydra.sweep.dir={tmp_path / f'w{i}'}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    logs = [w.communicate(timeout=180)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs

    from hydra_plugins.ablate_optuna_sweeper._storage import with_driver

    study = optuna.load_study(study_name="shared", storage=with_driver(postgres))  # read back from the database
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # each number once, none skipped
    # the workers check the count before each batch: at most one batch (n_jobs=1) beyond n_trials per other worker
    assert N_TRIALS <= sum("copy_of" not in t.user_attrs for t in trials) <= N_TRIALS + 1
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)  # none lost or left running
    for t in trials:
        assert t.value == pytest.approx((t.params["x"] - 2.0) ** 2 + t.params["y"])

    records = [json.loads((tmp_path / f"w{i}" / "study.json").read_text()) for i in (0, 1)]
    ran = [set(n for run in r["runs"] for n in run["trials"]) for r in records]
    assert ran[0].isdisjoint(ran[1]) and ran[0] | ran[1] == set(numbers)  # every trial ran in exactly one worker
    assert all(ran), "both workers ran trials"
    for i, record in enumerate(records):
        workers_of = {t["number"]: t["user_attrs"]["worker"] for t in record["trials"] if t["number"] in ran[i]}
        assert len(set(workers_of.values())) == 1  # a worker's trials carry its host:pid

    best = min(trials, key=lambda t: t.value)
    assert study.best_trial.number == best.number
    last = max(records, key=lambda r: sum(t["state"] == "COMPLETE" for t in r["trials"]))
    assert [t["number"] for t in last["trials"]] == numbers  # the later worker saw the whole study
    assert last["best_trials"] == [best.number]
    port = postgres.rsplit(":", 1)[1].split("/")[0]
    assert f"Study 'shared' in postgresql://ablate:***@127.0.0.1:{port}/studies" in logs[0]
    assert "pg-secret" not in logs[0] + logs[1]
    assert last["storage"] == f"postgresql://ablate:***@127.0.0.1:{port}/studies"


def _workers(tmp_path, postgres, study, *args, seeds=(0, 1)):
    (tmp_path / "pgapp").mkdir(exist_ok=True)
    (tmp_path / "pgapp" / "__main__.py").write_text(APP)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "pgapp", "-m", *args, f"hydra.sweeper.storage={postgres}",
         f"hydra.sweeper.study_name={study}", "hydra.sweeper.n_jobs=1", f"hydra.sweeper.seed={i}",
         f"hydra.sweep.dir={tmp_path / f'{study}{i}'}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in seeds]
    logs = [w.communicate(timeout=180)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * len(workers), logs
    return logs


@pytest.mark.slow
def test_a_design_another_worker_is_running_is_not_started_again(postgres, tmp_path):
    import optuna

    from hydra_plugins.ablate_optuna_sweeper._storage import with_driver

    _workers(tmp_path, postgres, "single", "x=choice(1)", "y=choice(3)", "hydra.sweeper.n_trials=2")
    trials = optuna.load_study(study_name="single", storage=with_driver(postgres)).get_trials()
    ran = [t for t in trials if t.user_attrs.get("copy_of") is None]
    assert len(ran) == 1  # one design, run once by one of the two workers
    folders = [p for i in (0, 1) for p in (tmp_path / f"single{i}").iterdir() if p.name.isdigit()]
    assert len(folders) == 1
    assert all(t.state == optuna.trial.TrialState.COMPLETE and t.values == [(1 - 2.0) ** 2 + 3] for t in trials)


@pytest.mark.slow
def test_a_dead_workers_trial_is_failed_by_its_heartbeat_and_retried(postgres, tmp_path):
    import time
    import warnings

    import optuna

    from hydra_plugins.ablate_optuna_sweeper._storage import with_driver

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = optuna.storages.RDBStorage(with_driver(postgres), heartbeat_interval=1)
        study = optuna.create_study(study_name="dead", storage=storage)
        trial = study.ask()  # a worker on another machine, killed while it ran this trial
    trial.suggest_float("x", -4, 4)
    trial.suggest_categorical("y", [1, 2, 3])
    trial.set_user_attr("worker", "elsewhere:1")
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("dead"), trial.number))
    time.sleep(3.5)  # longer than the grace period of two heartbeat intervals (stored to the second)

    _workers(tmp_path, postgres, "dead", "x=interval(-4,4)", "y=choice(1,2,3)", "hydra.sweeper.n_trials=2",
             "hydra.sweeper.heartbeat_interval=1", seeds=(0,))
    trials = optuna.load_study(study_name="dead", storage=with_driver(postgres)).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].params == trials[0].params and trials[1].system_attrs["failed_trial"] == 0

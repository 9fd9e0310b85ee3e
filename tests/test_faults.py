"""Faults at the system level: `python -m ablate` killed with SIGKILL and run again, readers during writes,
two launches of one sweep, a diverging member.

Every launch is a real `python -m ablate` process on a tiny synthetic task (4 steps an epoch, CPU, one thread,
deterministic). It runs through a small wrapper (`HOOK` below, written to a temporary file) that only adds
what the test needs to see and to aim: a trace of every epoch started, finished and checkpointed, and an
optional fault that SIGKILLs the process at a chosen point (before a training step, half way through a
temporary checkpoint file, just before the rename of the completed record, after the Nth report file). One
kill in each of the sweep tests comes from outside instead, at whatever point the sweep has reached.
After the kills a plain re-launch must finish every run with the same metrics as an uninterrupted in-process
run of the same config, without training again an epoch that a checkpoint already held.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from ablate.config import compose
from ablate.run import app, processes
from ablate.run import record as runs
from ablate.run.lock import LOCK, RunLock
from ablate.run.record import RunRecord
from ablate.run.trainer import CHECKPOINT

pytestmark = pytest.mark.slow

# 128 synthetic 28×28 images in batches of 32: an epoch is 4 steps
SMALL = ["data=synthetic", "data.num_samples=128", "data.val_samples=64", "data.noise=16", "model.depths=[1,1]",
         "model.width=16", "model.bottleneck_width=8", "model.stem_width=16", "optim.batch_size=32"]
# how the runs execute (left out of the config hash and of the member folder names)
RUNTIME = ["trainer.progress=false", "trainer.num_threads=1", "trainer.peak_flops=1e11"]
REPORT = "+hydra.callbacks.report._target_=ablate.report.callback.ReportCallback"
VOLATILE = ("seconds", "images_per_s")  # wall-clock fields of an epoch entry
COUNTS = Counter()  # over the whole file: printed at its end (pytest -s)

HOOK = r'''
"""`python hook.py ARGS` = `python -m ablate ARGS`, plus a trace (ABLATE_TRACE) and a fault (ABLATE_FAULT)."""
import json, os, runpy, signal, sys, time
from pathlib import Path

TRACE, FAULT, BARRIER = (os.environ.get(k) for k in ("ABLATE_TRACE", "ABLATE_FAULT", "ABLATE_BARRIER"))
counts = {}
run = {}


def trace(*fields):
    if TRACE:
        with open(TRACE, "a") as f:
            f.write(json.dumps([os.getpid(), time.monotonic(), *fields]) + "\n")


def hit(kind):
    """Count one event of this kind; SIGKILL this process when it is the chosen one (ABLATE_FAULT=kind:n), or
    wait there for a signal from the test (ABLATE_FAULT=pause:kind:n)."""
    counts[kind] = counts.get(kind, 0) + 1
    if FAULT and FAULT == f"{kind}:{counts[kind]}":
        trace("kill", run.get("dir"), FAULT)
        os.kill(os.getpid(), signal.SIGKILL)
    if FAULT and FAULT == f"pause:{kind}:{counts[kind]}":
        trace("paused", run.get("dir"), FAULT)
        time.sleep(120)  # the signal the test sends ends the wait


import torch
import ablate.run.app as app
import ablate.run.trainer as train
from ablate.data.base import TensorSplit

real_fit, real_epoch, real_save, real_execute = train.fit, train.train_epoch, train.save_checkpoint, app.execute
real_batches, real_fsync, real_replace = TensorSplit.batches, os.fsync, os.replace


def execute(cfg, run_dir, *args, **kwargs):
    if BARRIER and not run.get("met"):  # two launches start their first member together
        Path(BARRIER, str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(os.listdir(BARRIER)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        run["met"] = True
    record, error = real_execute(cfg, run_dir, *args, **kwargs)
    trace("execute", str(run_dir), record.status, record.reason)
    return record, error


def fit(model, data, cfg, device, *, run_dir=None, **kwargs):
    run["dir"] = str(run_dir)
    path = Path(run_dir) / train.CHECKPOINT
    trace("fit", str(run_dir), torch.load(path, weights_only=True)["epoch"] if path.exists() else 0)
    return real_fit(model, data, cfg, device, run_dir=run_dir, **kwargs)


def train_epoch(*args, epoch, **kwargs):
    trace("start", run["dir"], epoch + 1)
    out = real_epoch(*args, epoch=epoch, **kwargs)
    trace("end", run["dir"], epoch + 1)
    return out


def save_checkpoint(path, state):
    real_save(path, state)
    trace("saved", run["dir"], state["epoch"])


def batches(self, batch_size, *, train, **kwargs):
    for batch in real_batches(self, batch_size, train=train, **kwargs):
        if train:
            hit("step")  # step:n dies before the n-th training step of this process
        yield batch


def fsync(fd):
    name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    for target in ("checkpoint.pt", "result.json"):
        if name.startswith(f".{target}.") and FAULT and FAULT.startswith(f"half:{target}:"):
            counts[target] = counts.get(target, 0) + 1
            if FAULT == f"half:{target}:{counts[target]}":  # half a temporary file on disk, then death
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                trace("kill", run.get("dir"), FAULT)
                os.kill(os.getpid(), signal.SIGKILL)
    return real_fsync(fd)


def replace(src, dst, *args, **kwargs):
    dst_path = Path(dst)
    completed = FAULT == "completed-record:1" and dst_path.name == "result.json" and \
        b'"status": "completed"' in Path(src).read_bytes()
    if completed:
        hit("completed-record")  # the completed record is written in full but not yet renamed into place
    out = real_replace(src, dst, *args, **kwargs)
    if dst_path.parent.parent.name == "reports":
        hit("report")  # report:n dies after the n-th report file is in place
    return out


app.execute, train.fit, train.train_epoch, train.save_checkpoint = execute, fit, train_epoch, save_checkpoint
TensorSplit.batches, os.fsync, os.replace = batches, fsync, replace
runpy.run_module("ablate", run_name="__main__", alter_sys=True)
'''


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    print(f"\n[faults] kills tried {COUNTS['kills']}, runs started {COUNTS['started']}, runs completed "
          f"{COUNTS['completed']}, runs resumed {COUNTS['resumed']}, stale temporary files removed "
          f"{COUNTS['temporaries']}, reads during writes {COUNTS['reads']} (torn {COUNTS['torn']}), "
          f"results lost {COUNTS['lost']}")


@pytest.fixture(scope="module")
def hook(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hook") / "hook.py"
    path.write_text(HOOK)
    return path


def launch(hook, args, cwd, trace, fault=None, barrier=None) -> subprocess.Popen:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "ABLATE_TRACE": str(trace)}
    env.pop("ABLATE_FAULT", None)
    if fault:
        env["ABLATE_FAULT"] = fault
    if barrier:
        env["ABLATE_BARRIER"] = str(barrier)
    return subprocess.Popen([sys.executable, str(hook), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(proc, timeout=240) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def events(trace: Path) -> list[list]:
    return [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []


def check_no_epoch_trained_twice(trace_events, epochs: int) -> Counter:
    """No epoch starts once a checkpoint holds it, none is skipped, and every run ends with all epochs
    checkpointed. Returns the counts of fits started and resumed (from a checkpoint) in the trace."""
    saved, counts = {}, Counter()
    for _, _, kind, run_dir, *rest in trace_events:
        if kind == "fit":
            counts["started"] += 1
            counts["resumed"] += rest[0] > 0
            assert rest[0] == saved.get(run_dir, 0), (run_dir, "resumed from another epoch than the last saved")
        elif kind == "start":
            assert rest[0] == saved.get(run_dir, 0) + 1, (run_dir, f"epoch {rest[0]} started after "
                                                                   f"{saved.get(run_dir, 0)} were saved")
        elif kind == "saved":
            saved[run_dir] = rest[0]
    assert saved and all(n == epochs for n in saved.values()), saved
    return counts


def strip(epochs):
    return [{k: v for k, v in asdict(e).items() if k not in VOLATILE} for e in epochs]


def reference(tmp_path, overrides) -> RunRecord:
    """The same config run straight through in this process (no kill)."""
    record = app.run(compose([*overrides, *RUNTIME]), tmp_path / "reference" / "_".join(overrides[-2:]), overrides)
    assert record.status == "completed", record.reason
    return record


def same_result(record: RunRecord, ref: RunRecord) -> bool:
    return (record.status == "completed" and record.config_hash == ref.config_hash
            and strip(record.epochs) == strip(ref.epochs) and record.final == ref.final)


def checkpoint_epoch(run_dir: Path) -> int:
    path = run_dir / CHECKPOINT
    return torch.load(path, weights_only=True)["epoch"] if path.exists() else 0


def temporaries(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.glob(".*.tmp"))


# ----------------------------------------------------------------------------- kill and resume, one run
def test_a_run_killed_at_each_point_resumes_to_the_result_of_a_straight_run(tmp_path, hook):
    overrides = [*SMALL, "optim.epochs=3", "seed=1"]
    ref = reference(tmp_path, overrides)
    run_dir, trace = tmp_path / "run", tmp_path / "trace.jsonl"
    args = [*overrides, *RUNTIME, f"hydra.run.dir={run_dir}"]
    # (fault, checkpoint epoch afterwards, temporary files afterwards)
    chain = [("step:3", 0, 0),                    # in epoch 1, before its first checkpoint
             ("half:checkpoint.pt:2", 1, 1),      # half way through writing epoch 2's checkpoint
             ("step:3", 1, 0),                    # in the middle of epoch 2, after epoch 1's checkpoint
             ("completed-record:1", 3, 1),        # the completed record written but not yet renamed
             (None, 3, 0)]                        # and once more, to the end
    for fault, ckpt, tmps in chain:
        code, out = finish(launch(hook, args, tmp_path, trace, fault))
        assert code == (-signal.SIGKILL if fault else 0), out[-3000:]
        COUNTS["kills"] += fault is not None
        record = RunRecord.load(run_dir)  # always a whole record: status running until the end
        assert record is not None and record.status == ("running" if fault else "completed"), fault
        assert checkpoint_epoch(run_dir) == ckpt, fault  # always a whole checkpoint (weights_only)
        assert len(temporaries(run_dir)) == tmps, (fault, temporaries(run_dir))  # the next holder removes them
        assert not (run_dir / LOCK).exists() or fault  # a clean exit removes its lock file
        COUNTS["temporaries"] += tmps
    counts = check_no_epoch_trained_twice(events(trace), epochs=3)
    assert counts == {"started": 5, "resumed": 3}  # the last three launches resumed from epoch 1, 1 and 3
    final = RunRecord.load(run_dir)
    assert same_result(final, ref), (strip(final.epochs), strip(ref.epochs))
    assert [e.epoch for e in final.epochs] == [1, 2, 3]
    COUNTS.update(started=counts["started"], resumed=counts["resumed"], completed=1)
    print(f"\n[faults] one run: {sum(f is not None for f, _, _ in chain)} kills, {counts['resumed']} resumes, "
          f"final val error {final.final.val_err:.2f}% = straight run's {ref.final.val_err:.2f}%")


# ----------------------------------------------------------------------------- SIGTERM and Ctrl-C
@pytest.mark.parametrize("signum, by, multirun", [(signal.SIGTERM, "SIGTERM", False),
                                                   (signal.SIGINT, "Ctrl-C (SIGINT)", False),
                                                   (signal.SIGINT, "Ctrl-C (SIGINT)", True)])
def test_a_signal_records_the_run_interrupted_exits_with_its_code_and_a_relaunch_resumes(tmp_path, hook, signum, by,
                                                                                          multirun):
    overrides = [*SMALL, "optim.epochs=3", "seed=2"]
    trace, sweep = tmp_path / "trace.jsonl", tmp_path / "sweep"
    where = [f"hydra.sweep.dir={sweep}", "-m"] if multirun else [f"hydra.run.dir={tmp_path / 'run'}"]
    args = [*overrides, *RUNTIME, *where]
    # paused before step 6: in epoch 2 (4 steps an epoch), after epoch 1's checkpoint
    proc = launch(hook, args, tmp_path, trace, fault="pause:step:6")
    deadline = time.monotonic() + 180
    while not any(e[2] == "paused" for e in events(trace)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run_dir = Path(next(e[3] for e in events(trace) if e[2] == "paused"))
    proc.send_signal(signum)
    code, out = finish(proc)
    COUNTS["kills"] += 1
    assert code == 128 + signum, out[-3000:]  # 143, 130: what a shell reports for the signal
    assert "Traceback" not in out
    again = f"hydra.sweep.dir={sweep} (its finished members are kept)" if multirun else f"hydra.run.dir={run_dir}"
    assert [line for line in out.splitlines() if line.startswith("ablate:")] == [
        f"ablate: interrupted by {by} in epoch 2 of 3 of {run_dir}: to resume after epoch 1, run the same command "
        f"with {again}."]
    record = RunRecord.load(run_dir)
    assert record.status == "interrupted"
    assert record.reason == (f"interrupted by {by} in epoch 2 of 3: run it again in the same directory to resume "
                             "after epoch 1.")
    assert [e.epoch for e in record.epochs] == [1] and checkpoint_epoch(run_dir) == 1
    assert record.finished_at is not None and not (run_dir / LOCK).exists() and temporaries(run_dir) == []
    code, out = finish(launch(hook, args, tmp_path, trace))  # the same command again: it resumes
    assert code == 0, out[-3000:]
    assert same_result(RunRecord.load(run_dir), reference(tmp_path, overrides))
    counts = check_no_epoch_trained_twice(events(trace), epochs=3)
    assert counts == {"started": 2, "resumed": 1}
    COUNTS.update(started=2, resumed=1, completed=1)


def test_a_ddp_run_stopped_by_sigterm_says_one_line(tmp_path):
    """Two DDP processes (the CPU default): the job stops them when it is stopped, and stderr holds the one
    line and nothing else; a rank killed while it held a multiprocessing lock (tqdm made one even for a
    disabled bar) left multiprocessing's resource tracker to warn of a leaked semaphore on stderr."""
    run_dir = tmp_path / "run"
    args = [*SMALL, "data.num_samples=512", "optim.epochs=200", "trainer.world_size=2", "trainer.progress=false",
            "trainer.num_threads=2", "trainer.peak_flops=1e11", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "ablate", *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        record = RunRecord.load(run_dir) if (run_dir / runs.RESULT).exists() else None
        if record is not None and record.epochs:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ablate: interrupted by SIGTERM in epoch "), err
    assert RunRecord.load(run_dir).status == "interrupted"


# ----------------------------------------------------------------------------- readers during writes
class Reader(threading.Thread):
    """Polls every record, checkpoint and report file under `roots` and parses each in full."""

    def __init__(self, *roots: Path):
        super().__init__(daemon=True)
        self.roots, self.stop, self.reads, self.torn = roots, threading.Event(), Counter(), []

    def run(self):
        while not self.stop.is_set():
            for root in self.roots:
                for path in list(root.rglob("*")) if root.exists() else []:
                    if path.name.startswith(".") or ".hydra" in path.parts or path.suffix in (".log", ".yaml"):
                        continue  # temporaries (never read), and Hydra's own files (written in place by Hydra)
                    try:
                        data = path.read_bytes()
                    except (FileNotFoundError, IsADirectoryError):
                        continue
                    try:
                        self.parse(path, data)
                        self.reads["checkpoint" if path.name == CHECKPOINT else
                                   "record" if path.name == runs.RESULT else "report"] += 1
                    except Exception as e:  # noqa: BLE001 - any failure to parse is a torn file
                        self.torn.append((str(path), repr(e)[:200]))
            time.sleep(0.005)

    @staticmethod
    def parse(path: Path, data: bytes) -> None:
        if path.name == runs.RESULT:
            assert json.loads(data)["schema_version"] == 2
        elif path.name == CHECKPOINT:
            assert torch.load(io.BytesIO(data), weights_only=True)["format"] == 1
        elif path.suffix == ".csv":
            rows = list(csv.reader(io.StringIO(data.decode())))
            assert rows and len({len(r) for r in rows}) == 1 and data.endswith(b"\n")
        elif path.suffix == ".html":
            assert data.startswith(b"<!doctype html>") and data.endswith(b"</html>\n")
        elif path.suffix == ".svg":
            ET.fromstring(data)
        elif path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
        elif path.suffix in (".md", ".tex"):
            assert data.endswith(b"\n") and len(data) > 10
        elif path.suffix in (".json",):
            json.loads(data)


# ----------------------------------------------------------------------------- kill and resume, a sweep
@pytest.fixture(scope="module")
def killed_sweep(tmp_path_factory, hook):
    """A 3-member sweep (2 epochs each), killed from outside in its second member, then killed in its
    report, then launched a third time; a reader polls every file the whole time."""
    cwd = tmp_path_factory.mktemp("killed")
    sweep, trace = cwd / "sweeps" / "killed", cwd / "trace.jsonl"
    args = [*SMALL, "optim.epochs=2", "seed=0,1,2", *RUNTIME, f"hydra.sweep.dir={sweep}", REPORT, "-m"]
    reader = Reader(sweep, cwd / "reports")
    reader.start()
    states, outputs = [], []
    try:
        proc = launch(hook, args, cwd, trace)  # 1: killed from outside once seed=1 has a finished epoch
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            record = next((RunRecord.load(p.parent) for p in sweep.glob("*seed=1*/result.json")), None)
            if record and record.epochs:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        outputs.append(finish(proc))
        states.append(_state(sweep, cwd))
        outputs.append(finish(launch(hook, args, cwd, trace, fault="report:3")))  # 2: dies in the report
        states.append(_state(sweep, cwd))
        outputs.append(finish(launch(hook, args, cwd, trace)))  # 3: skips all three, writes the report
        states.append(_state(sweep, cwd))
    finally:
        reader.stop.set()
        reader.join()
    refs = {seed: reference(cwd, [*SMALL, "optim.epochs=2", f"seed={seed}"]) for seed in (0, 1, 2)}
    return {"sweep": sweep, "cwd": cwd, "trace": events(trace), "states": states, "outputs": outputs,
            "reader": reader, "refs": refs}


def _state(sweep: Path, cwd: Path) -> dict:
    members = {p.parent.name: RunRecord.load(p.parent) for p in sweep.glob("*/result.json")}
    return {"members": {m: (r.status, len(r.epochs), checkpoint_epoch(sweep / m)) for m, r in members.items()},
            "report": sorted(p.name for p in (cwd / "reports" / "killed").glob("*")) if (cwd / "reports").exists()
            else []}


def test_a_killed_sweep_finishes_every_member_with_straight_run_results(killed_sweep):
    (code1, out1), (code2, out2), (code3, out3) = killed_sweep["outputs"]
    assert code1 == -signal.SIGKILL and code2 == -signal.SIGKILL, (out1[-2000:], out2[-2000:])
    assert code3 == 0, out3[-3000:]
    first = {m.rsplit(",", 1)[1]: state for m, state in killed_sweep["states"][0]["members"].items()}
    assert any(status == "running" for status, _, _ in first.values()), first  # the kill caught a member
    assert sum(status == "completed" for status, _, _ in first.values()) < 3
    sweep, refs = killed_sweep["sweep"], killed_sweep["refs"]
    records = {int(r.config["seed"]): r for r in (RunRecord.load(p.parent) for p in sweep.glob("*/result.json"))}
    assert sorted(records) == [0, 1, 2]  # no member left out
    lost = [seed for seed, r in records.items() if not same_result(r, refs[seed])]
    assert lost == []
    assert out3.count("already holds this completed run") == 3  # the third launch trained nothing
    counts = check_no_epoch_trained_twice(killed_sweep["trace"], epochs=2)
    assert counts["resumed"] >= 1  # seed=1 went on from its checkpoint
    COUNTS.update(kills=2, started=counts["started"], resumed=counts["resumed"], completed=len(records),
                  lost=len(lost))
    print(f"\n[faults] sweep: 2 kills (one from outside in member seed=1, one in the report), members after the "
          f"first kill (status, epochs recorded, epochs checkpointed) {first}, {counts['started']} runs started, "
          f"{counts['resumed']} resumed, 3 of 3 completed")


def test_a_report_killed_half_way_is_whole_file_by_file_and_complete_after_a_relaunch(killed_sweep):
    cwd = killed_sweep["cwd"]
    partial = killed_sweep["states"][1]["report"]
    # killed after its third file: the write test (a hidden file its death left behind), runs.csv, epochs.csv
    assert [n for n in partial if not n.startswith(".")] == ["epochs.csv", "runs.csv"]
    final = killed_sweep["states"][2]["report"]
    for name in ("index.html", "runs.csv", "epochs.csv", "table.md", "table.csv", "table.tex"):
        assert name in final
    report = cwd / "reports" / "killed"
    for path in report.iterdir():
        if not path.name.startswith("."):
            Reader.parse(path, path.read_bytes())
    with open(report / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((int(r["seed"]), r["status"]) for r in rows) == [(0, "completed"), (1, "completed"),
                                                                  (2, "completed")]


def test_a_reader_polling_during_the_writes_never_sees_a_torn_file(killed_sweep):
    reader = killed_sweep["reader"]
    assert reader.torn == []
    assert reader.reads["record"] > 0 and reader.reads["checkpoint"] > 0 and reader.reads["report"] > 0
    COUNTS.update(reads=sum(reader.reads.values()), torn=len(reader.torn))
    print(f"\n[faults] polling reader: {dict(reader.reads)} whole files parsed, {len(reader.torn)} torn")


def test_atomic_writes_under_a_reader_in_another_process(tmp_path):
    """A writer process replaces a 256 kB record and a checkpoint 60 times each; this process reads them in
    a loop: every read parses and is one of the versions written."""
    writer = (
        "import io, sys, torch\n"
        "from pathlib import Path\n"
        "from ablate.run.record import atomic_write_json\n"
        "from ablate.run.trainer import save_checkpoint\n"
        "d = Path(sys.argv[1])\n"
        "for i in range(60):\n"
        "    atomic_write_json(d / 'result.json', {'schema_version': 1, 'i': i, 'pad': 'x' * (1 << 18)})\n"
        "    save_checkpoint(d / 'checkpoint.pt', {'format': 1, 'i': i, 'w': torch.full((1 << 16,), float(i))})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(tmp_path)])
    seen, torn = Counter(), []
    while proc.poll() is None:
        for path in (tmp_path / "result.json", tmp_path / "checkpoint.pt"):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            try:
                if path.suffix == ".json":
                    obj = json.loads(data)
                    assert len(obj["pad"]) == 1 << 18
                else:
                    obj = torch.load(io.BytesIO(data), weights_only=True)
                    assert bool((obj["w"] == obj["i"]).all())
                seen[path.name, obj["i"]] += 1
            except Exception as e:  # noqa: BLE001
                torn.append(repr(e)[:200])
    assert proc.wait() == 0
    assert torn == []
    assert len(seen) > 10  # it did read during the writes, many versions of each
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "result.json"]  # no temporaries left
    COUNTS.update(reads=sum(seen.values()))


# ----------------------------------------------------------------------------- the lock
def test_a_held_run_directory_is_skipped_and_nothing_is_written_there(tmp_path):
    overrides = [*SMALL, "optim.epochs=1"]
    run_dir = tmp_path / "run"
    (run_dir / "sub").mkdir(parents=True)
    (run_dir / "sub" / "file").write_text("something of the holder's")
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    holder = RunLock(run_dir)
    assert holder.acquire()
    try:
        record, error = app.execute(compose([*overrides, *RUNTIME]), run_dir, overrides)
        assert record.status == "failed" and error is not None
        assert record.reason == (f"the run directory {run_dir} is in use by another ablate process (pid "
                                    f"{os.getpid()} on {socket.gethostname()}): this launch leaves it alone, and the "
                                    "other one records the run.")
        after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != LOCK}
        assert after == before  # no record, no checkpoint, nothing
    finally:
        holder.release()
    assert not (run_dir / LOCK).exists()
    record, _ = app.execute(compose([*overrides, *RUNTIME]), run_dir, overrides)  # free again: it trains
    assert record.status == "completed" and not (run_dir / LOCK).exists()


def test_the_lock_dies_with_its_holder_and_its_leftovers_go(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom ablate.run.lock import RunLock\n"
                               "assert RunLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(120)\n",
         str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = RunLock(run_dir)
        assert not lock.acquire()
        assert f"(pid {holder.pid} on " in str(lock.busy())
        (run_dir / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # as a killed writer leaves
        (run_dir / "result.json").write_text("{}")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    COUNTS["kills"] += 1
    assert (run_dir / LOCK).exists()  # a SIGKILLed holder cannot clean up ...
    with RunLock(run_dir) as lock:  # ... yet its lock is gone with it
        assert lock.held
        assert temporaries(run_dir) == [] and (run_dir / "result.json").exists()  # only temporaries go
        assert not RunLock(run_dir).acquire()  # and held means held, in this process too
    assert not (run_dir / LOCK).exists()


def test_two_launches_of_one_sweep_train_each_member_once(tmp_path, hook):
    sweep, trace, barrier = tmp_path / "sweeps" / "twice", tmp_path / "trace.jsonl", tmp_path / "barrier"
    barrier.mkdir()
    args = [*SMALL, "optim.epochs=2", "seed=0,1", *RUNTIME, f"hydra.sweep.dir={sweep}", "-m"]
    procs = [launch(hook, args, tmp_path, trace, barrier=barrier) for _ in range(2)]
    results = [finish(p) for p in procs]
    for code, out in results:
        assert code == 0, out[-3000:]
    trace_events = events(trace)
    check_no_epoch_trained_twice(trace_events, epochs=2)
    # each (member, epoch) trained exactly once, by one process
    starts = Counter((run_dir, epoch) for _, _, kind, run_dir, epoch, *_ in trace_events if kind == "start")
    assert len(starts) == 4 and set(starts.values()) == {1}
    busy = [e for e in trace_events if e[2] == "execute" and "is in use by another ablate process" in (e[5] or "")]
    assert busy, "the two launches never met at a member"
    for _, _, _, run_dir, _, reason in busy:
        assert reason.startswith(f"the run directory {run_dir} is in use by another ablate process (pid ")
    records = [RunRecord.load(p.parent) for p in sweep.glob("*/result.json")]
    assert sorted((r.config["seed"], r.status, len(r.epochs)) for r in records) == [(0, "completed", 2),
                                                                                             (1, "completed", 2)]
    assert not list(sweep.glob(f"*/{LOCK}"))
    COUNTS.update(started=sum(e[2] == "fit" for e in trace_events), completed=2)
    print(f"\n[faults] two launches of one sweep: {len(busy)} member(s) found busy and skipped, each of 4 epochs "
          f"trained once")


# ----------------------------------------------------------------------------- divergence
def test_a_diverging_member_is_recorded_and_reported_and_the_sweep_goes_on(tmp_path):
    sweep = tmp_path / "sweeps" / "diverge"
    args = [*SMALL, "optim.epochs=2", "optim.warmup_epochs=0", "optim.lr=1e30,0.1", *RUNTIME, "trainer.log_every=1",
            f"hydra.sweep.dir={sweep}", REPORT, "-m"]
    proc = subprocess.run([sys.executable, "-m", "ablate", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {r.config["optim"]["lr"]: (r, p.parent) for r, p in
               ((RunRecord.load(p.parent), p) for p in sweep.glob("*/result.json"))}
    diverged, where = records[1e30]
    assert diverged.status == "diverged"
    assert diverged.reason.startswith("the training loss stopped being finite in epoch 1 (at step ")
    assert diverged.reason.endswith("at optim.lr=1e+30: lower the learning rate or add warm-up.")
    assert not (where / CHECKPOINT).exists()  # a diverged epoch is never checkpointed
    assert records[0.1][0].status == "completed" and len(records[0.1][0].epochs) == 2  # the sweep went on
    report = tmp_path / "reports" / "diverge"
    with open(report / "runs.csv") as f:
        statuses = {float(r["overrides"].split("optim.lr=")[1].split()[0]): r["status"] for r in csv.DictReader(f)}
    assert statuses == {1e30: "diverged", 0.1: "completed"}
    page = (report / "index.html").read_text()
    assert "<b>diverged</b>" in page and "lower the learning rate or add warm-up." in page
    assert "diverged" in (report / "table.md").read_text()
    # the same command again: both outcomes are final, so nothing trains and nothing changes
    before = {p: p.read_bytes() for p in sweep.glob("*/result.json")}
    again = subprocess.run([sys.executable, "-m", "ablate", *args], cwd=tmp_path, capture_output=True, text=True,
                           timeout=240, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: p.read_bytes() for p in sweep.glob("*/result.json")} == before
    assert "already holds this diverged run" in again.stdout + again.stderr
    assert "epoch 1/2:" not in again.stdout + again.stderr  # no epoch was trained


def test_a_ddp_run_whose_data_is_missing_says_one_line(tmp_path):
    """Data that cannot be found or fetched is refused in the job, before any DDP process starts: each rank found
    it missing at once (and would each have downloaded it, into the same files), and torch's process start warned
    on stderr that it was terminating the other rank."""
    empty = tmp_path / "empty"
    empty.mkdir()
    run_dir = tmp_path / "run"
    args = ["data=fashion_mnist", f"data.root={empty}", "data.download=false", "trainer.world_size=2",
            "trainer.num_threads=2", "trainer.progress=false", "trainer.peak_flops=1e11", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run([sys.executable, "-m", "ablate", *args], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"ablate: Fashion-MNIST is missing: train-images-idx3-ubyte.gz is not in {empty}; run `apt-get install "
        "dataset-fashion-mnist`, put the four idx files in data.root, or set data.download=true."
    ), proc.stderr


def test_data_is_fetched_once_before_the_ddp_processes_start(tmp_path, monkeypatch):
    """The job prepares the data set (finds it, downloads what is missing) before it starts its DDP processes,
    so a refusal starts none and a download is made once, not by every rank into the same files."""
    import torch.multiprocessing as mp

    from ablate.errors import DataError

    started = []
    monkeypatch.setattr(mp, "start_processes", lambda *a, **k: started.append(a) or pytest.fail("a rank started"))
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = compose(["data=fashion_mnist", f"data.root={empty}", "data.download=false", "trainer.world_size=2"])
    plan = processes.RunPlan(cfg=cfg, template=None, form="c", expected={}, threads=1, world_size=2, seed=0,  # type: ignore[arg-type]
                       job_num=None, run_dir=tmp_path)
    with pytest.raises(DataError, match="Fashion-MNIST is missing"):
        processes.train(plan)
    assert started == []


@pytest.mark.parametrize("bad, sentence", [
    (["trainer.world_size=3"],
     "ablate: optim.batch_size=32 does not split over trainer.world_size=3 processes: make it a multiple of the "
     "world size."),
    (["trainer.world_size=2", "optim.batch_size=200"],  # refused with the config: synthetic data's size is known
     "ablate: optim.batch_size=200 is larger than the 128 training images of synthetic/train: lower the batch size "
     "or use more images."),
    ("folders", "ablate: optim.batch_size=14 gives each of the 2 DDP processes batches of 7, more than the 6 training "
                "images each gets from imagenet/train: lower the batch size or use more images."),
], ids=["world-size", "batch-too-large", "batch-too-large-for-a-rank"])
def test_a_ddp_run_refused_by_its_ranks_says_one_line(tmp_path, bad, sentence):
    """A refusal that only the DDP processes can make (they hold the data) is one line on stderr: when the first
    rank fails, torch's process start terminates the others and warned about each on stderr. A batch above a rank's
    share needs a data set whose size only loading tells (class folders: 12 training images here); of one whose
    size the config tells, a batch that fits the whole split fits each rank's share."""
    data = SMALL
    if bad == "folders":
        image = pytest.importorskip("PIL.Image")
        for split, count in (("train", 4), ("val", 2)):
            for k in range(3):
                folder = tmp_path / "folders" / split / f"n0{k}"
                folder.mkdir(parents=True)
                for i in range(count):
                    image.new("RGB", (20, 20), (80 * k, 0, 0)).save(folder / f"{i}.png")
        data = [s for s in SMALL if not s.startswith("data.")]
        data[data.index("data=synthetic")] = "data=imagenet"
        bad = [f"data.root={tmp_path / 'folders'}", "data.resolution=16", "data.resize=18", "data.workers=0",
               "model.in_channels=3", "model.resolution=16", "model.num_classes=3", "trainer.world_size=2",
               "optim.batch_size=14"]
    args = [*data, *bad, "trainer.num_threads=2", "trainer.progress=false", "trainer.peak_flops=1e11",
            f"hydra.run.dir={tmp_path / 'run'}"]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run([sys.executable, "-m", "ablate", *args], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == sentence, proc.stderr


ROOT = Path(__file__).resolve().parents[1]


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (Linux)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ddp_processes_end_with_the_run_killed_from_outside(tmp_path):
    """`kill -9` of a run's own process (not its group) left its two DDP processes training on, orphaned, writing
    the checkpoint of the folder that the same command, run again, resumed from (found by hand: a killed search's
    retried trial resumed after epoch 4 although the kill came in epoch 3). They now end with it."""
    args = [sys.executable, "-m", "ablate", "data=synthetic", "data.num_samples=256", "data.val_samples=64",
            "model.depths=[1,1]", "model.width=16", "model.stem_width=16", "optim.batch_size=32", "optim.epochs=500",
            "trainer.world_size=2", "trainer.num_threads=1", "trainer.progress=false", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ranks: set[int] = set()
    try:
        for line in proc.stdout:
            if "epoch 1/500" in line:
                break
        ranks = _descendants(proc.pid)
        assert len(ranks) >= 2  # the two DDP processes (and the fork server they came from)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60
        while ranks & _alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not ranks & _alive(), "DDP processes outlived their run"
    finally:
        for pid in ranks & _alive():
            os.kill(pid, signal.SIGKILL)
        proc.kill()


def _alive() -> set[int]:
    alive = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.add(int(stat.parent.name))
        except OSError:
            continue
    return alive


def test_a_lock_taken_but_not_yet_signed_still_names_its_holder(tmp_path):
    """Found by CI (2026-12-03, test_two_launches_…): the second launch reads the lock file between the first's flock
    and its write of `pid host`, finds it empty, and says `(unknown)`. The holder writes right after the flock, so a
    reader waits a moment for the signature."""
    import socket
    import threading

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK).write_text("")  # created and locked, not yet signed
    signer = threading.Timer(0.05, lambda: (run_dir / LOCK).write_text(f"4242 {socket.gethostname()}\n"))
    signer.start()
    try:
        assert RunLock(run_dir).holder() == f"pid 4242 on {socket.gethostname()}"
    finally:
        signer.join()
    (run_dir / LOCK).write_text("")
    assert RunLock(run_dir).holder() == "unknown"  # never signed (a holder killed in between): said, not waited on

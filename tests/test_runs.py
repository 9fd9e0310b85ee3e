"""The run record: atomic writes, the config hash, completion, the record's sections (no training)."""

import json
import math
import os
import re
import stat
from dataclasses import asdict
from pathlib import Path

import pytest

from ablate.budget import Budget, solve
from ablate.config import load_template
from ablate.engine.complexity import complexity
from ablate.run import record as runs
from ablate.run.record import (BestSection, BudgetSection, ComplexitySection, Epoch, ModelSection, RecordError,
                               RunRecord)


def config(**changes) -> dict:
    base = {"model": {"name": "tiny", "cardinality": 1}, "optim": {"lr": 0.1, "epochs": 3}, "seed": 0,
            "trainer": {"device": "auto", "progress": True, "num_threads": None, "precision": "auto"},
            "data": {"name": "fashion_mnist", "root": None}}
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = base
        for key in parents:
            node = node[key]
        node[last] = value
    return base


def test_atomic_write_json_replaces_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "sub" / "result.json"
    runs.atomic_write_json(path, {"a": 1})
    runs.atomic_write_json(path, {"a": 2, "loss": float("nan"), "x": [float("inf"), 1.5]})
    assert json.loads(path.read_text()) == {"a": 2, "loss": None, "x": [None, 1.5]}  # strict JSON: no NaN
    assert os.listdir(path.parent) == ["result.json"]


def test_atomic_write_bytes_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.bin"
    runs.atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError):
        runs.atomic_write_bytes(path, "not bytes")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_config_hash_is_canonical_and_ignores_runtime_keys():
    h = runs.config_hash(config())
    assert len(h) == 16 and int(h, 16) >= 0
    assert runs.config_hash(dict(reversed(list(config().items())))) == h  # key order does not matter
    assert runs.config_hash(config(trainer__device="cuda:3", trainer__progress=False, trainer__num_threads=1,
                                   data__root="/elsewhere")) == h
    assert runs.config_hash(config(optim__lr=0.2)) != h
    assert runs.config_hash(config(seed=1)) != h
    assert runs.config_hash(config(trainer__precision="bf16")) != h
    assert "device" not in runs.hashed_config(config())["trainer"]


def test_load_and_is_completed(tmp_path):
    assert RunRecord.load(tmp_path) is None
    (tmp_path / runs.RESULT).write_text("{not json")
    assert RunRecord.load(tmp_path) is None
    record = RunRecord.new(config(), ["seed=0"], 3)
    record.save(tmp_path)
    assert not RunRecord.load(tmp_path).is_completed(record.config_hash)  # still running
    record.finish("completed")
    record.save(tmp_path)
    assert RunRecord.load(tmp_path).is_completed(record.config_hash)
    assert not RunRecord.load(tmp_path).is_completed(runs.config_hash(config(seed=1)))
    assert RunRecord.load(tmp_path).overrides == ["seed=0"]
    assert RunRecord.load(tmp_path) == record


def test_new_record_has_every_field_of_the_schema():
    record = RunRecord.new(config(), ["model.cardinality=8"], None).to_dict()
    assert set(record) == {"schema_version", "status", "reason", "config", "config_hash", "overrides", "job_num",
                           "model", "budget", "epochs", "final", "best", "env", "started_at", "finished_at",
                           "wall_seconds", "throughput", "same_as"}
    assert record["schema_version"] == 2 and record["status"] == "running" and record["same_as"] is None
    older = {k: v for k, v in record.items() if k != "same_as"}  # written before same_as: read as None
    assert RunRecord.from_dict(older).same_as is None
    assert RunRecord.from_dict({**record, "same_as": "model.cardinality=8"}).same_as == "model.cardinality=8"
    assert set(record["env"]) == {"torch", "python", "device", "threads", "seed", "git_commit", "hostname",
                                  "gpu", "gpu_capability", "cuda", "cudnn", "world_size", "cpu"}
    assert set(record["throughput"]) == {"images_per_s", "train_flops_per_s", "precision", "peak_flops",
                                         "machine_fraction", "fp32_peak_flops", "fp32_fraction"}


def test_finish_summarises_epochs():
    record = RunRecord.new(config())
    for epoch, err in ((1, 30.0), (2, 12.5), (3, 14.0)):
        record.epochs.append(Epoch(epoch=epoch, train_loss=1.0 / epoch, train_err=err + 1, val_loss=0.5,
                                   val_err=err, val_top5_err=1.0, lr=0.1, seconds=2.0, images_per_s=100.0))
    record.finish("completed", wall_seconds=6.25)
    assert asdict(record.final) == {"val_err": 14.0, "val_top5_err": 1.0, "val_loss": 0.5, "train_err": 15.0,
                                    "train_loss": 1 / 3}
    assert asdict(record.best) == {"val_err": 12.5, "epoch": 2}
    assert record.wall_seconds == 6.25 and record.finished_at >= record.started_at
    with pytest.raises(ValueError, match="status='done' is unknown"):
        record.finish("done")


def test_model_and_budget_sections_match_the_engine():
    template = load_template("resnext50_32x4d")
    section = ModelSection.of("resnext50_32x4d", "c", template)
    assert asdict(section.complexity) == complexity(template).as_dict()
    assert section.template == template.to_dict()
    assert [s.name for s in section.stages] == ["conv2", "conv3", "conv4", "conv5"]
    # Table 1: ResNeXt-50 (32×4d) has C=32 and a group width of 128 in conv2, 1024 in conv5
    assert section.stages[0].group_width == 128 and section.stages[3].group_width == 1024
    assert section.stages[3].resolution == 7
    budget = Budget.relative(load_template("resnet50"), metric="params", name="resnet50")
    solution = solve(load_template("resnet50").replace(cardinality=32), budget)
    b = BudgetSection.of(solution)
    assert b.value == 4 and b.vary == "bottleneck_width"  # Table 2: 32×4d matches ResNet-50
    assert math.isclose(b.deviation, solution.achieved / budget.target - 1)
    assert (b.scale, b.reference, b.tolerance) == (1.0, "resnet50", budget.tolerance)
    assert section.counted == "analytic"


# ----------------------------------------------------------------------------- reading what earlier versions wrote
V1 = Path(__file__).parent / "data" / "result_v1.json"  # written by `python -m ablate` before RunRecord existed


def test_every_number_of_a_record_is_named_by_number_keys():
    """A sweeper's objectives and constraints are checked against `number_keys` before any trial runs: every number
    a written record holds (sections, list entries, the template, the config) must be among them."""
    data = RunRecord.read(V1).to_dict()
    keys = runs.number_keys(data["config"])

    def leaves(node, key):
        if isinstance(node, dict):
            return [k for name, value in node.items() for k in leaves(value, f"{key}.{name}" if key else name)]
        if isinstance(node, list):
            return [k for i, value in enumerate(node) for k in leaves(value, f"{key}.{i}")]
        return [key] if isinstance(node, (int, float)) and not isinstance(node, bool) else []

    found = leaves(data, "")
    assert len(found) > 40 and [k for k in found if not runs.is_number_key(k, keys)] == []
    assert {"model.complexity.flops", "budget.deviation", "config.optim.lr", "model.template.width"} <= set(keys)
    assert runs.is_number_key("epochs.7.val_err", keys) and not runs.is_number_key("epochs.x.val_err", keys)
    assert not {"model.complexity.flop", "status", "model.template.shortcut", "config.model.name"} & set(keys)


def test_a_version_1_record_reads_field_by_field_and_writes_back_the_same_json_plus_version_2_fields(tmp_path):
    record = RunRecord.read(V1)
    assert record.status == "completed" and record.reason is None and record.job_num == 4
    assert record.config["seed"] == 7 and record.overrides[-1] == "seed=7"
    assert record.model.name == "tiny" and record.model.form == "c" and record.model.template["bottleneck_width"] == 5
    assert [(s.name, s.resolution, s.group_width) for s in record.model.stages] == [("conv2", 28, 10),
                                                                                    ("conv3", 14, 20)]
    assert record.model.complexity == ComplexitySection(params=4828, flops=1546368, acts=72922)
    assert (record.budget.metric, record.budget.vary, record.budget.value, record.budget.target,
            record.budget.achieved) == ("params", "bottleneck_width", 5, 5178, 4828)
    assert [e.epoch for e in record.epochs] == [1, 2] and record.epochs[1].lr == 0.0
    assert record.final.val_err == record.epochs[-1].val_err == 80.46875
    assert record.best == BestSection(val_err=80.46875, epoch=1)
    assert record.env.seed == 7 and record.env.threads == 1 and record.env.device == "cpu"
    assert record.throughput.precision == "bf16" and record.throughput.peak_flops == 1e11
    assert record.throughput.fp32_fraction is None
    # every version-1 key keeps its value (readers of the JSON: reports, sweeper keys, user scripts); version 2
    # only adds keys, null where a version-1 record did not know them
    v1, written = json.loads(V1.read_text()), record.to_dict()
    added = {"model": {"counted"}, "budget": {"scale", "reference"}, "env": {"gpu", "gpu_capability", "cuda", "cudnn", "world_size", "cpu"}}
    assert written["schema_version"] == 2
    for key, value in v1.items():
        if key in added:
            assert {k: v for k, v in written[key].items() if k not in added[key]} == value
            assert all(written[key][k] is None for k in added[key])
        elif key != "schema_version":
            assert written[key] == value, key
    record.save(tmp_path)
    assert json.loads((tmp_path / runs.RESULT).read_text()) == written
    # the hash of its config is the one it recorded: a v1 run is recognised as done by this code
    assert runs.config_hash(record.config) == record.config_hash


@pytest.mark.parametrize("text, why", [
    ("", "Expecting value"),
    ('{"status": "compl', "Unterminated string"),
    ("[1, 2]", "it is not a JSON object"),
    ('{"status": "completed"}', "its schema_version is None: this ablate reads versions 1 to 2"),
    ('{"schema_version": 3, "status": "completed"}', "its schema_version is 3"),
    ('{"schema_version": 1}', "its status is None, not a text such as 'completed'"),
    ('{"schema_version": 1, "status": "failed", "epochs": 3}', "its epochs are not a list"),
    ('{"schema_version": 1, "status": "failed", "epochs": [7]}', "its epochs entry is int, not an object"),
    ('{"schema_version": 1, "status": "failed", "model": [1]}', "its model is list, not an object"),
    ('{"schema_version": 1, "status": "failed", "model": {"template": [1]}}', "a section does not fit the record"),
])
def test_a_damaged_record_is_none_to_load_and_says_why_to_read(tmp_path, text, why):
    (tmp_path / runs.RESULT).write_text(text)
    assert RunRecord.load(tmp_path) is None
    with pytest.raises(RecordError, match=re.escape(why)):
        RunRecord.read(tmp_path / runs.RESULT)


def test_a_record_saves_atomically_as_strict_json(tmp_path):
    record = RunRecord.new(config())
    record.epochs.append(Epoch(epoch=1, train_loss=float("nan"), train_err=90.0, val_loss=float("inf"), val_err=90.0,
                               val_top5_err=50.0, lr=0.1, seconds=1.0, images_per_s=10.0))
    record.finish("diverged", "the loss stopped being finite.", wall_seconds=1.0)
    path = record.save(tmp_path / "run")
    assert os.listdir(path.parent) == [runs.RESULT]
    loaded = RunRecord.load(path.parent)
    assert loaded.epochs[0].train_loss is None and loaded.epochs[0].val_loss is None  # JSON has no NaN
    assert loaded.final.val_loss is None and loaded.best == BestSection(val_err=90.0, epoch=1)
    assert loaded.status == "diverged" and loaded.is_final and not loaded.is_completed(record.config_hash)


def test_pruned_is_final_like_completed_and_diverged_while_interrupted_resumes():
    record = RunRecord.new(config())
    for status, final in (("completed", True), ("diverged", True), ("pruned", True), ("failed", False),
                          ("interrupted", False), ("running", False)):
        record.status = status
        assert record.is_final is final, status


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_take_the_users_umask_as_any_file_does(tmp_path, umask, mode):
    """Found by hand: every file ablate writes (result.json, checkpoints, metrics.csv, the whole report) was mode
    0600 whatever the umask (`tempfile.mkstemp` makes private files, and the rename keeps the mode), while Hydra's
    files beside them were 0644: a colleague on a shared file system could not read a sweep's results or open its
    report. A written file has the mode `open` gives a new file: 0666 less the umask."""
    from ablate.run.record import atomic_write_bytes

    before = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "new.json", b"{}")
        (tmp_path / "old.json").write_bytes(b"")
        os.chmod(tmp_path / "old.json", 0o600)
        atomic_write_bytes(tmp_path / "old.json", b"{}")  # a file written again: a new file, the same rule
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "old.json").stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "old.json"]  # no temporary file left

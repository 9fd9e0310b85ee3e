"""The run record: atomic writes, the config hash, completion, the record's sections (no training)."""

import json
import math
import os

import pytest

from ablate.run import record as runs
from ablate.budget import Budget, solve
from ablate.engine.complexity import complexity
from ablate.config import load_template


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


def test_read_result_and_is_completed(tmp_path):
    assert runs.read_result(tmp_path) is None
    (tmp_path / runs.RESULT).write_text("{not json")
    assert runs.read_result(tmp_path) is None
    record = runs.new_record(config(), ["seed=0"], 3)
    runs.write_result(tmp_path, record)
    assert not runs.is_completed(tmp_path, record["config_hash"])  # still running
    runs.finish(record, "completed")
    runs.write_result(tmp_path, record)
    assert runs.is_completed(tmp_path, record["config_hash"])
    assert not runs.is_completed(tmp_path, runs.config_hash(config(seed=1)))
    assert runs.read_result(tmp_path)["overrides"] == ["seed=0"]


def test_new_record_has_every_field_of_the_schema():
    record = runs.new_record(config(), ["model.cardinality=8"], None)
    assert set(record) == {"schema_version", "status", "reason", "config", "config_hash", "overrides", "job_num",
                           "model", "budget", "epochs", "final", "best", "env", "started_at", "finished_at",
                           "wall_seconds", "throughput"}
    assert record["schema_version"] == 1 and record["status"] == "running"
    assert set(record["env"]) == {"torch", "python", "device", "threads", "seed", "git_commit", "hostname"}
    assert set(record["throughput"]) == {"images_per_s", "train_flops_per_s", "precision", "peak_flops",
                                         "machine_fraction", "fp32_peak_flops", "fp32_fraction"}


def test_finish_summarises_epochs():
    record = runs.new_record(config())
    for epoch, err in ((1, 30.0), (2, 12.5), (3, 14.0)):
        record["epochs"].append({"epoch": epoch, "train_loss": 1.0 / epoch, "train_err": err + 1, "val_loss": 0.5,
                                 "val_err": err, "val_top5_err": 1.0, "lr": 0.1, "seconds": 2.0,
                                 "images_per_s": 100.0})
    runs.finish(record, "completed", wall_seconds=6.25)
    assert record["final"] == {"val_err": 14.0, "val_top5_err": 1.0, "val_loss": 0.5, "train_err": 15.0,
                               "train_loss": 1 / 3}
    assert record["best"] == {"val_err": 12.5, "epoch": 2}
    assert record["wall_seconds"] == 6.25 and record["finished_at"] >= record["started_at"]
    with pytest.raises(ValueError, match="status='done' is unknown"):
        runs.finish(record, "done")


def test_model_and_budget_sections_match_the_engine():
    template = load_template("resnext50_32x4d")
    section = runs.model_section("resnext50_32x4d", "c", template)
    assert section["complexity"] == complexity(template).as_dict()
    assert section["template"] == template.to_dict()
    assert [s["name"] for s in section["stages"]] == ["conv2", "conv3", "conv4", "conv5"]
    # Table 1: ResNeXt-50 (32×4d) has C=32 and a group width of 128 in conv2, 1024 in conv5
    assert section["stages"][0]["group_width"] == 128 and section["stages"][3]["group_width"] == 1024
    assert section["stages"][3]["resolution"] == 7
    budget = Budget.relative("resnet50", metric="params")
    solution = solve(load_template("resnet50").replace(cardinality=32), budget)
    b = runs.budget_section(solution, budget)
    assert b["value"] == 4 and b["vary"] == "bottleneck_width"  # Table 2: 32×4d matches ResNet-50
    assert math.isclose(b["deviation"], solution.achieved / budget.target - 1)
    assert runs.budget_section(None, None) is None

"""The time-to-result and profile benchmarks' bookkeeping (their timings are measured by hand, never in tests)."""

import pytest

from benchmarks import step_profile as profile
from benchmarks import time_to_result


def test_profile_groups_operators_by_what_they_do():
    names = ["aten::convolution_backward", "aten::mkldnn_convolution", "aten::native_batch_norm_backward",
             "aten::threshold_backward", "aten::relu_", "aten::add_", "aten::_foreach_add_", "aten::_to_copy",
             "aten::log_softmax", "aten::empty"]
    assert [profile._group(n) for n in names] == [
        "conv backward", "conv forward", "BatchNorm", "ReLU", "ReLU", "add (shortcuts)", "optimizer",
        "dtype casts (autocast)", "loss and head", "other"]


def test_time_to_result_jobs_are_the_readme_commands_and_targets():
    assert time_to_result.JOBS["default"][:3] == ([], False, 150)
    assert time_to_result.JOBS["main"][:3] == (["+sweep=cardinality_vs_width", "-m"], True, 480)
    assert time_to_result.JOBS["seeds"][:3] == (["+sweep=cardinality_vs_width", "-m", "seed=0,1,2"], True, 1500)


def test_time_to_result_refuses_an_unknown_job(capsys):
    with pytest.raises(SystemExit) as e:
        time_to_result.main(["--only", "main,everything"])
    assert e.value.code == 2
    assert "--only 'everything' is not a job: valid jobs are default, main, seeds." in capsys.readouterr().err


def test_time_to_result_table(tmp_path):
    report = {"machine": {"cpu": "AMD EPYC", "cores": 2, "load_average_start": (0.1, 0, 0), "load_average": (1, 1, 1)},
              "jobs": [{"job": "default", "command": "python -m ablate ", "wall_seconds": 131.4, "target_seconds": 150,
                        "members": 1, "min_accuracy": 90.42, "accuracy_floor": 90.0, "met": True}]}
    lines = time_to_result.markdown(report).splitlines()
    assert lines[0] == "# Time to result (AMD EPYC, 2 cores)"
    assert lines[4] == "| default | `python -m ablate ` | 131 s | ≤ 150 s | 1 | 90.42% (≥ 90%) | yes |"

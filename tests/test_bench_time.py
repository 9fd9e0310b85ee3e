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


@pytest.mark.parametrize("only", [",", ""])
def test_time_to_result_refuses_an_only_that_names_no_job(only, capsys, tmp_path):
    """Found by hand: `--only ,` ran nothing and rewrote the committed report's machine and load average, exit 0."""
    with pytest.raises(SystemExit) as e:
        time_to_result.main(["--only", only, "--out", str(tmp_path)])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"python -m benchmarks.time_to_result: error: --only {only!r} names no job: give one or more of default, "
        "main, seeds.")
    assert list(tmp_path.iterdir()) == []


def test_time_to_result_refuses_an_out_that_cannot_be_written_before_any_job(capsys, tmp_path, monkeypatch):
    """Found by hand: `--out` under a file ran the job (minutes), then lost its figures in a traceback."""
    monkeypatch.setattr(time_to_result, "time_job", lambda *a: pytest.fail("a job ran"))
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit) as e:
        time_to_result.main(["--only", "default", "--out", str(tmp_path / "afile" / "x")])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"python -m benchmarks.time_to_result: error: --out {tmp_path / 'afile' / 'x'} cannot be written (Not a "
        "directory): give a folder one can write.")


def test_time_to_result_keeps_only_rows_of_the_same_cpu_kind(tmp_path, monkeypatch):
    """Found by hand: rows were kept by the CPU's name alone, and both AMD EPYC kinds (AVX-512 BF16; AVX2 only) have
    the same one: timing `default` on the AVX2 kind kept `main` from the AVX-512 kind under this machine's header.
    A row now carries its CPU's flags; rows of another kind (a row without flags: the file's machine's) are left
    out, and the header names the kind."""
    import json

    from benchmarks import machine

    avx512 = ["avx2", "avx512_bf16", "avx512f", "fma"]
    row = {"command": "python -m ablate ", "wall_seconds": 100.0, "target_seconds": 150, "members": 1,
           "min_accuracy": 90.5, "accuracy_floor": 90.0, "met": True, "exit_status": 0, "cpu": "AMD EPYC"}
    earlier = {"machine": {"cpu": "AMD EPYC", "cpu_flags": avx512, "cores": 2},
               "jobs": [{**row, "job": "default"}, {**row, "job": "main"}]}
    (tmp_path / "time_to_result.json").write_text(json.dumps(earlier))
    monkeypatch.setattr(machine, "describe", lambda device: {"cpu": "AMD EPYC", "cpu_flags": ["avx2", "fma"],
                                                              "cores": 2})
    monkeypatch.setattr(time_to_result, "time_job", lambda name, tmp: {**row, "job": name, "wall_seconds": 200.0})
    assert time_to_result.main(["--only", "default", "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "time_to_result.json").read_text())
    assert [(r["job"], r["wall_seconds"], r["cpu_flags"]) for r in written["jobs"]] == [
        ("default", 200.0, ["avx2", "fma"])]
    assert (tmp_path / "time_to_result.md").read_text().splitlines()[0] == (
        "# Time to result (AMD EPYC, avx2 fma, 2 cores)")
    monkeypatch.setattr(machine, "describe", lambda device: {"cpu": "AMD EPYC", "cpu_flags": avx512, "cores": 2})
    (tmp_path / "time_to_result.json").write_text(json.dumps(earlier))
    time_to_result.main(["--only", "default", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "time_to_result.json").read_text())
    assert [(r["job"], r["wall_seconds"]) for r in written["jobs"]] == [("default", 200.0), ("main", 100.0)]


def test_time_to_result_tells_two_avx512_bf16_epycs_apart(tmp_path, monkeypatch):
    """Found measuring this project's fourth CPU kind: a Zen 4 and a family-26 EPYC both have AVX-512 BF16, so by
    name and flags they were one kind, while their main jobs take 501–508 s and 323–401 s. A row carries the CPU's
    kind (`ablate.run.cpu.kind()`: family and model numbers too); rows of another kind, or written before kinds
    (name and flags only), are left out, and the header names the kind."""
    import json

    from benchmarks import machine

    avx512 = ["avx2", "avx512_bf16", "avx512f", "fma"]
    zen4, zen5 = "AMD EPYC (family 25, model 17; AVX-512 BF16)", "AMD EPYC (family 26, model 2; AVX-512 BF16)"
    row = {"command": "python -m ablate ", "wall_seconds": 100.0, "target_seconds": 150, "members": 1,
           "min_accuracy": 90.5, "accuracy_floor": 90.0, "met": True, "exit_status": 0, "cpu": "AMD EPYC",
           "cpu_flags": avx512}
    earlier = {"machine": {"cpu": "AMD EPYC", "cpu_flags": avx512, "cpu_kind": zen5, "cores": 2},
               "jobs": [{**row, "job": "main", "cpu_kind": zen5}, {**row, "job": "seeds"}]}  # seeds: before kinds
    (tmp_path / "time_to_result.json").write_text(json.dumps(earlier))
    monkeypatch.setattr(machine, "describe", lambda device: {"cpu": "AMD EPYC", "cpu_flags": avx512, "cores": 2,
                                                              "cpu_kind": zen4})
    monkeypatch.setattr(time_to_result, "time_job", lambda name, tmp: {**row, "job": name, "wall_seconds": 126.0})
    assert time_to_result.main(["--only", "default", "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "time_to_result.json").read_text())
    assert [(r["job"], r["cpu_kind"]) for r in written["jobs"]] == [("default", zen4)]
    assert (tmp_path / "time_to_result.md").read_text().splitlines()[0] == f"# Time to result ({zen4}, 2 cores)"

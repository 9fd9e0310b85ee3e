"""The benchmarks' own logic: the GPU check runs without Hydra (dry run on the CPU), the analytic
group's counts agree, and the targets table reads its figures right. No timing is asserted."""

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import report

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_needs_no_hydra(tmp_path):
    # the GPU machine's Python has torch but no Hydra, OmegaConf or Optuna: gpu_check blocks their import
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--device", "cpu", "--models", "tiny",
                           "--modes", "eager", "--steps", "2", "--warmup", "1", "--tiny-batch", "8"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "gpu.json").read_text())
    rows = [r for r in result["results"] if r["case"]["model"] == "tiny"]
    assert len(rows) == 1 and "error" not in rows[0]
    train = rows[0]["phases"]["train"]
    assert train["images_per_s"] > 0 and train["timing"]["n"] == 2
    assert (tmp_path / "gpu.md").read_text().startswith("# GPU check")
    assert proc.stdout.rstrip().splitlines()[-1].startswith("|")  # the short table comes last


def test_analytic_group_counts_agree_with_the_built_model():
    from benchmarks import analytic

    out = analytic.run(True, {})
    assert [r["model"] for r in out["rows"]] == ["tiny", "resnet50"]
    assert all(r["agree"] for r in out["rows"])
    resnet50 = out["rows"][1]
    assert (resnet50["counted_params"], resnet50["counted_flops"]) == (25_557_032, 4_089_184_256)  # Table 1
    assert out["solver"]["d"] == [64, 40, 24, 14, 4] and out["solver"]["agree"]  # Table 2


def test_targets_read_the_right_figures():
    results = {
        "models": {"fp32_peak": 100e9, "rows": [{"name": "tiny", "train_share": 0.45, "precision": "bf16"}]},
        "ceilings": {"conv_gemm_flops_per_s": 150e9},
        "trainer": {"rows": [1], "overhead": 0.021, "cpu_overhead": 0.01, "run_share": 0.38},
        "grouped": {"rows": [{"grouped": "resnext50_32x4d", "phase": "train", "time_ratio": 1.2, "flop_ratio": 1.035}]},
        "analytic": {"min_ratio": 2002.0},
    }
    targets = report.targets(results)
    statuses = [t["status"] for t in targets]
    assert statuses[0] == "met (40%), missed (50%)"
    assert "45% (benchmark step, bf16" in targets[0]["measured"]
    assert "30% of oneDNN's GEMM" in targets[0]["measured"]  # 0.45 × 100 ÷ 150
    assert statuses[1] == "met"  # +2.1% ≤ 3%
    assert statuses[2] == "missed (40%), missed (50%)"  # 38% inside the runs
    assert statuses[-1] == "met"  # 2,002× ≥ 1000×

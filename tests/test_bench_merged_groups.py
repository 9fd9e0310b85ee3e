"""benchmarks/merged_groups.py: it times the main job's members with the merge rule's layers (no timed assertions)."""

from __future__ import annotations

import pytest

from benchmarks import merged_groups

pytestmark = pytest.mark.slow


def test_the_quick_run_times_each_variant_of_the_high_cardinality_members():
    result = merged_groups.run(True, {})
    rows = {r["cardinality"]: r for r in result["rows"]}
    assert sorted(rows) == [8, 32]
    # C=8, d=3: groups of 3 and 6 channels merge to 12 (×4, ×2); at ≥ 16 also conv4's 12 (×2)
    assert rows[8]["merged_layers"][8] == {"layer1.0.conv2": 4, "layer2.0.conv2": 2}
    assert rows[8]["merged_layers"][16] == {"layer1.0.conv2": 8, "layer2.0.conv2": 4, "layer3.0.conv2": 2}
    # C=32, d=1: conv2 is depthwise (its own kernels); groups of 2 and 4 merge to 8, at ≥ 16 also conv5's 8
    assert rows[32]["merged_layers"][8] == {"layer2.0.conv2": 4, "layer3.0.conv2": 2}
    assert rows[32]["merged_layers"][16] == {"layer2.0.conv2": 8, "layer3.0.conv2": 4, "layer4.0.conv2": 2}
    for r in rows.values():
        assert set(r["seconds"]) == {"plain", "≥8", "≥16"} and all(s > 0 for s in r["seconds"].values())
    assert result["table"]["rows"][-1][0] == "all members"

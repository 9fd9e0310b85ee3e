"""benchmarks.recipe: every recipe runs with the overrides it names, and its figures are written as measured."""

from __future__ import annotations

import json

import pytest

from benchmarks import recipe

SMALL = ["data=synthetic", "data.num_samples=128", "data.val_samples=64", "model.depths=[1,1]", "trainer.progress=false"]


def test_each_recipe_trains_as_named_and_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "RECIPES", {
        "2 epochs, augmented": ["optim.epochs=2", "data.augment=true"],
        "1 epoch, unaugmented": ["optim.epochs=1", "data.augment=false"],
    })
    assert recipe.main(["--seeds", "0,1", "--out", str(tmp_path), "--", *SMALL]) == 0
    report = json.loads((tmp_path / "recipe.json").read_text())
    runs = {(r["recipe"], r["seed"]): r for r in report["runs"]}
    assert set(runs) == {(name, seed) for name in recipe.RECIPES for seed in (0, 1)}
    assert {(r["epochs"], r["augment"]) for k, r in runs.items() if k[0] == "2 epochs, augmented"} == {(2, True)}
    assert {(r["epochs"], r["augment"]) for k, r in runs.items() if k[0] == "1 epoch, unaugmented"} == {(1, False)}
    assert all(r["exit_status"] == 0 and 0 <= r["val_err"] <= 100 and r["images_per_second"] > 0 for r in runs.values())
    md = (tmp_path / "recipe.md").read_text().splitlines()
    row = next(line for line in md if line.startswith("| 1 epoch, unaugmented |"))
    errors = [runs[("1 epoch, unaugmented", s)]["val_err"] for s in (0, 1)]
    assert row.split(" | ")[1] == f"{errors[0]:.2f}, {errors[1]:.2f}"
    assert row.split(" | ")[2] == f"{sum(errors) / 2:.2f}"
    assert report["overrides"] == SMALL and " ".join(SMALL) in "\n".join(md)


@pytest.mark.parametrize("seeds, said", [("a,b", "is not a list of whole numbers"), (",", "names no seed")])
def test_bad_seeds_are_refused_in_one_sentence(tmp_path, capsys, seeds, said):
    with pytest.raises(SystemExit) as e:
        recipe.main(["--seeds", seeds, "--out", str(tmp_path)])
    assert e.value.code == 2 and said in capsys.readouterr().err

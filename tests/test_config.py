"""The config schema: presets of it, `check` refusing each kind of bad value with one sentence, model names found
on the user's search path, and one list of run-time keys for the record hash and Hydra's folder names."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from ablate.config import RUNTIME_KEYS, available, check, compose, load_template, schema, searchpath_of, solve_cfg
from ablate.engine.budget import Budget, solve
from ablate.errors import AblateError, ConfigError

SMALL = ["data=synthetic", "data.num_samples=128", "data.val_samples=64", "optim.batch_size=32", "optim.epochs=1",
         "trainer.progress=false", "trainer.num_threads=1", "trainer.peak_flops=1e11"]
# a model config of the user's own, outside the package: small enough to train in seconds
USER_MODEL = """\
name: rx3_w48
depths: [1, 1]
width: 48
cardinality: 1
bottleneck_width: 16
stem: cifar
stem_width: 48
in_channels: 1
resolution: 28
num_classes: 10
"""


def ablate(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def myconf(tmp_path) -> Path:
    folder = tmp_path / "myconf"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "rx3_w48.yaml").write_text(USER_MODEL)
    return folder


def refusal(overrides: list[str]) -> str:
    cfg = compose(overrides)
    with pytest.raises(AblateError) as e:
        check(cfg, searchpath_of(overrides))
    return str(e.value)


# ----------------------------------------------------------------------------- presets of the schema
# a data set each preset of the model and data groups fits (the check refuses a model that does not fit its data)
FITS = {"model": lambda t: ["data=fashion_mnist"] if t.in_channels == 1 else ["data=cifar10"] if t.resolution == 32
        else ["data=imagenet", f"data.resolution={t.resolution}"],
        "data": {"cifar10": ["model=resnext29_8x64d"], "cifar100": ["model=resnext29_8x64d", "model.num_classes=100"],
                 "imagenet": ["model=resnet50"]}}


@pytest.mark.parametrize("group", ["model", "data", "optim", "trainer", "budget"])
def test_every_preset_composes_to_its_schema_and_passes_the_check(group):
    for name in available(group):
        fits = FITS["model"](load_template(name)) if group == "model" else FITS["data"].get(name, [])
        cfg = compose([f"{group}={name}", *(fits if group in FITS else [])])
        check(cfg)
        node = OmegaConf.to_container(cfg[group], resolve=True)
        if group == "budget" and node["metric"] is None:
            assert node == {"metric": None}  # no budget: nothing else in the config (and its hash)
            continue
        cls = schema.DATA[node["name"]] if group == "data" else schema.GROUPS[group]
        assert list(node) == [f.name for f in fields(cls)], name  # every field, in the schema's order


def test_model_files_state_only_what_differs_from_the_schema():
    """Shared fields come from the schema's defaults (Hydra defaults list), yet every model keeps its numbers."""
    for name in available("model"):
        text = (Path(schema.__file__).parents[2] / "conf" / "model" / f"{name}.yaml").read_text()
        assert "/schema/model@_here_" in text and "form:" not in text and "block:" not in text, name
    # the package's models as they were written out in full before (Table 1, Table 7 and the default)
    assert load_template("resnext50_32x4d").to_dict() == {
        "depths": [3, 4, 6, 3], "width": 256, "cardinality": 32, "bottleneck_width": 4, "block": "bottleneck",
        "stem": "imagenet", "stem_width": 64, "in_channels": 3, "resolution": 224, "num_classes": 1000,
        "shortcut": True}
    assert load_template("resnext29_8x64d").to_dict() == {
        "depths": [3, 3, 3], "width": 256, "cardinality": 8, "bottleneck_width": 64, "block": "bottleneck",
        "stem": "cifar", "stem_width": 64, "in_channels": 3, "resolution": 32, "num_classes": 10, "shortcut": True}
    assert load_template("tiny").to_dict() == {
        "depths": [1, 1, 1, 1], "width": 32, "cardinality": 1, "bottleneck_width": 12, "block": "bottleneck",
        "stem": "cifar", "stem_width": 32, "in_channels": 1, "resolution": 28, "num_classes": 10, "shortcut": True}
    model = compose([]).model
    assert (model.form, model.zero_init_last_bn) == ("c", False)


def test_an_integer_for_a_float_field_stays_as_typed():
    """Hydra does not convert values (the schema is untyped to it): `budget.scale=2` stays 2, so the run's config
    hash is the one it had before the schema."""
    cfg = compose(["budget=params", "budget.scale=2", "optim.lr=1"])
    check(cfg)
    assert type(cfg.budget.scale) is int and type(cfg.optim.lr) is int


# ----------------------------------------------------------------------------- check: one sentence per field
@pytest.mark.parametrize("overrides, sentence", [
    (["+budget.scael=2"], "budget.scael is not a budget field: valid fields are metric, reference, scale, scope, "
                          "stage, target, tolerance, vary."),
    (["budget=params", "+budget.scael=2"], "budget.scael is not a budget field: valid fields are metric, reference, "
                                           "scale, scope, stage, target, tolerance, vary."),
    (["+seeds=1"], "seeds is not a config field: valid fields are budget, data, model, optim, report, seed, trainer."),
    (["model.form=d"], "model.form='d' is unknown: valid forms are a, b, c, auto."),
    (["model.zero_init_last_bn=maybe"], "model.zero_init_last_bn='maybe' is invalid: it must be true or false."),
    (["model.cardinality=abc"], "model.cardinality='abc' is invalid: it must be a whole number of at least 1."),
    (["model.depths=[3,0]"], "model.depths[1]=0 is invalid: every stage needs a whole number of at least 1 block."),
    (["optim.momentum=abc"], "optim.momentum='abc' is invalid: it must be a number at least 0 and below 1, e.g. 0.9."),
    # found by hand: null and booleans were shown as Python writes them (`seed=None`), not as the user typed them
    (["optim.gamma=null"], "optim.gamma=null is invalid: it must be a number above 0, e.g. 0.1."),
    # found by hand: a seed torch cannot take ended in a traceback (ValueError: Overflow when unpacking long long)
    (["seed=18446744073709551616"], "seed=18446744073709551616 is invalid: it must be a whole number such as 0, at "
                                    "least -2**63 and below 2**64 (what torch seeds with)."),
    # found by hand: a finite rate above fp32's range ended in a traceback (value cannot be converted to type float)
    (["optim.lr=1e308"], "optim.lr=1e+308 is invalid: it must be a positive number such as 0.1, at most 3.4e+38 (the "
                         "largest fp32 value)."),
    (["optim.weight_decay=1e308"], "optim.weight_decay=1e+308 is invalid: it must be a number at least 0 and at most "
                                   "3.4e+38 (the largest fp32 value), e.g. 1e-4."),
    # found by hand: a step schedule whose gamma raises the rate past fp32's range ended in a traceback (torch's
    # overflow, or Python's when gamma ** k itself overflowed)
    (["optim.gamma=1e308", "optim.schedule=step", "optim.milestones=[0]"],
     "optim.gamma=1e+308 with optim.lr=0.2 and optim.milestones=[0] raises the learning rate to 2e+307 (gamma to the "
     "power of 1 milestone), above 3.4e+38 (the largest fp32 value): give optim.gamma at most 1.7e+39."),
    (["optim.gamma=1e30", "optim.schedule=step", "optim.milestones=[0,1,1]", "optim.epochs=2"],
     "optim.gamma=1e+30 with optim.lr=0.2 and optim.milestones=[0,1,1] raises the learning rate to 2e+89 (gamma to "
     "the power of 3 milestones), above 3.4e+38 (the largest fp32 value): give optim.gamma at most 1.19e+13."),
    (["seed=null"], "seed=null is invalid: it must be a whole number such as 0, at least -2**63 and below 2**64 "
                    "(what torch seeds with)."),
    (["optim.epochs=true"], "optim.epochs=true is invalid: it must be a whole number of at least 1."),
    (["optim.nesterov=maybe"], "optim.nesterov='maybe' is invalid: it must be true or false."),
    (["optim.milestones=[10,x]"], "optim.milestones=[10,x] is invalid: it must be a list of epochs such as "
                                  "[150,225]."),
    (["trainer.precision=INT8"], "trainer.precision='int8' is unknown: valid precisions are auto, fp32, bf16, fp16."),
    (["trainer.device=TPU"], "trainer.device='tpu' is unknown: valid devices are auto, cpu, cuda or cuda:N."),
    (["trainer.compile=maybe"], "trainer.compile='maybe' is invalid: it must be true or false."),
    (["trainer.log_every=0"], "trainer.log_every=0 is invalid: it must be a whole number of at least 1."),
    (["trainer.num_threads=0"], "trainer.num_threads=0 is invalid: give a whole number of at least 1, or null for "
                                "every core."),
    (["trainer.eval_batch_size=-1"], "trainer.eval_batch_size=-1 is invalid: give a whole number of at least 1, or "
                                     "null for twice the per-process training batch."),
    (["trainer.peak_flops=fast"], "trainer.peak_flops='fast' is invalid: give the machine's FLOP/s as a positive "
                                  "number, or null to measure it."),
    (["data.pad=-1"], "data.pad=-1 is invalid: it must be a whole number of at least 0."),
    # found by hand: the one field that said `>= 0.0` where every other says `at least 0, e.g. …`
    (["data=synthetic", "data.noise=-1"], "data.noise=-1 is invalid: it must be a number at least 0, e.g. 16."),
    (["data.mean=[0.1,0.2]"], "data.mean=[0.1,0.2] is invalid: it must be a list of 1 number (one per channel) "
                              "or null."),
    (["data=imagenet", "data.mean=null"], "data.mean and data.std must be lists of 3 numbers for data=imagenet: it "
                                          "streams its images, so they cannot be measured at load."),
    (["+data.num_samples=5"], "data.num_samples is not a data field: valid fields are augment, download, mean, name, "
                              "pad, root, std, train_subset, url, val_subset."),
    (["seed=abc"], "seed='abc' is invalid: it must be a whole number such as 0, at least -2**63 and below 2**64 "
                   "(what torch seeds with)."),
    (["budget=params", "budget.reference=resnet5"], "budget.reference='resnet5' is unknown: available models are "
                                                    f"{', '.join(available('model'))}."),
    (["budget=params", "budget.vary=depth", "budget.stage=7"], "budget.stage=7 is invalid: this template has stages 0 "
                                                               "to 3."),
    (["data=imagenet", "data.workers=some"], "data.workers='some' is invalid: give the number of DataLoader worker "
     "processes, 0 or more (0: decode in the training process), or auto (one per thread of the training process, at "
     "most 8)."),
    (["budget=params", "budget.vary=depth", "budget.scope=block"], "budget.vary='depth' cannot meet a budget at "
     "budget.scope='block': a block's cost does not depend on depth; use budget.scope='network'."),
])
def test_check_names_the_field_the_user_typed(overrides, sentence):
    assert refusal(overrides) == sentence


@given(lr=st.floats(1e-30, 1e30), gamma=st.floats(1.0001, 1e300), k=st.integers(1, 50))
def test_the_largest_gamma_named_is_accepted_and_above_it_is_not(lr, gamma, k):
    """The bound a refusal names for optim.gamma is one the check accepts (rounded down, never up), and a
    gamma 1 % above the true bound is refused."""
    optim = {"schedule": "step", "gamma": gamma, "lr": lr, "milestones": list(range(k)), "epochs": k}
    refusal = schema.rate_overflow(optim)
    if refusal is None:
        assert math.log10(lr) + k * math.log10(gamma) <= math.log10(schema.FP32_MAX)
        return
    most = float(str(refusal).rsplit(" ", 1)[1].rstrip("."))
    assert schema.rate_overflow({**optim, "gamma": most}) is None
    exact = 10 ** ((math.log10(schema.FP32_MAX) - math.log10(lr)) / k)
    assert most <= exact and most >= exact * 0.99
    assert schema.rate_overflow({**optim, "gamma": exact * 1.01}) is not None


def test_check_is_one_place_no_getter_with_a_default_remains():
    """No `cfg.get("key", default)` where a composed config is read: the schema gives every field, checked.
    (The report reads records from disk, of any version, where a key may be absent.)"""
    root = Path(schema.__file__).parents[1]
    code = [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] != "report"]
    getter = re.compile(r"\b(cfg|trainer|optim_cfg|budget_cfg|model_cfg|data_cfg)\.get\(")  # not Hydra's own nodes
    found = [f"{p.relative_to(root.parent)}:{n}" for p in code for n, line in enumerate(p.read_text().splitlines(), 1)
             if getter.search(line)]
    assert found == []


# ----------------------------------------------------------------------------- model names on the search path
def test_a_model_of_your_own_is_a_budget_reference_and_listed(myconf):
    searchpath = (f"file://{myconf}",)
    assert "rx3_w48" in available("model", searchpath) and "rx3_w48" not in available("model", ())
    overrides = [f"hydra.searchpath=[file://{myconf}]", "model=rx3_w48", "model.cardinality=2", "budget=params"]
    cfg = compose(overrides)
    assert searchpath_of(overrides) == searchpath
    check(cfg, searchpath)
    template, solution = solve_cfg(cfg, searchpath)
    reference = load_template("rx3_w48", searchpath=searchpath)
    assert solution.budget == Budget.relative(reference, 1.0, "params", name="rx3_w48")
    assert template.cardinality == 2 and solution.value == solve(reference.replace(cardinality=2),
                                                                 solution.budget).value
    # a typo is refused naming the field and listing the user's models beside the package's
    cfg = compose([*overrides, "budget.reference=rx3_w84"])
    with pytest.raises(ConfigError, match=r"^budget\.reference='rx3_w84' is unknown: available models are .*"
                                          r"resnext50_32x4d, rx3_w48, tiny\.$"):
        check(cfg, searchpath)
    with pytest.raises(ConfigError, match=r"model=nope is unknown: available model configs are .*rx3_w48"):
        compose([f"hydra.searchpath=[file://{myconf}]", "model=nope"])


def test_a_metric_on_no_budget_names_a_budget_config_of_your_own(tmp_path):
    """budget.metric=acts on budget=none is told the way to a budget: budget=params with the metric, or a budget
    config of the user's named for it (the sentence named only ablate's own params and flops)."""
    own = tmp_path / "conf"
    (own / "budget").mkdir(parents=True)
    (own / "budget" / "acts.yaml").write_text("defaults:\n  - /schema/budget@_here_\n  - _self_\n\nmetric: acts\n")
    head = "budget.metric='acts' on budget=none (the default) leaves every other field of the budget unset: "
    assert refusal(["budget.metric=acts"]) == (
        f"{head}choose the budget's config instead, budget=params budget.metric=acts (its target: the model's own acts).")
    assert refusal([f"hydra.searchpath=[file://{own}]", "budget.metric=acts"]) == (
        f"{head}choose the budget's config instead, budget=acts (its target: the model's own acts).")
    cfg = compose([f"hydra.searchpath=[file://{own}]", "budget=acts"])
    check(cfg, (f"file://{own}",))
    assert solve_cfg(cfg, (f"file://{own}",))[1].budget.metric == "acts"


def test_the_app_solves_a_budget_on_a_model_of_your_own(myconf, tmp_path):
    """The command of the issue, as a new user types it: the job finds the model on its own search path."""
    run = tmp_path / "run"
    out = ablate([f"hydra.searchpath=[file://{myconf}]", "model=rx3_w48", "model.cardinality=2", "budget=params",
                  "budget.tolerance=0.2", *SMALL, f"hydra.run.dir={run}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((run / "result.json").read_text())
    assert record["status"] == "completed"
    budget = record["budget"]
    reference = load_template("rx3_w48", searchpath=(f"file://{myconf}",))
    expected = solve(reference.replace(cardinality=2), Budget.relative(reference, tolerance=0.2, name="rx3_w48"))
    assert budget["value"] == expected.value and budget["achieved"] == expected.achieved
    assert record["model"]["template"]["bottleneck_width"] == expected.value


def test_the_app_lists_your_models_where_a_reference_is_unknown(myconf, tmp_path):
    """With `--config-dir`, too: the job's own config sources are where a budget's reference is looked up."""
    out = ablate(["--config-dir", str(myconf), "model=rx3_w48", "budget=params", "budget.reference=rx3_w84",
                  *SMALL, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, timeout=120)
    assert out.returncode == 2
    models = ", ".join(sorted([*available("model", ()), "rx3_w48"]))
    sentence = f"ablate: budget.reference='rx3_w84' is unknown: available models are {models}."
    assert out.stderr.strip().splitlines()[-1] == sentence


# ----------------------------------------------------------------------------- run-time keys
def test_one_list_of_runtime_keys_for_the_hash_and_the_folder_names():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from ablate.run import record

    assert record.RUNTIME_KEYS is RUNTIME_KEYS
    with initialize_config_module(config_module="ablate.conf", version_base="1.3"):
        cfg = hydra_compose("config", return_hydra_config=True)
    assert tuple(cfg.hydra.job.config.override_dirname.exclude_keys) == RUNTIME_KEYS
    # every run-time key of a group is a field of that group's schema (a renamed field cannot drift out)
    for key in RUNTIME_KEYS:
        group, _, name = key.partition(".")
        if name and group in ("trainer", "data"):
            cls = schema.TrainerConfig if group == "trainer" else schema.DataConfig
            known = {f.name for c in (cls, *schema.DATA.values()) for f in fields(c)} if group == "data" else \
                {f.name for f in fields(cls)}
            assert name in known, key


def test_hydra_leaves_the_runtime_keys_out_of_a_members_folder(tmp_path):
    """Multirun members fail their check at once (C=0, C=-1: two sentences, so the sweep runs and records them), so
    no training: their folder names are what Hydra made of the overrides, with the run-time keys (via the
    `ablate.runtime_keys` resolver) left out."""
    sweep = tmp_path / "sweep"
    out = ablate(["-m", "model.cardinality=0,-1", "trainer.num_threads=1", "trainer.jobs_per_gpu=2", "data=synthetic",
                  f"hydra.sweep.dir={sweep}"], tmp_path, timeout=120)
    assert out.returncode == 1, out.stderr[-3000:]  # its members failed (ablate.report.callback.StatusCallback)
    folders = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert folders == ["data=synthetic,model.cardinality=-1", "data=synthetic,model.cardinality=0"]
    record = json.loads((sweep / folders[1] / "result.json").read_text())
    assert record["reason"] == "model.cardinality=0 is invalid: it must be a whole number of at least 1."


@pytest.mark.parametrize("overrides, sentence", [
    # found by hand: each misfit was said alone, so tiny on CIFAR-10 took three tries (in_channels, then resolution)
    (["data=cifar10"], "model.in_channels=1 and model.resolution=28 do not fit data=cifar10, which has in_channels 3 "
                       "and resolution 32: set model.in_channels=3 model.resolution=32 or choose another data set."),
    (["data=cifar100"], "model.in_channels=1, model.resolution=28 and model.num_classes=10 do not fit data=cifar100, "
                        "which has in_channels 3, resolution 32 and num_classes 100: set model.in_channels=3 "
                        "model.resolution=32 model.num_classes=100 or choose another data set."),
    (["data=cifar100", "model.in_channels=3", "model.resolution=32"],
     "model.num_classes=10 does not fit data=cifar100, which has num_classes 100: set model.num_classes=100 or "
     "choose another data set."),
    (["model=resnet50", "data=imagenet", "data.resolution=160"],
     "model.resolution=224 does not fit data=imagenet, which has resolution 160: set model.resolution=160 or choose "
     "another data set."),
])
def test_a_model_that_does_not_fit_the_data_is_refused_at_compose_time(overrides, sentence):
    """Before, only the training processes found it, once each had loaded (or downloaded) the data set."""
    with pytest.raises(ConfigError) as e:
        check(compose(overrides))
    assert str(e.value) == sentence


def test_a_model_that_fits_its_data_passes():
    check(compose(["data=cifar10", "model.in_channels=3", "model.resolution=32"]))
    check(compose(["model=resnet50", "data=imagenet"]))


@pytest.mark.parametrize("overrides, sentence", [
    (["optim.batch_size=128", "data.train_subset=100"],
     "optim.batch_size=128 is larger than the 100 training images of fashion_mnist/train: lower the batch size or use "
     "more images than data.train_subset=100."),
    (["data.val_subset=10001"],
     "data.val_subset=10001 is larger than the 10000 images of the Fashion-MNIST val split: use at most 10000, or null "
     "for all."),
    (["data=cifar100", "model.in_channels=3", "model.resolution=32", "model.num_classes=100", "data.train_subset=50001"],
     "data.train_subset=50001 is larger than the 50000 images of the CIFAR-100 train split: use at most 50000, or "
     "null for all."),
    (["data=synthetic", "data.num_samples=100", "optim.batch_size=128"],
     "optim.batch_size=128 is larger than the 100 training images of synthetic/train: lower the batch size or use "
     "more images."),
])
def test_a_batch_or_subset_larger_than_a_known_data_set_is_refused_at_compose_time(overrides, sentence):
    """Found by hand: the sentence came once the data set was loaded (seconds into the run, in every member of a
    sweep), though the config tells the sizes of Fashion-MNIST, CIFAR and synthetic data."""
    with pytest.raises(ConfigError) as e:
        check(compose(overrides))
    assert str(e.value) == sentence
    sizes = [o for o in overrides if o.startswith(("optim.", "data.train_subset", "data.val_subset"))]
    check(compose([*sizes, "data=imagenet", "data.root=x", "model.in_channels=3", "model.resolution=224"]))  # later


def test_commands_that_read_only_the_model_ignore_the_data_set(capsys):
    """`python -m ablate.describe model=resnext50_32x4d` (the README's tour) describes a model the default data set
    (Fashion-MNIST, one channel) does not fit: describe and the budget table do not train it."""
    from ablate.cli import budget, describe

    assert describe.main(["model=resnext50_32x4d", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 25028904  # Table 1: ResNeXt-50 (32×4d), 25.0M
    assert budget.main(["model=resnet50", "--cardinality", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["bottleneck_width"] == 40  # Table 2: 2×40d


def test_a_sweep_files_unknown_sweeper_key_is_another_sweepers_only_when_an_override_chose_one():
    """The sentence for `+sweep=search_budget +repeats=auto` (the file's study_name on the repeats sweeper) is not
    given to a typo in a sweep file whose own sweeper is in use: no override chose another sweeper."""
    from ablate.config import sentences

    text = ("In 'sweep/mine': ConfigKeyError raised while composing config:\nKey 'n_trails' not in "
            "'AblateOptunaSweeperConf'\n    full_key: hydra.sweeper.n_trails\n    object_type=AblateOptunaSweeperConf")
    assert sentences._other_sweeper(text, ["+sweep=mine", "-m"]) is None
    repeats = text.replace("n_trails", "n_trials").replace("AblateOptuna", "AblateRepeats")
    assert sentences._other_sweeper(repeats, ["+sweep=mine", "+repeats=auto", "-m"]) == (
        "sweep/mine.yaml sets hydra.sweeper.n_trials, which the sweeper in use does not have (ablate_repeats, "
        "chosen by +repeats=auto): the two need different sweepers, so use one of them (for repeats in a search, "
        "give it seed=0,1,2: every trial then trains its design with each seed).")


def test_a_launcher_key_added_with_plus_is_refused_only_as_a_near_miss_of_a_field():
    """`+hydra.launcher.n_job=2` is a misspelt n_jobs (joblib's launcher would pass it to its backend silently);
    a key that is no near miss of a field passes on, as Hydra's launcher allows."""
    from omegaconf import OmegaConf

    from ablate.config.plugins import launcher_near_miss

    def config(added: str):
        key, value = added.lstrip("+").removeprefix("hydra.launcher.").split("=")
        return OmegaConf.create({"hydra": {"launcher": {"_target_": "J", "n_jobs": -1, "backend": None, key: value},
                                           "overrides": {"hydra": ["hydra/launcher=joblib", added]}}})

    assert launcher_near_miss(config("+hydra.launcher.n_job=2")) == (
        "+hydra.launcher.n_job=2: hydra.launcher has no field n_job (did you mean hydra.launcher.n_jobs=2?); its "
        "fields are n_jobs, backend.")
    assert launcher_near_miss(config("+hydra.launcher.inner_max_num_threads=1")) is None
    assert launcher_near_miss(OmegaConf.create({"hydra": {"launcher": {"n_jobs": 2}}})) is None


def test_a_loaded_data_set_that_does_not_fit_names_every_misfit_at_once():
    """The same sentence once the data set is loaded (a data set whose config does not tell its shape)."""
    from types import SimpleNamespace

    from ablate.run.processes import _check_data

    data = SimpleNamespace(name="mine", in_channels=3, resolution=28, num_classes=5)
    with pytest.raises(ConfigError) as e:
        _check_data(data, load_template("tiny"))
    assert str(e.value) == ("model.in_channels=1 and model.num_classes=10 do not fit data=mine, which has in_channels 3 "
                            "and num_classes 5: set model.in_channels=3 model.num_classes=5 or choose another data set.")
    _check_data(SimpleNamespace(name="fits", in_channels=1, resolution=28, num_classes=10), load_template("tiny"))

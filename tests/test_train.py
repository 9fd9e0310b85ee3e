"""The training loop on small synthetic data: schedules, metrics, resume, divergence, checkpoints."""

import logging
import math
import os
import re

import pytest
import torch

from ablate.config import compose, template_from_cfg
from ablate.data import load
from ablate.errors import CheckpointError
from ablate.models import build
from ablate.run import record as runs
from ablate.run.trainer import CHECKPOINT, fit, identity, load_checkpoint, lr_factor, optimizer, train_epoch

# a 2-stage template and 256 synthetic 28×28 images: an epoch is 8 steps of 32
SMALL = ["data=synthetic", "data.num_samples=256", "data.val_samples=128", "data.noise=16", "model.depths=[1,1]",
         "model.width=16", "model.bottleneck_width=8", "model.stem_width=16", "optim.batch_size=32", "optim.epochs=2",
         "trainer.progress=false", "trainer.log_every=4"]


def setup(overrides=(), seed=0):
    cfg = compose([*SMALL, *overrides])
    torch.manual_seed(seed)
    template = template_from_cfg(cfg.model)
    model = build(template, form=cfg.model.form, zero_init_last_bn=cfg.model.zero_init_last_bn)
    data = load(cfg.data, "cpu", seed)
    config = runs.hashed_config(__import__("omegaconf").OmegaConf.to_container(cfg, resolve=True))
    expected = identity(config, runs.config_hash(config), template.to_dict(), cfg.model.form)
    return cfg, model, data, expected


@pytest.fixture(autouse=True)
def deterministic():
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(previous)


# ----------------------------------------------------------------------------- schedules
def test_step_schedule_is_the_papers_cifar_recipe():
    cfg = compose(["optim=cifar"])
    assert (cfg.optim.batch_size, cfg.optim.epochs, cfg.optim.weight_decay) == (128, 300, 5e-4)  # appendix A
    f = lr_factor(cfg.optim, steps_per_epoch=10)
    # appendix A: lr 0.1, ÷10 at epochs 150 and 225
    assert f(0) == 1.0 and f(150 * 10 - 1) == 1.0
    assert math.isclose(f(150 * 10), 0.1) and math.isclose(f(225 * 10 - 1), 0.1)
    assert math.isclose(f(225 * 10), 0.01) and math.isclose(f(300 * 10 - 1), 0.01)


def test_imagenet_recipe_divides_the_rate_by_ten_three_times():
    cfg = compose(["optim=imagenet"])
    assert (cfg.optim.batch_size, cfg.optim.lr, cfg.optim.weight_decay) == (256, 0.1, 1e-4)  # paper §4
    f = lr_factor(cfg.optim, steps_per_epoch=1)
    assert [round(f(e), 6) for e in (0, 29, 30, 59, 60, 89, 90, 99)] == [1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]


def test_cosine_schedule_with_linear_warmup():
    cfg = compose(["optim.schedule=cosine", "optim.epochs=10", "optim.warmup_epochs=1", "optim.warmup_start=0.1",
                   "optim.min_lr_factor=0"])
    f = lr_factor(cfg.optim, steps_per_epoch=10)
    assert math.isclose(f(0), 0.1) and math.isclose(f(5), 0.55) and math.isclose(f(10), 1.0)  # warm-up per step
    assert math.isclose(f(55), 0.5)  # half way through the cosine part
    assert math.isclose(f(100), 0.0, abs_tol=1e-12) and f(99) > 0


def test_a_warm_up_longer_than_a_float_holds_in_steps_stays_at_its_start():
    """Found by hand: `optim.warmup_epochs=1e308` (a finite number of epochs, but more steps than a float holds)
    ended in a traceback (OverflowError: cannot convert float infinity to integer, exit 1); the rate stays at
    warmup_start × lr, as the warm-up's ramp says, and the run trains (with the long warm-up's warning)."""
    for schedule in ("cosine", "step"):
        cfg = compose(["optim.warmup_epochs=1e308", "optim.warmup_start=0.25", f"optim.schedule={schedule}"])
        f = lr_factor(cfg.optim, steps_per_epoch=10)
        assert [f(s) for s in (0, 1, 10**6)] == [0.25, 0.25, 0.25]


def test_no_weight_decay_on_norm_and_bias_on_request():
    cfg, model, _, _ = setup(["optim.decay_norm_and_bias=false", "optim.weight_decay=0.01"])
    decay, no_decay = optimizer(model, cfg.optim).param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 4 or p.ndim == 2 for p in decay["params"])  # conv and fc weights
    assert all(p.ndim == 1 for p in no_decay["params"])
    cfg = compose([*SMALL, "optim.decay_norm_and_bias=true"])
    assert len(optimizer(model, cfg.optim).param_groups) == 1  # the paper decays everything


# ----------------------------------------------------------------------------- the loop
def test_fit_records_finite_metrics_per_epoch(tmp_path):
    cfg, model, data, expected = setup()
    seen = []
    result = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected,
                 on_epoch=lambda entry, epochs: seen.append(entry["epoch"]))
    assert result.status == "completed" and result.reason is None and seen == [1, 2]
    assert [e["epoch"] for e in result.epochs] == [1, 2]
    for e in result.epochs:
        assert set(e) == {"epoch", "train_loss", "train_err", "val_loss", "val_err", "val_top5_err", "lr", "seconds",
                          "images_per_s"}
        assert all(math.isfinite(v) for v in e.values())
        assert 0 <= e["val_top5_err"] <= e["val_err"] <= 100 and 0 <= e["train_err"] <= 100
        assert e["images_per_s"] > 0 and e["seconds"] > 0
    assert result.epochs[1]["train_loss"] < result.epochs[0]["train_loss"]
    assert result.epochs[-1]["val_err"] < 80  # it learns: chance is 90 % error (16 steps are few)
    assert result.epochs[-1]["lr"] < result.epochs[0]["lr"]  # cosine decays
    assert (tmp_path / CHECKPOINT).exists()


def test_the_loop_reads_the_device_only_every_log_every_steps(monkeypatch):
    cfg, model, data, _ = setup()
    reads = {"item": 0, "tolist": 0}
    for name in reads:
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _name=name, _original=original, **k):
            reads[_name] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    from tqdm import tqdm

    opt = optimizer(model.to(memory_format=torch.channels_last), cfg.optim)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with tqdm(total=8, disable=True) as bar:
        out = train_epoch(model, data.train, opt, sched, None, torch.nn.CrossEntropyLoss(), epoch=0, batch_size=32,
                          seed=0, device=torch.device("cpu"), dtype=None, log_every=4, bar=bar)
    assert out["images"] == 256
    assert reads == {"item": 2, "tolist": 1}  # 8 steps: 2 periodic checks, 1 read at the epoch's end


def test_the_rate_leaves_out_the_first_steps_one_off_costs(monkeypatch):
    # found by hand: `trainer.compile=true` on a short run reported 17 img/s, its compilation counted as training
    import types

    import ablate.run.trainer as trainer

    cfg, model, data, _ = setup()
    clock = [0.0]
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    class Compiled(torch.nn.Module):  # the first call costs 100 s (as a compilation), every call 0.5 s
        def __init__(self):
            super().__init__()
            self.inner, self.calls = model, 0

        def forward(self, x):
            self.calls += 1
            clock[0] += 100.5 if self.calls == 1 else 0.5
            return self.inner(x)

    net = Compiled()
    from tqdm import tqdm

    opt = optimizer(model, cfg.optim)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with tqdm(total=8, disable=True) as bar:
        out = train_epoch(net, data.train, opt, sched, None, torch.nn.CrossEntropyLoss(), epoch=0, batch_size=32,
                          seed=0, device=torch.device("cpu"), dtype=None, log_every=4, bar=bar)
    assert (out["images"], out["seconds"]) == (256, 104.0)  # 8 steps of 32: the epoch's wall time keeps it all
    assert out["images_per_s"] == 7 * 32 / (7 * 0.5)  # steps 2-8: 64 img/s, not 256 / 104 s


def test_a_compiled_model_trains_the_same_function(tmp_path):
    eager_cfg, model, data, expected = setup(["optim.epochs=1"])
    eager = fit(model, data, eager_cfg, torch.device("cpu"), run_dir=tmp_path / "eager", expected=expected)
    cfg, model, data, expected = setup(["optim.epochs=1", "trainer.compile=true"])
    compiled = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path / "compiled", expected=expected)
    assert compiled.status == eager.status == "completed"
    for key in ("train_loss", "val_loss"):  # the same weights and data order: the same numbers but for rounding
        assert compiled.epochs[0][key] == pytest.approx(eager.epochs[0][key], rel=1e-3)
    assert load_checkpoint(tmp_path / "compiled" / CHECKPOINT)["model"].keys() == model.state_dict().keys()


def test_resume_after_an_interruption_matches_a_straight_run(tmp_path):
    cfg, model, data, expected = setup()
    straight = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path / "straight", expected=expected)
    straight_weights = {k: v.clone() for k, v in model.state_dict().items()}

    class Killed(Exception):
        pass

    def kill_after_first(entry, epochs):
        if entry["epoch"] == 1:
            raise Killed  # as if the process died right after epoch 1's checkpoint

    cfg, model, data, expected = setup()
    with pytest.raises(Killed):
        fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path / "resumed", expected=expected,
            on_epoch=kill_after_first)
    cfg, model, data, expected = setup(seed=0)
    torch.manual_seed(123)  # another RNG state and fresh weights: the checkpoint must restore both
    model = build(template_from_cfg(cfg.model), form="c", zero_init_last_bn=True)
    resumed = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path / "resumed", expected=expected)
    assert resumed.resumed_from == 1 and resumed.status == "completed"
    strip = [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in straight.epochs]
    assert [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in resumed.epochs] == strip
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, straight_weights[name]), name


def test_an_absurd_learning_rate_diverges(tmp_path):
    cfg, model, data, expected = setup(["optim.lr=1e30", "trainer.log_every=1", "optim.warmup_epochs=0"])
    result = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected)
    assert result.status == "diverged"
    assert "optim.lr=1e+30" in result.reason and result.reason.endswith(".")
    assert not (tmp_path / CHECKPOINT).exists()  # a diverged epoch is never checkpointed


def test_a_diverged_epochs_losses_are_written_in_few_digits(tmp_path, monkeypatch):
    """Found by hand: a finite but huge training loss beside a NaN val loss was written with every digit
    (`train 139535827195.39258, val nan`): the reason gives 4 significant digits."""
    from ablate.run import trainer

    monkeypatch.setattr(trainer, "evaluate", lambda *a, **k: {"loss": math.nan, "err": 90.0, "top5_err": 50.0})
    cfg, model, data, expected = setup(["optim.epochs=1"])
    result = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected)
    assert result.status == "diverged"
    train = re.fullmatch(r"the loss stopped being finite in epoch 1 \(train (\S+), val nan\) at optim\.lr=\S+: "
                         r"lower the learning rate or add warm-up\.", result.reason)
    assert train is not None, result.reason
    assert train.group(1) == f"{result.epochs[0]['train_loss']:.4g}"


# ----------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    cfg, model, data, expected = setup(["optim.epochs=1"])
    fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected)
    before = (tmp_path / CHECKPOINT).read_bytes()
    _, other_model, _, other = setup(["optim.epochs=1", "model.cardinality=2", "model.bottleneck_width=4"])
    refusal = r"another architecture \(model.bottleneck_width=8 there, 4 in this run\)"
    with pytest.raises(CheckpointError, match=refusal):
        fit(other_model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=other)
    _, _, _, other_config = setup(["optim.epochs=1", "optim.lr=0.5"])
    refusal = rf"another config \(config.optim.lr={cfg.optim.lr} there, 0.5 in this run\)"
    with pytest.raises(CheckpointError, match=refusal):
        load_checkpoint(tmp_path / CHECKPOINT, other_config)
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    state = load_checkpoint(tmp_path / CHECKPOINT, expected)
    assert state["epoch"] == 1 and state["template"] == expected["template"]


def test_checkpoints_load_with_weights_only(tmp_path):
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / CHECKPOINT
    torch.save({"format": 1, "model": {}, "evil": Payload()}, path)
    with pytest.raises(CheckpointError, match="which torch.load\\(weights_only=True\\) refuses"):
        load_checkpoint(path)
    assert not marker.exists()
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="is unreadable \\(corrupt or not a torch file\\)"):
        load_checkpoint(path)


# ----------------------------------------------------------------------------- progress
FIT_SCRIPT = r'''
import logging, sys
import torch
from ablate.config import compose, template_from_cfg
from ablate.data import load
from ablate.models import build
from ablate.run.trainer import fit

logging.basicConfig(level=logging.INFO, format="%(message)s")  # as Hydra's job logging does
torch.set_num_threads(1)
cfg = compose(sys.argv[1:])
model = build(template_from_cfg(cfg.model), form=cfg.model.form)
fit(model, load(cfg.data, "cpu", 0), cfg, torch.device("cpu"))
'''


def fit_output(stderr_to_terminal: bool) -> str:
    """What a tiny fit with `trainer.progress=true` writes to stderr: a pipe, or a pseudo-terminal."""
    import fcntl
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    args = [sys.executable, "-c", FIT_SCRIPT, *SMALL, "trainer.progress=true"]
    if not stderr_to_terminal:
        # bytes: text mode would turn every carriage return into a newline
        return subprocess.run(args, capture_output=True, timeout=300, check=True).stderr.decode()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:  # drain the terminal while the fit runs, until the child has gone and nothing is left
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                chunk = b""
            out += chunk
            if not chunk and proc.poll() is not None:
                break
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=300) == 0, out.decode(errors="replace")[-2000:]
    return out.decode(errors="replace")


def test_progress_in_a_log_file_is_plain_lines_and_a_bar_on_a_terminal():
    logged = fit_output(stderr_to_terminal=False)  # a sweep's log, a SLURM job's file
    assert "\r" not in logged and "step/s" not in logged  # no bar frames
    lines = logged.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ") and ": train loss " in line] == \
        ["epoch 1/2", "epoch 2/2"]  # one line per epoch
    shown = fit_output(stderr_to_terminal=True)
    assert "\r" in shown and "epoch 1/2" in shown  # the bar redraws in place on a terminal


def test_plain_progress_lines_come_at_the_periodic_checks(monkeypatch, caplog):
    import logging

    import ablate.run.trainer as trainer

    monkeypatch.setattr(trainer, "_on_terminal", lambda: False)
    monkeypatch.setattr(trainer, "PLAIN_EVERY", 0.0)  # every check is due: a line at each of them
    for progress, expected in (("true", [("epoch 1/2", "4/8"), ("epoch 1/2", "8/8"), ("epoch 2/2", "4/8"),
                                          ("epoch 2/2", "8/8")]), ("false", [])):
        cfg, model, data, _ = setup([f"trainer.progress={progress}"])
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=trainer.log.name):
            fit(model, data, cfg, torch.device("cpu"))
        messages = [r.getMessage() for r in caplog.records]
        steps = [m.split(": step ") for m in messages if ": step " in m]
        assert [(desc, rest.split(",")[0]) for desc, rest in steps] == expected
        assert all(", loss " in rest and rest.endswith(" img/s") for _, rest in steps)
        assert sum(": train loss " in m for m in messages) == 2  # the epochs' lines, with or without progress
        assert not any("\r" in m for m in messages)


def test_a_resume_with_merged_groups_switched_says_so_in_one_line(tmp_path, caplog):
    """Merged groups change a run's last bits: a resume that switches trainer.merge_groups says so."""
    args = ["model.cardinality=4", "model.bottleneck_width=2"]  # groups of 2, 4, 8 … channels: one conv merges
    cfg, model, data, expected = setup([*args, "trainer.merge_groups=false"])

    def stop_after_first(entry, epochs):
        if entry["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected, on_epoch=stop_after_first)
    cfg, model, data, expected = setup([*args, "trainer.merge_groups=true"])
    with caplog.at_level("WARNING", logger="ablate.run.trainer"):
        result = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected)
    assert result.status == "completed" and result.resumed_from == 1
    assert [r.getMessage() for r in caplog.records if "grouped" in r.getMessage()] == [
        "resuming with grouped convolutions merged a run trained with them as built so far (trainer.merge_groups): its "
        "numbers may differ from a straight run's in their last bits"]


def test_a_resume_with_another_thread_count_says_so_in_one_line(tmp_path, caplog):
    """Results are reproducible at one thread count: the checkpoint records it, a resume with another says so."""
    cfg, model, data, expected = setup()

    def stop_after_first(entry, epochs):
        if entry["epoch"] == 1:
            raise KeyboardInterrupt

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with pytest.raises(KeyboardInterrupt):
            fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected, on_epoch=stop_after_first)
        torch.set_num_threads(2)
        cfg, model, data, expected = setup()
        with caplog.at_level("WARNING", logger="ablate.run.trainer"):
            fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected)
    finally:
        torch.set_num_threads(threads)
    lines = [r.getMessage() for r in caplog.records if "thread" in r.getMessage()]
    assert lines == ["resuming with 2 CPU threads a run trained with 1 CPU thread so far: results are reproducible only at one "
                     "process and thread count, so its numbers may differ from a straight run's"]


def _resume_moved(tmp_path, caplog, args: list[str], moved: dict) -> tuple[dict, list[str]]:
    """Train one epoch of `args` on the CPU and stop; write `moved` into the checkpoint, as if it had been trained
    elsewhere; resume. The checkpoint as written first, and the trainer's warnings of the resume."""
    cfg, model, data, expected = setup(args)

    def stop_after_first(entry, epochs):
        if entry["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected, on_epoch=stop_after_first)
    path = tmp_path / "checkpoint.pt"
    written = torch.load(path, weights_only=False)
    torch.save({**written, **moved}, path)
    cfg, model, data, expected = setup(args)
    with caplog.at_level("WARNING", logger="ablate.run.trainer"):
        result = fit(model, data, cfg, torch.device("cpu"), run_dir=tmp_path, expected=expected)
    assert result.status == "completed" and result.resumed_from == 1
    return written, [r.getMessage() for r in caplog.records
                     if r.name == "ablate.run.trainer" and r.levelno >= logging.WARNING]


def test_a_resume_on_another_device_says_that_and_not_the_thread_count(tmp_path, caplog):
    """Found on the first GPU lent (`benchmarks/gpu.sh`): a run stopped on an H200 and resumed with no GPU visible
    warned "resuming with 4 processes × 4 CPU threads a run trained with 16 CPU threads so far", naming the CPU
    threads of a GPU run and not that it moved from the GPU to the CPU. The checkpoint records the device; a resume
    on another kind of device says so in one line, and the thread and merged-group lines (CPU matters) stay silent."""
    args = ["model.cardinality=4", "model.bottleneck_width=2"]  # a conv that merges on the CPU, as built on a GPU
    gpu_run = {"device": "cuda:0", "threads": 16, "merged_groups": 0}  # what the GPU run's checkpoint holds
    written, warned = _resume_moved(tmp_path, caplog, args, gpu_run)
    assert written["device"] == "cpu"
    assert warned == [
        "resuming on cpu a run trained on cuda:0 so far: the two run other kernels, so its numbers may differ from a "
        "straight run's"]


def test_a_resume_on_another_cpu_kind_says_so_in_one_line(tmp_path, caplog):
    """#15: a run's numbers depend on the CPU's kind as on its thread count. The checkpoint records the kind
    (`env.cpu`'s text); a run moved to a CPU of another kind and resumed there says so in one line."""
    from ablate.run import cpu

    xeon = "Intel(R) Xeon(R) Processor (family 6, model 207; AMX)"
    written, warned = _resume_moved(tmp_path, caplog, [], {"cpu": xeon})
    assert written["cpu"] == cpu.kind()
    assert warned == [f"resuming on {cpu.kind()} a run trained on {xeon} so far: another CPU kind runs other kernels, "
                      "so its numbers may differ from a straight run's"]


@pytest.mark.parametrize("native", [False, True])
def test_bf16_asked_for_on_a_cpu_without_native_bf16_says_so_in_one_line(native, monkeypatch, caplog):
    """bf16 is emulated on a CPU without AVX-512 BF16 or AMX, many times slower than fp32: the run says so once."""
    from ablate.run import device as devices

    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: native)
    cfg, model, data, _ = setup(["trainer.precision=bf16", "optim.epochs=1"])
    with caplog.at_level("WARNING", logger="ablate.run.trainer"):
        fit(model, data, cfg, torch.device("cpu"))
    lines = [r.getMessage() for r in caplog.records if "bf16" in r.getMessage()]
    assert lines == ([] if native else [
        "trainer.precision=bf16 on a CPU without native bf16 (AVX-512 BF16 or AMX): bf16 is emulated here and runs many "
        "times slower than fp32; trainer.precision=auto chooses fp32 on this CPU"])


class _Split:
    """A validation split of fixed batches, as `evaluate` reads it."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def batches(self, batch_size, *, train, epoch, seed, rank=0, world_size=1):
        yield from zip(self.x.split(batch_size), self.y.split(batch_size), strict=True)


@pytest.mark.parametrize("classes", [2, 5, 6, 10])
def test_top5_error_is_left_out_where_there_are_five_classes_or_fewer(classes):
    """Found by hand: a 3-class data set's runs logged and reported `top-5 0.00 %`, true by construction only."""
    from ablate.run.trainer import evaluate

    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.randint(0, classes, (40,))
    out = evaluate(torch.nn.Linear(3, classes), _Split(x, y), batch_size=16, device=torch.device("cpu"))
    if classes <= 5:
        assert out["top5_err"] is None
    else:
        assert 0 <= out["top5_err"] <= out["err"] <= 100


def test_an_epoch_without_top5_logs_no_top5(caplog):
    from ablate.run.trainer import _log_epoch

    entry = {"epoch": 1, "train_loss": 1.0, "train_err": 30.0, "val_loss": 1.1, "val_err": 25.0, "val_top5_err": None,
             "seconds": 2.0, "images_per_s": 60.0}
    with caplog.at_level("INFO", logger="ablate.run.trainer"):
        _log_epoch(entry, 3)
    assert caplog.messages == ["epoch 1/3: train loss 1.0000 err 30.00% | val loss 1.1000 err 25.00% | 2.0 s, 60 img/s"]
    caplog.clear()
    with caplog.at_level("INFO", logger="ablate.run.trainer"):
        _log_epoch({**entry, "val_top5_err": 5.0}, 3)
    assert caplog.messages == ["epoch 1/3: train loss 1.0000 err 30.00% | val loss 1.1000 err 25.00% top-5 5.00% | "
                               "2.0 s, 60 img/s"]


def test_milestones_past_the_last_epoch_are_named_in_one_warning(caplog):
    """Found by hand: `optim=cifar optim.epochs=30` keeps the paper's milestones [150, 225], so the step schedule
    never lowers the rate, and nothing said so."""
    from ablate.run.trainer import late_milestones

    cfg = compose([*SMALL, "optim.schedule=step", "optim.milestones=[1,2,5]", "optim.epochs=2"])
    assert late_milestones(cfg.optim) == (
        "optim.milestones=[1,2,5] with optim.epochs=2: the run ends before epochs 2 and 5, so the step schedule "
        "never lowers the learning rate there; give milestones below 2, or optim.schedule=cosine.")
    assert late_milestones(compose([*SMALL, "optim.schedule=step", "optim.milestones=[1]"]).optim) is None
    assert late_milestones(compose([*SMALL, "optim.schedule=cosine", "optim.milestones=[9]"]).optim) is None
    cfg, model, data, expected = setup(["optim.schedule=step", "optim.milestones=[150,225]"])
    with caplog.at_level("WARNING", logger="ablate.run.trainer"):
        fit(model, data, cfg, torch.device("cpu"), run_dir=None, expected=expected)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "optim.milestones=[150,225] with optim.epochs=2: the run ends before epochs 150 and 225, so the step "
        "schedule never lowers the learning rate there; give milestones below 2, or optim.schedule=cosine."]


def test_a_pad_as_wide_as_the_image_is_said_with_the_share_of_empty_crops():
    """Found by hand: `data.pad=100` on 28×28 images trained without a word on crops most of which hold no pixel
    of the image. The share is counted here by enumerating every crop offset of the augmentation."""
    from ablate.data.base import wide_pad

    def empty_share(pad: int, size: int) -> float:  # every (dy, dx) in [0, 2·pad]²: does the crop miss the image?
        hits = sum(1 for d in range(2 * pad + 1) if abs(d - pad) < size)
        return 1 - (hits / (2 * pad + 1)) ** 2

    assert wide_pad(100, 28) == (
        f"data.pad=100 with 28×28 images: {empty_share(100, 28):.0%} of the random crops hold no pixel of the image; "
        "give a pad below 28, such as 2 (the default) or 4 (the paper's CIFAR recipe).")
    assert f"{empty_share(100, 28):.0%}" == "93%"
    assert wide_pad(28, 28).startswith(f"data.pad=28 with 28×28 images: {empty_share(28, 28):.0%} of the random")
    assert empty_share(27, 28) == 0 and wide_pad(27, 28) is None and wide_pad(0, 28) is None


def test_a_warm_up_as_long_as_the_run_is_said_in_one_warning(caplog):
    """Found by hand: `optim.warmup_epochs=5 optim.epochs=1` trained at a rate that only ever rose, never reaching
    optim.lr nor decaying, and nothing said so (as milestones past the last epoch are said)."""
    from ablate.run.trainer import long_warmup

    assert long_warmup(compose([*SMALL, "optim.warmup_epochs=5", "optim.epochs=1"]).optim) == (
        "optim.warmup_epochs=5 with optim.epochs=1: the warm-up lasts the whole run, so the learning rate never "
        "reaches optim.lr and the schedule never lowers it; give a warm-up shorter than 1 epoch.")
    assert long_warmup(compose([*SMALL, "optim.warmup_epochs=2"]).optim).startswith(
        "optim.warmup_epochs=2 with optim.epochs=2: ")
    assert long_warmup(compose([*SMALL, "optim.warmup_epochs=1.5"]).optim) is None
    cfg, model, data, expected = setup(["optim.warmup_epochs=2.5"])
    with caplog.at_level("WARNING", logger="ablate.run.trainer"):
        fit(model, data, cfg, torch.device("cpu"), run_dir=None, expected=expected)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "optim.warmup_epochs=2.5 with optim.epochs=2: the warm-up lasts the whole run, so the learning rate never "
        "reaches optim.lr and the schedule never lowers it; give a warm-up shorter than 2 epochs."]


def test_a_rank_with_no_validation_images_evaluates_without_error():
    """Second read of the top-5 change: a DDP rank whose share of a tiny validation split is empty (1 image, 2
    ranks) ran no batch, and the class count was read from a batch's output that never existed (NameError)."""
    from ablate.run.trainer import evaluate

    empty = _Split(torch.empty(0, 3), torch.empty(0, dtype=torch.int64))
    empty.batches = lambda *args, **kwargs: iter(())
    out = evaluate(torch.nn.Linear(3, 10), empty, batch_size=16, device=torch.device("cpu"))
    assert out["top5_err"] is None and out["loss"] == 0.0

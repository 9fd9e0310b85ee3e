"""CUDA settings and device choice (`ablate.run.device`) with faked GPUs: no GPU is needed.

torch.cuda's queries (is_available, device_count, get_device_capability, mem_get_info, get_device_properties)
and its setters (set_device, the TF32 policy) are replaced by fakes, so these tests pass the same on a CPU-only
build and on a GPU machine, and they leave the process's torch settings as they were.
"""

from __future__ import annotations

import logging
import platform
from types import SimpleNamespace

import pytest
import torch

from ablate.config import compose, template_from_cfg
from ablate.engine.complexity import totals
from ablate.errors import ConfigError
from ablate.run import cpu, device

GIB = 2**30


@pytest.fixture
def gpus(monkeypatch):
    """`gpus(count, capability=(9, 0), free=..., total=...)`: fake that many visible GPUs; returns a log of calls."""
    calls: dict[str, list] = {"set_device": [], "matmul_precision": []}

    def fake(count: int, capability=(9, 0), free: int = 140 * GIB, total: int = 140 * GIB, name="Fake GPU"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # as on a V100: emulated
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, total))
        monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls["set_device"].append(torch.device(d)))
        monkeypatch.setattr(torch, "set_float32_matmul_precision", calls["matmul_precision"].append)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d=None: SimpleNamespace(
            name=name, major=capability[0], minor=capability[1], total_memory=total))
        monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
        return calls

    return fake


def template(name: str):
    return template_from_cfg(compose([f"model={name}"]).model)


# ----------------------------------------------------------------------------- which GPU
def test_job_n_takes_gpu_n_mod_count(gpus):
    gpus(2)
    # one member per GPU, or several: the launcher runs GPUs × jobs_per_gpu at once, consecutive jobs alternate
    assert [device.choose("auto", job_num=n).index for n in range(6)] == [0, 1, 0, 1, 0, 1]
    assert [device.choose("cuda", job_num=n).index for n in range(3)] == [0, 1, 0]
    assert device.choose("auto") == torch.device("cuda", 0)  # a single run
    assert device.choose("cuda:1", job_num=5) == torch.device("cuda", 1)  # a named GPU is kept
    # DDP: job n's ranks take world_size GPUs from (n × world_size) mod count
    assert [device.choose("cuda", job_num=1, rank=r, world_size=2).index for r in range(2)] == [0, 1]
    gpus(1)  # Ray or SLURM gave this member its own GPU: it is GPU 0 of what the process sees
    assert {device.choose("auto", job_num=n).index for n in range(5)} == {0}


def test_world_size_above_the_visible_gpus_is_refused(gpus, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpus(2)
    with pytest.raises(ConfigError) as e:
        device.choose("cuda", job_num=0, rank=0, world_size=4)
    assert str(e.value) == ("trainer.world_size=4 is more than the 2 GPUs visible: give each DDP process its own GPU "
                            "with trainer.world_size=2 or fewer, or train on the CPU with trainer.device=cpu.")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    gpus(1)
    with pytest.raises(ConfigError, match=r"^trainer.world_size=2 is more than the 1 GPU visible "
                                          r"\(CUDA_VISIBLE_DEVICES='3'\): give each DDP process"):
        device.choose("cuda:0", world_size=2)
    assert device.choose("cuda", rank=0, world_size=1) == torch.device("cuda", 0)


def test_auto_warns_in_one_line_when_cuda_is_built_but_no_gpu_is_visible(gpus, monkeypatch, caplog):
    gpus(0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # what Ray leaves a task that asked for no GPU
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    with caplog.at_level(logging.WARNING, logger="ablate.run.device"):
        assert device.choose("auto", job_num=3) == torch.device("cpu")
    warnings = [r.getMessage() for r in caplog.records if r.name == "ablate.run.device"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith(f"trainer.device=auto sees no GPU although torch {torch.__version__} is built with "
                                  "CUDA 12.8 (CUDA_VISIBLE_DEVICES=''): training on the CPU")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ablate.run.device"):
        assert device.choose("cpu") == torch.device("cpu")  # asked for: no warning
        assert device.choose("auto", rank=1) == torch.device("cpu")  # DDP: rank 0 alone says it
        monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
        assert device.choose("auto") == torch.device("cpu")  # a CPU build: nothing was hidden
    assert not [r for r in caplog.records if r.name == "ablate.run.device"]


def test_the_no_gpu_warning_speaks_of_ray_only_under_ray(gpus, monkeypatch, caplog):
    """Found on the first GPU lent: a run resumed with CUDA_VISIBLE_DEVICES='' (no Ray anywhere) was told "with Ray,
    give members GPUs with +hydra.launcher.ray.remote.num_gpus". The Ray advice is for a Ray worker alone."""
    import sys

    gpus(0)
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    with caplog.at_level(logging.WARNING, logger="ablate.run.device"):
        device.choose("auto")
        monkeypatch.setitem(sys.modules, "ray", object())
        device.choose("auto")
    plain, ray = [r.getMessage() for r in caplog.records if r.name == "ablate.run.device"]
    assert plain.endswith("training on the CPU (set trainer.device=cpu to choose it on purpose).")
    assert ray.endswith("training on the CPU (set trainer.device=cpu to choose it on purpose; with Ray, give members "
                        "GPUs with +hydra.launcher.ray.remote.num_gpus).")


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize("capability, dtype", [((7, 0), torch.float16), ((7, 5), torch.float16),
                                               ((8, 0), torch.bfloat16), ((8, 6), torch.bfloat16),
                                               ((9, 0), torch.bfloat16)])
def test_auto_precision_is_bf16_only_on_compute_capability_8_and_up(gpus, capability, dtype):
    gpus(1, capability=capability)  # is_bf16_supported() says True everywhere (V100/T4 emulate bf16)
    cuda = torch.device("cuda", 0)
    assert device.autocast_dtype("auto", cuda) is dtype
    assert device.autocast_dtype("fp16", cuda) is torch.float16 and device.autocast_dtype("fp32", cuda) is None
    assert device.autocast_dtype("bf16", cuda) is torch.bfloat16  # asked for by name: kept


# ----------------------------------------------------------------------------- activate
def test_activate_sets_the_device_cudnn_autotuner_and_tf32_on_every_cuda_run(gpus):
    calls = gpus(2)
    dev = device.choose("auto", job_num=1)
    device.activate(dev, template("tiny"), 128, "auto", jobs_per_gpu=1)
    assert calls["set_device"] == [torch.device("cuda", 1)]  # not only under DDP
    assert torch.backends.cudnn.benchmark is True
    assert calls["matmul_precision"] == ["high"]


def test_activate_leaves_cuda_alone_on_the_cpu_and_keeps_freed_memory(gpus, monkeypatch):
    calls = gpus(0)
    kept = []
    monkeypatch.setattr(device, "keep_freed_memory", lambda: kept.append(True) or True)
    device.activate(torch.device("cpu"), template("tiny"), 128, "auto", jobs_per_gpu=4)
    assert calls == {"set_device": [], "matmul_precision": []} and torch.backends.cudnn.benchmark is False
    assert kept == [True]


STEPS = """
import resource, sys, torch
from ablate.config import load_template
from ablate.models import build
from ablate.run import device
torch.set_num_threads(1)
assert device.keep_freed_memory() is True
model = build(load_template("tiny")).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x, y = torch.randn(64, 1, 28, 28).to(memory_format=torch.channels_last), torch.randint(0, 10, (64,))
def step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(5):  # the heap grows to its working set
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not device.glibc(), reason="mallopt is glibc's")
def test_training_steps_reuse_freed_memory_instead_of_faulting_it_in_again():
    """With glibc's defaults, every training step of tiny gave its large blocks back to the kernel and faulted them
    in again (66,000-98,000 minor page faults in 10 steps, by hand on the Zen 3; a quarter of their time). After
    `keep_freed_memory` the steps reuse them (0-786 faults in six runs): a count of the kernel's, not a timing."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout) < 10_000  # over 10 steps


# ----------------------------------------------------------------------------- memory
def test_member_bytes_counts_weights_state_and_activations_per_image():
    t = template("resnet50")
    counts = totals(t)
    base = device.member_bytes(t, 0, torch.bfloat16)
    assert base == 12 * counts.params + device.CUDA_CONTEXT_BYTES
    assert device.member_bytes(t, 256, torch.bfloat16) - base == 256 * 4 * counts.acts  # 2 tensors × 2 bytes
    assert device.member_bytes(t, 256, None) - base == 256 * 8 * counts.acts  # fp32: 2 tensors × 4 bytes


def test_several_small_members_fit_on_one_gpu(gpus):
    calls = gpus(1, free=139 * GIB, total=140 * GIB)
    for n in range(5):  # the main job's five members at once
        device.activate(device.choose("auto", job_num=n), template("tiny"), 128, "auto", jobs_per_gpu=5)
    assert calls["set_device"] == [torch.device("cuda", 0)] * 5


def test_a_packing_that_cannot_fit_is_refused_in_one_sentence(gpus):
    t = template("resnext50_32x4d")
    need = device.member_bytes(t, 256, torch.bfloat16)
    total = 3 * need + GIB  # room for three members of this size, not four
    gpus(1, free=total, total=total)
    cuda = torch.device("cuda", 0)
    device.activate(cuda, t, 256, "bf16", jobs_per_gpu=3)
    with pytest.raises(ConfigError) as e:
        device.activate(cuda, t, 256, "bf16", jobs_per_gpu=4)
    assert str(e.value) == (f"trainer.jobs_per_gpu=4 does not fit on cuda:0: a member at 256 images a step needs at "
                            f"least {need / GIB:.1f} GiB (weights, gradients, momentum and activations), and 4 of "
                            f"them need more than its {total / GIB:.1f} GiB: use trainer.jobs_per_gpu=3 or fewer, "
                            "or a smaller optim.batch_size.")


def test_a_batch_that_cannot_fit_names_the_largest_that_can(gpus):
    t = template("resnext50_32x4d")
    base, per_image = device.member_bytes(t, 0, None), device.member_bytes(t, 1, None) - device.member_bytes(t, 0, None)
    total = base + 100 * per_image + per_image // 2  # 100 images fit in fp32, 101 do not
    gpus(2, free=total, total=total)
    with pytest.raises(ConfigError, match=r"^optim.batch_size=512 does not fit on cuda:0: a member at 256 images a "
                                          r"step needs at least .* GiB .*: use optim.batch_size=200 or less.$"):
        device.activate(torch.device("cuda", 0), t, 512, "fp32", world_size=2)  # 256 a process, 100 fit
    device.activate(torch.device("cuda", 0), t, 200, "fp32", world_size=2)


def test_a_member_that_does_not_fit_in_the_free_memory_is_refused(gpus):
    t = template("resnet50")
    need = device.member_bytes(t, 64, torch.bfloat16)
    gpus(1, free=need - 1, total=10 * need)  # others already hold most of the GPU
    with pytest.raises(ConfigError, match=r"^cuda:0 has .* GiB free of .* GiB \(other processes hold the rest\) and a "
                                          r"member at 64 images a step needs at least .*: lower trainer.jobs_per_gpu=2 "
                                          r"or optim.batch_size=64, or free the GPU.$"):
        device.activate(torch.device("cuda", 0), t, 64, "auto", jobs_per_gpu=2)


# ----------------------------------------------------------------------------- the record's env
@pytest.mark.parametrize("info, kind", [
    ({"model name": "AMD EPYC", "cpu family": "25", "model": "17", "flags": "fpu avx2 avx512f avx512_bf16"},
     "AMD EPYC (family 25, model 17; AVX-512 BF16)"),  # Zen 4, this project's 2026-12-04 machine
    ({"model name": "AMD EPYC", "cpu family": "25", "model": "1", "flags": "fpu avx2"},
     "AMD EPYC (family 25, model 1; AVX2)"),  # Zen 3: fp32 only
    ({"model name": "Intel(R) Xeon(R) Processor", "cpu family": "6", "model": "207",
      "flags": "avx2 avx512f avx512_bf16 amx_bf16 amx_tile"}, "Intel(R) Xeon(R) Processor (family 6, model 207; AMX)"),
    ({"model name": "Some CPU", "flags": "fpu sse2"}, "Some CPU"),  # no family, no instruction set that names it
    ({}, None),  # no /proc/cpuinfo
    ({"processor": "0", "BogoMIPS": "50.00", "Features": "fp asimd"}, platform.machine()),  # Arm: no model name
])
def test_the_cpu_kind_names_the_cpu_its_numbers_and_the_instruction_set_that_picks_its_kernels(info, kind):
    """#15: a run's numbers depend on the CPU's kind (its instruction sets choose oneDNN's kernels): the record's
    env names it, from the first processor of /proc/cpuinfo."""
    assert cpu.describe(info) == kind


def test_cpuinfo_reads_the_first_processor_only(tmp_path, monkeypatch):
    import builtins

    text = "processor\t: 0\nmodel name\t: First\nflags\t\t: avx2\n\nprocessor\t: 1\nmodel name\t: Second\n"
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: real_open(tmp_path / "cpuinfo", *a, **k)
                        if path == "/proc/cpuinfo" else real_open(path, *a, **k))
    (tmp_path / "cpuinfo").write_text(text)
    cpu.info.cache_clear()
    try:
        assert cpu.info() == {"processor": "0", "model name": "First", "flags": "avx2"}
    finally:
        cpu.info.cache_clear()


def test_env_names_the_gpu_cuda_and_cudnn(gpus, monkeypatch):
    gpus(1, capability=(9, 0), name="NVIDIA H200")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    kind = cpu.kind()  # the host's CPU on either device
    assert device.env(torch.device("cuda", 0)) == {"gpu": "NVIDIA H200", "gpu_capability": "9.0", "cuda": "12.8",
                                                   "cudnn": "9.10.2", "cpu": kind}
    assert device.env(torch.device("cpu")) == {"gpu": None, "gpu_capability": None, "cuda": None, "cudnn": None,
                                               "cpu": kind}
    assert device._cudnn_version(8902) == "8.9.2" and device._cudnn_version(90100) == "9.1.0"


@pytest.fixture
def fake_device(monkeypatch):
    """`fake_device(rate)`: matmuls that cost nothing but advance a fake clock as a device of `rate` FLOP/s would;
    returns the clock (one-item list) and the sizes multiplied."""

    def fake(rate: float):
        now, sizes = [0.0], []

        def matmul(a, b):
            sizes.append(a.shape[0])
            now[0] += 2 * a.shape[0] ** 3 / rate

        monkeypatch.setattr(device, "_matmul", matmul)
        monkeypatch.setattr(device.time, "perf_counter", lambda: now[0])
        monkeypatch.setattr(device.torch, "randn", lambda n, m, **kw: torch.empty(n, 0))  # no real n² matrices
        return now, sizes

    return fake


def test_peak_measurement_stays_near_its_time_on_a_slow_dtype(fake_device):
    # Bug: on a CPU without bf16 instructions (AMD EPYC Zen 3, AVX2 only) a bf16 matmul runs at about 1 GFLOP/s,
    # and the peak measurement's warm-up and first product at n = 2048 took tens of seconds after a bf16 run
    # (the GPU script's dry run hit its time limit). Faked here: a clock that advances as a 1 GFLOP/s device
    # would, so the measurement's own cost is counted without timing anything.
    now, sizes = fake_device(1e9)
    peak = device._measure_peak(torch.device("cpu"), torch.bfloat16, seconds=0.3)
    assert now[0] <= 2 * 0.3  # about its time, not the ~40 s of the products at n = 1024 and 2048
    assert peak == pytest.approx(1e9)
    assert max(sizes) < 1024


def test_peak_measurement_reaches_the_large_sizes_on_a_fast_device(fake_device):
    now, sizes = fake_device(1e12)
    peak = device._measure_peak(torch.device("cpu"), None, seconds=0.3)
    assert peak == pytest.approx(1e12) and max(sizes) == 2048

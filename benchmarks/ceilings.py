"""The machine's ceilings: dense matmul FLOP/s (fp32, and bf16 where the CPU has it) and memory bandwidth.

A square 2048×2048 matmul on every thread is the most a convolution lowered to GEMM can hope
for, so it is the denominator of every "share of the ceiling" figure; the copy of a tensor far
larger than the caches bounds the memory-bound layers (BN, ReLU, additions, the optimizer).
"""

from __future__ import annotations

from benchmarks.timing import measure

TITLE = "Ceilings"
MATMUL_SIZE = 2048
COPY_BYTES = 256 * 2**20  # per tensor: far beyond any cache


def matmul(dtype_name: str, n: int = MATMUL_SIZE, repeats: int = 10, device: str = "cpu") -> dict:
    """FLOP/s of an n×n by n×n matmul (2·n³ FLOPs), median over `repeats` after warm-up."""
    import torch

    dtype = getattr(torch, dtype_name)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    sync = (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else None
    t = measure(lambda: a @ b, warmup=2, repeats=repeats, sync=sync)
    flops = 2 * n**3
    return {"what": f"matmul {n}² {dtype_name}", "dtype": dtype_name, "n": n, "flops_per_call": flops,
            "timing": t.as_dict(), "flops_per_s": flops / t.median, "spread": t.spread}


def conv_gemm(repeats: int = 10, channels: int = 1024, size: int = 32, batch: int = 8) -> dict:
    """FLOP/s of a 1×1 convolution (a GEMM run by oneDNN's own kernels, as every conv here is), channels-last.

    On CPUs where torch's matmul library takes a slower path (MKL on AMD), this is the higher of
    the two, and the reason a conv layer can run above the matmul ceiling.
    """
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=g).to(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(channels, channels, 1, bias=False).to(memory_format=torch.channels_last)

    def step():
        with torch.no_grad():
            conv(x)

    t = measure(step, warmup=2, repeats=repeats)
    flops = 2 * batch * size * size * channels * channels
    return {"what": f"1×1 conv {channels}→{channels}, {size}² × {batch} (oneDNN GEMM) float32", "n": channels,
            "flops_per_call": flops, "timing": t.as_dict(), "flops_per_s": flops / t.median, "spread": t.spread}


def bandwidth(nbytes: int = COPY_BYTES, repeats: int = 10, device: str = "cpu") -> dict:
    """Bytes/s of `dst.copy_(src)` for a tensor of `nbytes`: each copy reads and writes it (2 × nbytes)."""
    import torch

    src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    sync = (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else None
    t = measure(lambda: dst.copy_(src), warmup=2, repeats=repeats, sync=sync)
    moved = 2 * nbytes
    return {"what": f"copy {nbytes / 2**20:.0f} MiB fp32", "bytes_per_call": moved, "timing": t.as_dict(),
            "bytes_per_s": moved / t.median, "spread": t.spread}


def bf16_supported() -> bool:
    """Whether this CPU has native bf16 dot products (AVX-512 BF16 or AMX): ablate's own test, the one
    that makes `trainer.precision=auto` pick bf16."""
    from ablate.run.device import cpu_has_bf16

    return cpu_has_bf16()


def run(quick: bool, results: dict) -> dict:
    repeats = 5 if quick else 15
    rows = [matmul("float32", repeats=repeats), matmul("bfloat16", repeats=repeats), conv_gemm(repeats=repeats),
            bandwidth(repeats=repeats)]
    fp32, bf16, gemm, copy = rows
    notes = [
        f"bf16: this CPU {'has' if bf16_supported() else 'lacks'} native bf16 dot products "
        f"(avx512_bf16/amx); bf16 matmul runs at {bf16['flops_per_s'] / fp32['flops_per_s']:.2f}× fp32.",
        "Shares are against the fp32 ceiling whatever the precision a row trains in (the targets' yardstick): "
        "rows in bf16 autocast are marked so.",
        f"Shares below are against the 2048² fp32 matmul, as the targets define them. oneDNN's own GEMM (the "
        f"1×1 conv) reaches {gemm['flops_per_s'] / fp32['flops_per_s']:.2f}× that here, so a large conv can show a "
        "share above 100%, and against oneDNN's figure every share is that much lower.",
    ]
    table = {
        "headers": ["ceiling", "median", "± (IQR/2)", "calls"],
        "rows": [
            [fp32["what"], f"{fp32['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{fp32['spread']:.1%}", fp32["timing"]["n"]],
            [bf16["what"], f"{bf16['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{bf16['spread']:.1%}", bf16["timing"]["n"]],
            [gemm["what"], f"{gemm['flops_per_s'] / 1e9:.1f} GFLOP/s", f"{gemm['spread']:.1%}", gemm["timing"]["n"]],
            [copy["what"], f"{copy['bytes_per_s'] / 1e9:.1f} GB/s (read+write)", f"{copy['spread']:.1%}",
             copy["timing"]["n"]],
        ],
    }
    return {"title": TITLE, "fp32_flops_per_s": fp32["flops_per_s"], "bf16_flops_per_s": bf16["flops_per_s"],
            "conv_gemm_flops_per_s": gemm["flops_per_s"],
            "bandwidth_bytes_per_s": copy["bytes_per_s"], "rows": rows, "table": table, "notes": notes}


def fp32_peak(results: dict) -> float:
    """The fp32 matmul ceiling of this run: the best of its measurements so far (measured now if none).

    On a shared machine a ceiling taken while other work runs reads low and would inflate every
    share; the best reading is the machine's ceiling.
    """
    if "ceilings" not in results:
        results["ceilings"] = run(True, results)
    c = results["ceilings"]
    return max([c["fp32_flops_per_s"], *c.get("fp32_later", [])])


def remeasure(results: dict, quick: bool) -> float:
    """Measure the fp32 ceiling again (after a group's workloads) and return the best so far."""
    fp32_peak(results)
    again = matmul("float32", repeats=5 if quick else 15)
    results["ceilings"].setdefault("fp32_later", []).append(again["flops_per_s"])
    results["ceilings"]["notes"].append(f"fp32 matmul measured again after the model workloads: "
                                        f"{again['flops_per_s'] / 1e9:.1f} GFLOP/s; shares use the best reading, "
                                        f"{fp32_peak(results) / 1e9:.1f} GFLOP/s.")
    return fp32_peak(results)

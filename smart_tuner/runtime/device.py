"""Where to run: CUDA when present, then Apple's MPS, then the CPU."""

from __future__ import annotations

import os

import torch


def select_device(preference: str = "auto") -> torch.device:
    if preference != "auto":
        if preference == "cuda" and not torch.cuda.is_available():
            raise ValueError("training.device is 'cuda' but no CUDA device is available")
        if preference == "mps" and not torch.backends.mps.is_available():
            raise ValueError("training.device is 'mps' but MPS is not available")
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def configure_threads(num_threads: int | None) -> int:
    """Use every core for intra-op work; small models gain nothing from inter-op threads."""
    threads = num_threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def cpu_supports_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX): there bf16 matrix
    products run ~1.8x faster than float32. Elsewhere oneDNN emulates bf16 and a training
    step is slower than in float32 (on an AVX512 Xeon without BF16: 3.68 s against 2.04 s),
    so oneDNN's own "bf16 supported" (true on any AVX512 CPU) is not the test."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)
    except RuntimeError:
        return False


def amp_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """The autocast dtype for mixed precision on this device, or None for float32.

    CUDA: float16 (with a gradient scaler). CPU: bfloat16 where the CPU computes it natively
    (same exponent range as float32, so no scaler). MPS: float32.
    """
    if not enabled:
        return None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_supports_bf16():
        return torch.bfloat16
    return None

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

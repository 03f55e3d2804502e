"""Small helpers shared by the trackers: paths, parameter flattening, metric filtering, memory."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

# Keys of RunStarted.params that describe the dataset (set by the analysis/recommendation
# stage when it runs; every one of them may be absent).
PROFILE_KEYS = (
    "dataset_fingerprint",
    "dataset_hours",
    "quality_percent",
    "complexity_level",
    "language",
    "preset",
    "recommended_epochs",
    "table_epochs",
)
# A nested dict under one of these keys is merged into the profile features too.
PROFILE_DICT_KEYS = ("profile", "dataset_profile")

# Pictures are kept every IMAGE_EVERY epochs (and at epoch 1 and the end): a 2000-epoch run
# would otherwise store 4000 PNGs per tracker.
IMAGE_EVERY = 10


def resolve_path(path: str | Path, base: Path | None = None) -> Path:
    """A config path: absolute as given, relative ones against `base` (the working directory)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base or Path.cwd()) / p


def scalar(value: Any) -> str | int | float | bool | None:
    """A value a tracker can store as a parameter: numbers, text, booleans; else its str()."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists and other objects become strings."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = scalar(value)
    return out


def finite_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric, finite values of a metrics record (booleans and text are left out)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


def profile_features(params: dict[str, Any]) -> dict[str, Any]:
    """Dataset profile features found in RunStarted.params (flat keys or a nested dict)."""
    features: dict[str, Any] = {}
    for key in PROFILE_DICT_KEYS:
        nested = params.get(key)
        if isinstance(nested, dict):
            features.update({k: v for k, v in nested.items() if v is not None})
    for key in PROFILE_KEYS:
        if params.get(key) is not None:
            features[key] = params[key]
    return features


def system_metrics(params: dict[str, Any], metrics: dict[str, float]) -> dict[str, float]:
    """Memory (RAM RSS, GPU) and throughput, computed in the tracker's process.

    GPU figures only when torch is already loaded and CUDA is available (never imports torch).
    """
    out: dict[str, float] = {}
    rss = _rss_bytes()
    if rss is not None:
        out["system/ram_rss_mb"] = rss / 2**20
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            out["system/gpu_memory_allocated_mb"] = torch.cuda.memory_allocated() / 2**20
            out["system/gpu_memory_reserved_mb"] = torch.cuda.memory_reserved() / 2**20
            out["system/gpu_max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    except Exception:  # a broken CUDA query never costs a metric record
        pass
    items, seconds = params.get("train_items"), metrics.get("train_seconds")
    if isinstance(items, int | float) and isinstance(seconds, int | float) and seconds > 0:
        out["system/samples_per_second"] = float(items) / float(seconds)
    return out


def _rss_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.Process(os.getpid()).memory_info().rss)
    except Exception:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux (peak, not now)
        return int(peak) * (1 if sys.platform == "darwin" else 1024)
    except Exception:
        return None

"""Warm-starting from a pretrained checkpoint (ours or NVIDIA/tacotron2's).

Every tensor whose name and shape match is copied; everything else is skipped and reported, so
a checkpoint trained on another symbol set (a different embedding size) still gives its
encoder, decoder and postnet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from smart_tuner.checkpoint_diagnosis import explain_load_failure
from smart_tuner.runtime.checkpoint import CheckpointError  # a ValueError

_EMBEDDING_KEY = "embedding.weight"
_DATA_PARALLEL_PREFIX = "module."


@dataclass
class WarmStartReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)

    def summary(self) -> str:
        """A few lines for the log: counts, then each skipped tensor and why."""
        lines = [f"warm start: loaded {len(self.loaded)} tensors, skipped {len(self.skipped)}"]
        lines += [f"  - {name}: {reason}" for name, reason in self.skipped]
        return "\n".join(lines)


def _shape(t: Tensor) -> str:
    return "[" + ",".join(str(d) for d in t.shape) + "]"


def extract_state_dict(obj: Any) -> dict[str, Tensor]:
    """The model weights in a loaded checkpoint, with any DataParallel ``module.`` prefix cut.

    Accepts NVIDIA's ``{'state_dict': ...}``, our ``{'model': ...}`` or a bare state_dict.
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"not a checkpoint: expected a dict, got {type(obj).__name__}")
    for key in ("state_dict", "model"):
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise ValueError(
            "not a checkpoint: found no tensors (expected a state_dict, or a dict with a "
            "'state_dict' or 'model' entry)"
        )
    return {k.removeprefix(_DATA_PARALLEL_PREFIX): v for k, v in tensors.items()}


def load_checkpoint_state(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint file safely (weights only, onto the CPU) and return its state_dict."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # random bytes fail in many ways (IndexError, KeyError, ...)
        # PyTorch's text may advise weights_only=False (arbitrary code): never relayed.
        raise CheckpointError(explain_load_failure(path, exc)) from None
    try:
        return extract_state_dict(obj)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def warm_start(
    model: nn.Module, state_dict: Mapping[str, Any], skip_embedding_if_mismatch: bool = True
) -> WarmStartReport:
    """Copy matching tensors of ``state_dict`` (any form `extract_state_dict` takes) into model.

    Tensors missing from either side, or of a different shape, are skipped and reported. An
    embedding of a different size (another symbol set) is skipped too, unless
    ``skip_embedding_if_mismatch`` is False: then it raises, for callers that require the same
    symbols. Raises ValueError when nothing at all matches, which means the wrong file.
    """
    source = extract_state_dict(state_dict)
    target = model.state_dict()
    report = WarmStartReport()
    with torch.no_grad():
        for name, param in target.items():
            if name not in source:
                report.skipped.append((name, "not in checkpoint"))
                continue
            value = source[name]
            if value.shape != param.shape:
                reason = f"shape mismatch (ckpt {_shape(value)} vs model {_shape(param)})"
                if name == _EMBEDDING_KEY and not skip_embedding_if_mismatch:
                    raise CheckpointError(
                        f"{name}: {reason}; the checkpoint uses another symbol set"
                    )
                report.skipped.append((name, reason))
                continue
            param.copy_(value)  # state_dict tensors share storage with the model
            report.loaded.append(name)
    report.skipped += [(name, "not in model") for name in source if name not in target]
    if not report.loaded:
        raise CheckpointError(
            "the checkpoint shares no tensor (same name and shape) with the model; "
            "is it a Tacotron2 checkpoint?"
        )
    return report

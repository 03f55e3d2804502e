"""DNSMOS P.835 (Reddy et al., ICASSP 2022): a non-intrusive MOS for speech quality.

The model is the ONNX file that the `speechmos` package ships
(`speechmos/dnsmos_models/sig_bak_ovr.onnx`). It is run here with onnxruntime directly, without
importing `speechmos` itself (whose module imports librosa and requests at load time). The
model scores 9.01 s windows of 16 kHz audio and returns SIG (speech), BAK (background) and OVRL
(overall) on a 1-5 scale after the published polynomial calibration. Utterances are
concatenated into windows, which scores three short utterances for the price of one.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WINDOW_SECONDS = 9.01
SAMPLE_RATE = 16000
WINDOW = int(WINDOW_SECONDS * SAMPLE_RATE)

# speechmos.dnsmos.DNSMOS.get_polyfit_val, non-personalised model.
_P_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_P_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_P_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


class DnsmosUnavailable(RuntimeError):
    """The model or onnxruntime is not installed; the quality score goes on without DNSMOS."""


def model_path() -> Path:
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise DnsmosUnavailable("the speechmos package (which ships the model) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models" / "sig_bak_ovr.onnx"
    if not path.is_file():
        raise DnsmosUnavailable(f"DNSMOS model not found at {path}")
    return path


def available() -> str | None:
    """None when DNSMOS can run, else the reason it cannot."""
    try:
        model_path()
    except DnsmosUnavailable as exc:
        return str(exc)
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed"
    return None


@functools.cache
def _get_session() -> Any:
    """One ONNX session per process (a failure is not cached: the next call says it again)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DnsmosUnavailable("onnxruntime is not installed") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one per worker process; the pool gives parallelism
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


@dataclass
class DnsmosScore:
    sig: float
    bak: float
    ovrl: float
    seconds: float  # audio actually scored (before tiling a short window)

    def to_dict(self) -> dict[str, float]:
        return {"sig": self.sig, "bak": self.bak, "ovrl": self.ovrl, "seconds": self.seconds}


def score_window(wav16k: np.ndarray) -> DnsmosScore:
    """Score one window of 16 kHz audio; shorter audio is repeated to 9.01 s as DNSMOS does."""
    wav = np.asarray(wav16k, dtype=np.float32)
    seconds = len(wav) / SAMPLE_RATE
    if wav.size == 0:
        raise ValueError("empty audio")
    if len(wav) < WINDOW:
        wav = np.tile(wav, int(np.ceil(WINDOW / len(wav))))
    wav = np.clip(wav[:WINDOW], -1.0, 1.0)
    sig, bak, ovr = _get_session().run(None, {"input_1": wav[None, :]})[0][0]
    return DnsmosScore(
        float(_P_SIG(sig)), float(_P_BAK(bak)), float(_P_OVR(ovr)), round(seconds, 3)
    )


def windows(durations: list[float], max_seconds: float) -> list[list[int]]:
    """Group utterances (indices, in the given order) into ~9 s windows, up to `max_seconds`."""
    groups: list[list[int]] = []
    current: list[int] = []
    filled = total = 0.0
    for i, seconds in enumerate(durations):
        if total >= max_seconds:
            break
        current.append(i)
        filled += seconds
        total += seconds
        if filled >= WINDOW_SECONDS:
            groups.append(current)
            current, filled = [], 0.0
    if current:
        groups.append(current)
    return groups

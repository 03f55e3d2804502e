"""Class boundaries and the quality weights: tiny and import-free, shared by the analysis and
the recommendation (which must stay plain Python)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smart_tuner.config import AnalysisConfig

# name: (label, weight, value scored 0 %, value scored 100 %); see smart_tuner.analysis.scoring
QUALITY_WEIGHTS: dict[str, tuple[str, float, float, float]] = {
    "dnsmos_ovrl": ("DNSMOS P.835 overall", 0.30, 2.0, 3.3),
    "snr": ("SNR (WADA, median)", 0.25, 5.0, 30.0),
    "bandwidth": ("effective bandwidth", 0.15, 0.5, 0.9),
    "clipping": ("clipped files", 0.10, 0.20, 0.0),
    "speech_ratio": ("speech ratio (median)", 0.05, 0.5, 0.75),
    "edge_silence": ("long leading/trailing silence", 0.05, 0.5, 0.0),
    "dc_offset": ("DC offset", 0.05, 0.20, 0.0),
    "sample_rate_mix": ("files at the main sampling rate", 0.05, 0.8, 1.0),
}


def classify_size(hours: float, cfg: AnalysisConfig) -> str:
    """S1: very_small < 0.5 h <= small < 1 h <= medium < 3 h <= large <= 10 h < very_large."""
    b = cfg.size_classes
    if hours < b.very_small:
        return "very_small"
    if hours < b.small:
        return "small"
    if hours < b.medium:
        return "medium"
    if hours <= b.large:
        return "large"
    return "very_large"


def classify_quality(percent: float | None, cfg: AnalysisConfig) -> str:
    """S2: excellent > 90 %, good 70-90 %, fair 50-70 %, poor < 50 %; None: unknown."""
    if percent is None:
        return "unknown"
    b = cfg.quality_classes
    if percent > b.excellent:
        return "excellent"
    if percent >= b.good:
        return "good"
    if percent >= b.fair:
        return "fair"
    return "poor"


def complexity_level(n_flags: int, cfg: AnalysisConfig) -> str:
    t = cfg.complexity_thresholds
    if n_flags >= t.complex_flags:
        return "complex"
    if n_flags >= t.moderate_flags:
        return "moderate"
    return "simple"

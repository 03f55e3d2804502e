"""The learning-rate shape (S12, S14): warm-up, cosine annealing, LR restarts.

Also the guided-attention weight's per-step decay. Pure functions of the epoch (fractional)
and the horizon, so the schedule can be plotted,
tested and replayed without a model. Factors are relative to the attempt's base LR; reductions,
batch scaling and clamps are applied by `TrainingController.learning_rate`.
"""

from __future__ import annotations

import math

from smart_tuner.config import GuidedAttentionConfig
from smart_tuner.control.plan import Horizon


def cosine(t: float, t0: float, t1: float, high: float, low: float) -> float:
    """Half a cosine from `high` at t0 to `low` at t1 (flat outside)."""
    if t1 <= t0:
        return low
    p = min(1.0, max(0.0, (t - t0) / (t1 - t0)))
    return low + (high - low) * 0.5 * (1.0 + math.cos(math.pi * p))


def schedule_factor(
    t: float,
    h: Horizon,
    *,
    scheduling: bool,
    warm_from: float,
    decay_to: float,
    restart: list[float] | None,
    decay_start: float | None = None,
) -> float:
    """Linear warm-up from `warm_from` to 1 over `h.warmup` epochs, then cosine down to
    `decay_to` at the horizon's end; after an LR restart `[start, warmup, from, peak]`, a linear
    warm-up from `from` to `peak`, then cosine down to `decay_to` at the same end (SGDR-like).
    With `decay_start` the first cosine begins no earlier than that epoch (inf: not yet)."""
    first = h.start + h.warmup if decay_start is None else max(h.start + h.warmup, decay_start)
    if not scheduling:
        factor = 1.0
    elif h.warmup > 0 and t - h.start < h.warmup:
        factor = warm_from + (1.0 - warm_from) * max(0.0, t - h.start) / h.warmup
    elif first >= h.end:
        factor = 1.0
    else:
        factor = cosine(t, first, h.end, 1.0, decay_to)
    if restart is not None and t >= restart[0]:
        start, warm, origin, peak = restart
        if warm > 0 and t - start < warm:
            factor = origin + (peak - origin) * (t - start) / warm
        else:
            factor = cosine(t, start + warm, h.end, peak, decay_to)
    return factor


def decayed_guidance(weight: float, steps: int, cfg: GuidedAttentionConfig) -> float:
    """Guided-attention loss weight `steps` optimizer steps into an attempt: decays, but never
    below min_weight. Strong guidance early makes alignment appear quickly; letting it fade
    avoids forcing a strictly linear alignment on speech whose pace varies."""
    return max(cfg.min_weight, weight * cfg.decay**steps)

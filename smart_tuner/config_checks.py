"""Relations between config values that no single field can check on its own.

Each key may be in its own range and the whole still make no sense: an epoch range whose
minimum is above its maximum, phase boundaries out of order, a warm-up longer than the plan.
These are checked on the final config (file merged with the command-line flags), and every
broken relation is reported at once, naming the keys and their values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smart_tuner.config import Config


def _ordered(names: list[str], values: list[float], strict: bool = False) -> Iterator[str]:
    """One message when `values` (named by their dotted keys) are not in ascending order."""
    pairs = list(zip(values, values[1:], strict=False))
    bad = any((b <= a) if strict else (b < a) for a, b in pairs)
    if bad:
        sign = " < " if strict else " <= "
        shown = sign.join(f"{n} ({v:g})" for n, v in zip(names, values, strict=True))
        yield f"must hold: {shown}"


def broken_relations(config: Config) -> list[str]:
    """Every relation the config breaks, as 'must hold: ...' lines (empty: all fine)."""
    out: list[str] = []
    # Ranges inside the search space (min <= default <= max, log ranges above 0) are checked
    # by their own sections in config/.
    e = config.hyperparameter_search_space.epochs
    c = config.control
    reference = c.reference_epochs or e.default
    out += _ordered(
        ["control.alignment_end_epoch", "control.learning_end_epoch"],
        [c.alignment_end_epoch, c.learning_end_epoch],
        strict=True,
    )
    lr = config.adaptive_learning.lr_scheduling
    ref_name = "control.reference_epochs" if c.reference_epochs else "epochs.default"
    if lr.enabled and lr.warmup_epochs >= reference:
        out.append(
            f"must hold: adaptive_learning.lr_scheduling.warmup_epochs ({lr.warmup_epochs}) < "
            f"the plan it is written for, {ref_name} ({reference}): the warm-up would never end"
        )
    restart = config.training_recovery.recovery_strategies.lr_restart
    if restart.warmup_epochs >= reference:
        out.append(
            "must hold: training_recovery.recovery_strategies.lr_restart.warmup_epochs "
            f"({restart.warmup_epochs}) < {ref_name} ({reference})"
        )
    phases = config.early_stopping.adaptive_thresholds
    out += _ordered(
        [
            f"early_stopping.adaptive_thresholds.{p}_phase.attention_threshold"
            for p in ("alignment", "learning", "fine_tuning")
        ],
        [
            phases.alignment_phase.attention_threshold,
            phases.learning_phase.attention_threshold,
            phases.fine_tuning_phase.attention_threshold,
        ],
    )

    d = config.data
    out += _ordered(["data.min_seconds", "data.max_seconds"], [d.min_seconds, d.max_seconds], True)
    a = config.audio
    out += _ordered(
        ["audio.hop_length", "audio.win_length", "audio.filter_length"],
        [a.hop_length, a.win_length, a.filter_length],
    )
    out += _ordered(["audio.mel_fmin", "audio.mel_fmax"], [a.mel_fmin, a.mel_fmax], strict=True)
    out += _ordered(
        ["audio.mel_fmax", "audio.sampling_rate / 2"], [a.mel_fmax, a.sampling_rate / 2]
    )
    g = config.training.guided_attention
    out += _ordered(
        ["training.guided_attention.min_weight", "training.guided_attention.weight"],
        [g.min_weight, g.weight],
    )

    an = config.analysis
    s = an.size_classes
    out += _ordered(
        [f"analysis.size_classes.{k}" for k in ("very_small", "small", "medium", "large")],
        [s.very_small, s.small, s.medium, s.large],
        strict=True,
    )
    q = an.quality_classes
    out += _ordered(
        [f"analysis.quality_classes.{k}" for k in ("fair", "good", "excellent")],
        [q.fair, q.good, q.excellent],
        strict=True,
    )
    t = an.complexity_thresholds
    out += _ordered(
        [
            "analysis.complexity_thresholds.moderate_flags",
            "analysis.complexity_thresholds.complex_flags",
        ],
        [t.moderate_flags, t.complex_flags],
    )
    ui = config.tracking.ui
    ports = {
        "mlflow_port": ui.mlflow_port,
        "tensorboard_port": ui.tensorboard_port,
        "optuna_dashboard_port": ui.optuna_dashboard_port,
    }
    if len(set(ports.values())) < len(ports):
        shown = ", ".join(f"tracking.ui.{k} ({v})" for k, v in ports.items())
        out.append(f"must hold: the dashboard ports differ: {shown}")
    return out

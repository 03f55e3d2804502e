"""The plan a run trains under, and how the user's epoch numbers scale to it.

The user's epoch numbers (warm-up 100, alignment 0-500, learning 500-2000, patience 100/150/200,
plateau 100, restart warm-up 50, analysis every 50, prediction after 100) describe a plan of
`hyperparameter_search_space.epochs.default` = 2000 epochs. A 40-epoch plan must still warm up,
pass through all three phases and be analysed, so every such number is multiplied by

    scale = epochs in this horizon / reference epochs          (reference = 2000 by default)

and rounded, with a floor that keeps it meaningful (patience >= `control.min_patience_epochs`,
cool-down >= 2, ...). One exception: the user's fine-tuning phase starts at 2000, i.e. at the end
of a 2000-epoch plan; so that a plan always has one, fine-tuning gets at least the last
`control.min_fine_tuning_fraction` (20 %) of the horizon. For the default plan that is
alignment 0-500, learning 500-1600, fine-tuning 1600-2000; for a 30-epoch plan 0-8, 8-24, 24-30.

A horizon is the stretch of epochs being planned: the whole plan at first, the remaining epochs
after a restart, or the epochs that fit in the time budget once the epoch time is known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from smart_tuner.config import Config

PHASES = ("alignment", "learning", "fine_tuning")


@dataclass(frozen=True)
class TrainingPlan:
    """What the run was asked to do; batch bounds default to the search space's choices."""

    max_epochs: int
    learning_rate: float
    batch_size: int
    max_minutes: float | None = None
    min_batch_size: int | None = None
    max_batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        low = self.batch_size if self.min_batch_size is None else self.min_batch_size
        high = self.batch_size if self.max_batch_size is None else self.max_batch_size
        object.__setattr__(self, "min_batch_size", max(1, min(low, self.batch_size)))
        object.__setattr__(self, "max_batch_size", max(high, self.batch_size))

    @classmethod
    def from_config(
        cls,
        config: Config,
        max_epochs: int | None = None,
        *,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        max_minutes: float | None = None,
    ) -> TrainingPlan:
        """The plan `smart-tuner train` would use; arguments win over the config."""
        training = config.training
        epochs = max_epochs or training.epochs or config.hyperparameter_search_space.epochs.default
        batch = batch_size or training.batch_size
        choices = list(config.hyperparameter_search_space.batch_size.choices) or [batch]
        return cls(
            max_epochs=int(epochs),
            learning_rate=float(learning_rate or training.learning_rate),
            batch_size=int(batch),
            max_minutes=max_minutes if max_minutes is not None else training.max_minutes,
            min_batch_size=min(*choices, batch),
            max_batch_size=max(*choices, batch),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingPlan:
        return cls(**data)


@dataclass(frozen=True)
class Horizon:
    """The user's epoch numbers scaled to `end - start` epochs (absolute epoch numbers)."""

    start: int
    end: int
    scale: float
    warmup: int
    alignment_end: int
    learning_end: int
    patience: dict[str, int]
    min_improvement: dict[str, float]
    attention_threshold: dict[str, float]
    plateau_patience: int
    restart_warmup: int
    cooldown: int
    sustain: int
    stability_window: int
    ema_alpha: float
    report_interval: int
    prediction_after: int

    @classmethod
    def build(cls, config: Config, start: int, end: int) -> Horizon:
        """Scale the config's epoch numbers to epochs `start`..`end` (see the module doc)."""
        length = max(1, end - start)
        reference = (
            config.control.reference_epochs or config.hyperparameter_search_space.epochs.default
        )
        scale = length / reference
        floor = config.control.min_patience_epochs

        def scaled(value: float, minimum: int) -> int:
            return max(minimum, round(value * scale))

        lr_cfg = config.adaptive_learning.lr_scheduling
        warmup = 0 if lr_cfg.warmup_epochs == 0 else min(scaled(lr_cfg.warmup_epochs, 1), length)
        align = min(scaled(config.control.alignment_end_epoch, 1), max(1, length - 2))
        keep_fine = max(1, round(config.control.min_fine_tuning_fraction * length))
        learn = min(scaled(config.control.learning_end_epoch, 1), length - keep_fine)
        learn = max(learn, min(align + 1, length))

        es = config.early_stopping
        adaptive = es.adaptive_thresholds
        phases = {
            "alignment": adaptive.alignment_phase,
            "learning": adaptive.learning_phase,
            "fine_tuning": adaptive.fine_tuning_phase,
        }
        if adaptive.enabled:
            patience = {k: scaled(p.patience, floor) for k, p in phases.items()}
            improvement = {k: p.min_improvement for k, p in phases.items()}
        else:
            patience = dict.fromkeys(phases, scaled(es.patience_epochs, floor))
            improvement = dict.fromkeys(phases, es.min_delta)
        recovery = config.training_recovery
        plateau = recovery.problem_detection.loss_plateau.patience or 100
        restart_warmup = recovery.recovery_strategies.lr_restart.warmup_epochs
        span = scaled(10, 5)
        return cls(
            start=start,
            end=end,
            scale=scale,
            warmup=warmup,
            alignment_end=start + align,
            learning_end=start + learn,
            patience=patience,
            min_improvement=improvement,
            attention_threshold={k: p.attention_threshold for k, p in phases.items()},
            plateau_patience=scaled(plateau, floor),
            restart_warmup=0 if restart_warmup == 0 else scaled(restart_warmup, 1),
            cooldown=scaled(config.control.cooldown_epochs, 2),
            sustain=scaled(10, 2),
            stability_window=scaled(100, 5),
            ema_alpha=2.0 / (span + 1.0),
            # Reports follow the whole run (0..end), not the attempt, so a restart keeps the rhythm.
            report_interval=max(
                1,
                min(
                    end // 3,
                    max(5, round(config.control.progress_interval_epochs * end / reference)),
                ),
            ),
            prediction_after=scaled(config.control.prediction_after_epochs, 8),
        )

    def phase_at(self, epoch: float) -> str:
        """The phase the epoch bounds alone would give (model state may delay a transition)."""
        if epoch < self.alignment_end:
            return "alignment"
        return "learning" if epoch < self.learning_end else "fine_tuning"

"""The user's own sections (S22): the search space and settings, early stopping, over-fitting
detection, adaptive learning, recovery, and the controller's knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from smart_tuner.config.base import Section

# ---------------------------------------------------------------- the user's sections (S22)


class EpochRange(Section):
    min: int = Field(500, ge=1)
    max: int = Field(5000, ge=1)
    default: int = Field(2000, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> EpochRange:
        if not self.min <= self.default <= self.max:
            raise ValueError(
                f"needs min <= default <= max, got {self.min} / {self.default} / {self.max}"
            )
        return self


class FloatRange(Section):
    min: float
    max: float
    log: bool = False

    @model_validator(mode="after")
    def _possible(self) -> FloatRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        if self.log and self.min <= 0:
            raise ValueError(f"a log range needs min > 0, got {self.min:g}")
        return self


class IntChoices(Section):
    choices: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _positive(self) -> IntChoices:
        if any(c < 1 for c in self.choices):
            raise ValueError(f"choices must be positive integers, got {self.choices}")
        return self


class SearchSpace(Section):
    """What `optimize` searches (the user's schema); a `null` entry is not searched."""

    epochs: EpochRange = EpochRange()
    learning_rate: FloatRange = FloatRange(min=1e-4, max=2e-3, log=True)
    batch_size: IntChoices = IntChoices(choices=[8, 16, 32])
    guided_attention_weight: FloatRange | None = FloatRange(min=1.0, max=20.0, log=True)
    p_attention_dropout: FloatRange | None = FloatRange(min=0.0, max=0.2)
    p_decoder_dropout: FloatRange | None = FloatRange(min=0.0, max=0.2)
    weight_decay: FloatRange | None = FloatRange(min=1e-8, max=1e-4, log=True)
    grad_clip_thresh: FloatRange | None = FloatRange(min=0.5, max=5.0, log=True)
    n_frames_per_step: IntChoices | None = IntChoices(choices=[2, 3])


class SearchSettings(Section):
    """How `optimize` runs its trials (the space itself is `hyperparameter_search_space`)."""

    trial_epochs: int = Field(
        30, ge=1, description="Each trial's scaled-down budget; the schedule is scaled to it."
    )
    trial_max_minutes: float | None = Field(None, gt=0.0, description="Wall budget per trial.")
    sampler: Literal["tpe", "random"] = "tpe"
    objective: Literal["val_loss", "mel_quality"] = Field(
        "val_loss",
        description=(
            "What ranks the trials: the best validation loss, or mel_quality (MCD-DTW in dB of "
            "the trial's best checkpoint speaking `objective_sentences` held-out sentences, "
            "free-running; a few seconds per sentence on a CPU). Fixed for a study's lifetime."
        ),
    )
    objective_sentences: int = Field(
        4, ge=1, description="Held-out sentences each trial speaks for mel_quality."
    )
    pruning: Literal["tts", "loss_only", "none"] = Field(
        "tts", description="tts: no loss pruning before the grace point, attention check."
    )
    loss_pruner: Literal["halving", "median"] = Field(
        "halving",
        description="The loss rule: Optuna's successive halving (the top third of the trials "
        "at a rung go on, but at least the best: under 6 trials at the rung, only the best), "
        "or its median rule (a trial's best so far against the median of the completed "
        "trials at the same epoch, every epoch; gentler in small studies).",
    )
    alignment_grace: Literal["study", "fixed"] = Field(
        "study",
        description="study: the grace point is the latest epoch at which the study's finished "
        "trials formed attention, + attention_window (at least alignment_grace_epochs; none "
        "until one has formed); fixed: alignment_grace_epochs.",
    )
    alignment_grace_epochs: int = Field(
        10,
        ge=1,
        description="No pruning on loss before this epoch; with alignment_grace: fixed, "
        "attention must form by it.",
    )
    min_attention_score: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="attention_score a trial needs from the grace point on (mean of the last "
        "attention_window epochs).",
    )
    attention_window: int = Field(
        3,
        ge=1,
        description="Epochs averaged for the attention rule: one lucky epoch of an unaligned "
        "trial must not exempt it.",
    )
    divergence_factor: float = Field(
        3.0, gt=1.0, description="Diverged: val_loss this many times above its best so far."
    )
    heartbeat_seconds: int = Field(30, ge=1, description="A running trial's heartbeat.")
    stale_after_seconds: int = Field(
        120, ge=1, description="No heartbeat this long: the trial is failed and retried."
    )
    max_retries: int = Field(2, ge=0, description="Retries of a trial whose worker died.")
    warm_start_trials: int = Field(
        2, ge=0, description="Best parameters of similar past studies enqueued first."
    )
    seed: int | None = None


class PhaseThresholds(Section):
    patience: int = Field(ge=1)
    min_improvement: float = Field(ge=0.0)
    attention_threshold: float = Field(ge=0.0, le=1.0)


class AdaptiveThresholds(Section):
    enabled: bool = True
    alignment_phase: PhaseThresholds = PhaseThresholds(
        patience=100, min_improvement=0.01, attention_threshold=0.5
    )
    learning_phase: PhaseThresholds = PhaseThresholds(
        patience=150, min_improvement=0.005, attention_threshold=0.8
    )
    fine_tuning_phase: PhaseThresholds = PhaseThresholds(
        patience=200, min_improvement=0.001, attention_threshold=0.9
    )


class EarlyStopping(Section):
    enabled: bool = True
    patience_epochs: int = Field(200, ge=1)
    min_delta: float = Field(0.001, ge=0.0)
    adaptive_thresholds: AdaptiveThresholds = AdaptiveThresholds()


class AttentionDegradation(Section):
    enabled: bool = True
    min_diagonality: float = Field(0.7, ge=0.0, le=1.0)


class GatePatterns(Section):
    enabled: bool = True
    premature_stopping_threshold: float = Field(0.3, ge=0.0, le=1.0)


class OverfittingDetection(Section):
    enabled: bool = True
    val_loss_increase_threshold: float = Field(0.05, ge=0.0)
    quality_guard: bool = Field(
        True,
        description="Hold the over-fitting and early stops while the free-running speech of "
        "held-out sentences still improves (the quality monitor's mel_quality): on a small "
        "corpus the teacher-forced val_loss turns up long before the speech stops improving.",
    )
    quality_min_delta_db: float = Field(
        0.05,
        ge=0.0,
        description="An improvement of mel_quality (MCD-DTW) of at least this; the stop goes on "
        "once none came for the phase's early-stopping patience.",
    )
    attention_degradation: AttentionDegradation = AttentionDegradation()
    gate_patterns: GatePatterns = GatePatterns()


class LRScheduling(Section):
    enabled: bool = True
    scheduler_type: Literal["cosine_annealing", "constant"] = "cosine_annealing"
    warmup_epochs: int = Field(100, ge=0)
    min_lr_factor: float = Field(0.1, ge=0.0, le=1.0)
    hold_until_aligned: bool = Field(
        True,
        description="Keep the peak LR until the attention has formed (alignment phase's "
        "attention_threshold), then anneal over what is left: annealing first slows alignment.",
    )


class BatchSizeAdaptation(Section):
    enabled: bool = True
    increase_threshold: float = Field(0.95, gt=0.0)
    decrease_threshold: float = Field(2.0, gt=0.0)


class AdaptiveLearning(Section):
    enabled: bool = True
    lr_scheduling: LRScheduling = LRScheduling()
    batch_size_adaptation: BatchSizeAdaptation = BatchSizeAdaptation()


class ProblemAction(Section):
    threshold: float | None = None
    patience: int | None = Field(None, ge=1)
    action: str


class ProblemDetection(Section):
    gradient_explosion: ProblemAction = ProblemAction(threshold=10.0, action="reduce_lr")
    loss_plateau: ProblemAction = ProblemAction(patience=100, action="lr_restart")
    attention_collapse: ProblemAction = ProblemAction(threshold=0.3, action="attention_reset")


class ReduceLR(Section):
    factor: float = Field(0.5, gt=0.0, lt=1.0)
    min_lr: float = Field(1e-7, ge=0.0)


class LRRestart(Section):
    warmup_epochs: int = Field(50, ge=0)
    peak_lr_factor: float = Field(2.0, gt=0.0)


class AttentionReset(Section):
    reset_attention_weights: bool = True
    reset_optimizer_state: bool = True


class RecoveryStrategies(Section):
    reduce_lr: ReduceLR = ReduceLR()
    lr_restart: LRRestart = LRRestart()
    attention_reset: AttentionReset = AttentionReset()


class TrainingRecovery(Section):
    enabled: bool = True
    max_restarts: int = Field(3, ge=0)
    problem_detection: ProblemDetection = ProblemDetection()
    recovery_strategies: RecoveryStrategies = RecoveryStrategies()


class ControlConfig(Section):
    """The training controller's own knobs (not in the user's spec).

    Epoch values here, like the user's epoch values above, are meant for a plan of
    `reference_epochs` and are scaled linearly to the actual plan (see smart_tuner/control).
    """

    reference_epochs: int | None = Field(
        None,
        ge=1,
        description="Plan length the epoch values are written for; None = epochs.default.",
    )
    alignment_end_epoch: int = Field(500, ge=1, description="S11: alignment phase 0-500.")
    learning_end_epoch: int = Field(2000, ge=1, description="S11: learning phase 500-2000.")
    min_fine_tuning_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="Last share of the plan always left to fine-tuning."
    )
    progress_interval_epochs: int = Field(50, ge=1, description="S15: analysis every 50 epochs.")
    prediction_after_epochs: int = Field(100, ge=1, description="S25: predict after 100 epochs.")
    cooldown_epochs: int = Field(20, ge=1, description="Quiet time between corrective actions.")
    min_patience_epochs: int = Field(8, ge=1, description="Floor for scaled patience values.")
    max_attention_resets: int = Field(2, ge=0)
    max_rollbacks_in_a_row: int = Field(3, ge=1)
    nonfinite_step_tolerance: float = Field(
        0.01, ge=0.0, le=1.0, description="Share of skipped (NaN/Inf) steps tolerated per epoch."
    )
    restart_lr_factor: float = Field(0.5, gt=0.0, le=1.0)
    restart_guided_attention_factor: float = Field(2.0, ge=1.0)
    disabled_rules: list[str] = Field(
        default_factory=list,
        description="Controller rules switched off by name (see smart_tuner/control/rules): "
        "nan, sharpening, collapse, explosion, overfitting, plateau, early_stop, "
        "skipped_steps, batch_size.",
    )

"""The config.yaml schema.

Defaults are the user's own numbers (SPEC S11-S14, S22). Every section forbids unknown keys so a
typo fails loudly, naming the key's path and the closest valid name, instead of being ignored.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A config file that cannot be used; the message says which key and why."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
    pruning: Literal["tts", "loss_only", "none"] = Field(
        "tts", description="tts: no loss pruning before the grace point, attention check."
    )
    alignment_grace_epochs: int = Field(
        10, ge=1, description="No pruning on loss before this epoch; attention must form by it."
    )
    min_attention_score: float = Field(
        0.3, ge=0.0, le=1.0, description="attention_score a trial needs at the grace point."
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


# ---------------------------------------------------------------- data, model, training


class AudioConfig(Section):
    """Feature extraction; defaults match NVIDIA/tacotron2 so its checkpoints warm-start."""

    sampling_rate: int = Field(22050, ge=8000, le=96000)
    filter_length: int = Field(1024, ge=64)
    hop_length: int = Field(256, ge=16)
    win_length: int = Field(1024, ge=64)
    n_mel_channels: int = Field(80, ge=8, le=256)
    mel_fmin: float = Field(0.0, ge=0.0)
    mel_fmax: float = Field(8000.0, gt=0.0)
    max_wav_value: float = Field(32768.0, gt=0.0)


class DataConfig(Section):
    dataset_path: str | None = Field(
        None, description="Corpus used when none is given on the command line; None = demo."
    )
    language: Literal["auto", "en", "ru"] = "auto"
    fold_yo: bool = Field(False, description="Russian: fold ё into е (applied to all text).")
    expand_numbers: bool = True
    phonemes: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Model input: eSpeak NG IPA phonemes (auto = when the library loads) "
        "or letters (off). Phonemes spare a small corpus from learning spelling.",
    )
    validation_fraction: float = Field(0.05, gt=0.0, lt=0.5)
    min_validation_items: int = Field(4, ge=1)
    split_seed: int = 1234
    min_seconds: float = Field(0.3, ge=0.0)
    max_seconds: float = Field(20.0, gt=0.0)
    cache_dir: str | None = Field(
        None, description="Mel cache folder; default $XDG_CACHE_HOME/smart_tuner/mels."
    )
    num_workers: int = Field(0, ge=0, le=64)
    apply_analysis: bool = Field(
        True,
        description="train leaves out the files the dataset analysis gives a 'drop' verdict "
        "(silent, heavily clipped, low sample rate, text/audio mismatch...), each listed.",
    )
    analysis_drops: dict[str, str] = Field(
        default_factory=dict,
        exclude=True,
        description="Filled by train from the analysis (id -> reason); never written out.",
    )


class ModelConfig(Section):
    """Tacotron2 sizes. Field names follow NVIDIA/tacotron2's hparams."""

    preset: Literal["base", "small"] = "base"
    n_frames_per_step: int = Field(1, ge=1, le=8)
    symbols_embedding_dim: int = Field(512, ge=8)
    encoder_kernel_size: int = Field(5, ge=1)
    encoder_n_convolutions: int = Field(3, ge=0)
    encoder_embedding_dim: int = Field(512, ge=8)
    attention_rnn_dim: int = Field(1024, ge=8)
    attention: Literal["location_sensitive", "dynamic_convolution", "forward"] = Field(
        "location_sensitive",
        description="location_sensitive = NVIDIA's (warm-starts its checkpoints); "
        "dynamic_convolution = DCA (Battenberg et al. 2020), aligns in fewer steps; "
        "forward = forward attention with a transition agent (Zhang et al. 2018): monotonic, "
        "its pace predicted from the decoder state (initial pace: the dca_prior_* keys).",
    )
    attention_dim: int = Field(128, ge=8)
    dca_static_filters: int = Field(8, ge=1)
    dca_static_kernel_size: int = Field(21, ge=1)
    dca_dynamic_filters: int = Field(8, ge=1)
    dca_dynamic_kernel_size: int = Field(21, ge=1)
    dca_prior_length: int = Field(11, ge=2)
    dca_prior_alpha: float = Field(0.1, gt=0.0)
    dca_prior_beta: float = Field(0.9, gt=0.0)
    dca_content: bool = Field(
        False,
        description="Add a content term (query . encoder keys) to DCA's location energies.",
    )
    attention_location_n_filters: int = Field(32, ge=1)
    attention_location_kernel_size: int = Field(31, ge=1)
    decoder_rnn_dim: int = Field(1024, ge=8)
    prenet_dim: int = Field(256, ge=8)
    max_decoder_steps: int = Field(1000, ge=10)
    gate_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    p_attention_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    p_decoder_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    p_prenet_dropout: float = Field(0.5, ge=0.0, lt=1.0)
    postnet_embedding_dim: int = Field(512, ge=8)
    postnet_kernel_size: int = Field(5, ge=1)
    postnet_n_convolutions: int = Field(5, ge=1)
    mask_padding: bool = True


MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # Shen et al. 2018 / NVIDIA/tacotron2 sizes.
    "base": {},
    # Slim sizes for a CPU: about an order of magnitude fewer FLOPs per step than `base`.
    "small": {
        "n_frames_per_step": 3,
        # Forward attention with a transition agent: monotonic like DCA, but its pace comes
        # from the decoder state, so it learns how long each sound lasts (pauses at commas,
        # lingers on long vowels) where DCA with the sharpening term walked at one fixed pace.
        # Demo corpus, 20 minutes, 2 threads, same recipe otherwise: attention_score 0.7 at
        # 252 steps (DCA: ~400), val_loss 2.61 vs 3.00, PocketSphinx word error rate on 8
        # unseen sentences 0.81 vs 0.91-0.95 and on teacher-forced mels 0.55 vs 0.71-0.74.
        # (Earlier, DCA had beaten location-sensitive attention: diagonality 0.78 vs 0.29
        # after 70 steps.)
        "attention": "forward",
        # The agent's initial pace, and DCA's prior when DCA is chosen: stay / +1 / +2
        # symbols per step with beta-binomial(2, 0.3, 0.7) probabilities, mean 0.6 = the demo
        # voice's rate at r=3. For DCA, 3 taps instead of the paper's 11: the long tail
        # smeared every step over ~5 symbols (attention_score 0.61 vs 0.24-0.27, ~250 steps).
        "dca_prior_length": 3,
        "dca_prior_alpha": 0.3,
        "dca_prior_beta": 0.7,
        "symbols_embedding_dim": 256,
        "encoder_embedding_dim": 256,
        "attention_rnn_dim": 512,
        "attention_dim": 128,
        "decoder_rnn_dim": 512,
        "prenet_dim": 128,
        "postnet_embedding_dim": 256,
    },
}


class GuidedAttentionConfig(Section):
    """Guided-attention loss (Tachibana et al. 2017): pulls attention toward the diagonal."""

    weight: float = Field(5.0, ge=0.0)
    sigma: float = Field(0.2, gt=0.0, le=1.0, description="Width g of the diagonal band.")
    decay: float = Field(
        0.9998, gt=0.0, le=1.0, description="Weight multiplied by this every training step."
    )
    min_weight: float = Field(0.1, ge=0.0)


class TrainingConfig(Section):
    epochs: int | None = Field(None, ge=1, description="None: the recommendation decides.")
    batch_size: int = Field(
        16,
        ge=1,
        le=1024,
        description="Items per optimizer step, over all processes of a distributed run "
        "(global, as ESPnet counts it): 2 processes train 8 each of 16. The learning rate "
        "therefore needs no scaling when the number of processes changes.",
    )
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(1e-6, ge=0.0)
    grad_clip_thresh: float = Field(1.0, gt=0.0)
    gate_positive_weight: float = Field(
        5.0, ge=1.0, description="BCE weight of the rare stop step, so the gate learns early."
    )
    seed: int = 1234
    max_minutes: float | None = Field(None, gt=0.0)
    amp: bool = Field(
        True,
        description="Mixed precision: float16 on CUDA; bfloat16 on CPUs that compute it "
        "natively (AVX512-BF16/AMX), measured ~1.8x faster per step; float32 elsewhere.",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    num_threads: int | None = Field(None, ge=1, le=256)
    collective_timeout_seconds: float = Field(
        1800.0,
        gt=0.0,
        description="Distributed runs: a process that waits this long for the others "
        "(a rank died or hangs) stops with a message instead of waiting forever.",
    )
    guided_attention: GuidedAttentionConfig = GuidedAttentionConfig()
    attention_entropy_weight: float = Field(
        0.1, ge=0.0, description="Weight of the mean per-step attention entropy in the loss."
    )
    attention_entropy_min_diagonality: float = Field(
        0.85,
        ge=0.0,
        le=1.0,
        description="The entropy term starts once validation diagonality reaches this: "
        "sharpen an alignment that is already diagonal, never freeze one that is not.",
    )
    attention_entropy_release_score: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="The entropy term stops once smoothed validation attention_score has "
        "reached this (0: it stays on). Released at 0.8 on the demo, the score settled at "
        "0.70-0.75 and the speech was no clearer than with the term on (within run spread).",
    )
    mel_l1_weight: float = Field(
        1.0,
        ge=0.0,
        description="Weight of an L1 term on the mel (before and after the postnet) added "
        "to the MSE: L1 does not reward the blur that MSE settles for.",
    )
    audio_sample_minutes: float = Field(
        10.0,
        ge=0.0,
        description="Speak a validation sentence every this many minutes of training, for "
        "the trackers' audio tabs (progress you can hear); 0: only at the end.",
    )


# ---------------------------------------------------------------- tracking (S16-S21)


class MlflowTracking(Section):
    enabled: bool = True
    tracking_uri: str | None = Field(
        None,
        description="None: $MLFLOW_TRACKING_URI if set, else sqlite:///smart_tuner/mlflow.db "
        "in the working directory.",
    )
    experiment_name: str = "smart_tuner"
    artifact_root: str | None = Field(
        None, description="Artifacts of new experiments; None: smart_tuner/mlartifacts (local)."
    )
    system_metrics: bool = True
    log_best_checkpoint: bool = True


class TensorBoardTracking(Section):
    enabled: bool = True
    subdir: str = Field("tensorboard", description="Event files go to RUN_DIR/<subdir>.")


class LogFileTracking(Section):
    enabled: bool = True
    path: str = "smart_tuner.log"
    max_bytes: int = Field(10_000_000, ge=1024)
    backup_count: int = Field(5, ge=0)


class HistoryTracking(Section):
    enabled: bool = True
    path: str = "smart_tuner/epoch_optimizer_history.db"


class UIConfig(Section):
    host: str = "127.0.0.1"
    mlflow_port: int = Field(5000, ge=1, le=65535)
    tensorboard_port: int = Field(6006, ge=1, le=65535)
    optuna_dashboard_port: int = Field(8080, ge=1, le=65535)


class TrackingConfig(Section):
    mlflow: MlflowTracking = MlflowTracking()
    tensorboard: TensorBoardTracking = TensorBoardTracking()
    log_file: LogFileTracking = LogFileTracking()
    history: HistoryTracking = HistoryTracking()
    ui: UIConfig = UIConfig()


class SynthesisConfig(Section):
    """How mels become audio everywhere sound is made (synthesize, demo, samples, vocode)."""

    vocoder: Literal["auto", "hifigan", "griffin_lim"] = Field(
        "auto",
        description="auto: HiFi-GAN when the audio settings match its weights, else Griffin-Lim.",
    )
    hifigan_model: Literal["universal", "ljspeech"] = "universal"
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present.")
    chunk_frames: int = Field(
        512, ge=16, description="HiFi-GAN vocodes this many frames at a time (flat memory)."
    )


class EvaluationConfig(Section):
    """Quality measured during training (S16): held-out sentences spoken at the progress
    analyses and at the end, scored by MCD-DTW (mel_quality) and DNSMOS (audio_naturalness)."""

    monitor_sentences: int = Field(
        2, ge=0, description="validation sentences spoken per measurement; 0: no monitoring."
    )
    monitor_budget: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="a measurement is skipped when it would take the monitor's total time above "
        "this share of the training time so far (1: never skipped).",
    )


# ---------------------------------------------------------------- dataset analysis (S1-S4, S23-S26)


class SizeClassBounds(Section):
    """Upper bounds (hours of audio) of the size classes; above `large` is very_large (S1)."""

    very_small: float = Field(0.5, gt=0.0)
    small: float = Field(1.0, gt=0.0)
    medium: float = Field(3.0, gt=0.0)
    large: float = Field(10.0, gt=0.0)


class Tacotron2Epochs(Section):
    """Epochs per size class before the quality and complexity modifiers: the user's table."""

    very_small: int = Field(4000, ge=1)
    small: int = Field(3000, ge=1)
    medium: int = Field(2000, ge=1)
    large: int = Field(1500, ge=1)
    very_large: int = Field(1000, ge=1)


class XttsEpochs(Section):
    """The user's one XTTS row (1-5 h -> 10-30 epochs), spread over the size classes."""

    very_small: int = Field(30, ge=1)
    small: int = Field(30, ge=1)
    medium: int = Field(20, ge=1)
    large: int = Field(15, ge=1)
    very_large: int = Field(10, ge=1)


class EpochTables(Section):
    tacotron2: Tacotron2Epochs = Tacotron2Epochs()
    xtts: XttsEpochs = XttsEpochs()


class QualityClassBounds(Section):
    """Lower bounds (quality %) of the classes; below `fair` is poor (S2)."""

    excellent: float = Field(90.0, ge=0.0, le=100.0)
    good: float = Field(70.0, ge=0.0, le=100.0)
    fair: float = Field(50.0, ge=0.0, le=100.0)


class QualityModifiers(Section):
    """Fraction of epochs added (negative: removed) per quality class (S2)."""

    excellent: float = Field(-0.2, gt=-1.0)
    good: float = Field(-0.1, gt=-1.0)
    fair: float = Field(0.0, gt=-1.0)
    poor: float = Field(0.3, gt=-1.0)


class ComplexityModifiers(Section):
    """Fraction of epochs added per complexity flag that is set (S3)."""

    accent: float = Field(0.2, gt=-1.0)
    emotional_speech: float = Field(0.3, gt=-1.0)
    variable_tempo: float = Field(0.2, gt=-1.0)
    wide_pitch_range: float = Field(0.3, gt=-1.0)


class ComplexityThresholds(Section):
    """A flag is set when its measured value reaches the threshold (see smart_tuner.analysis)."""

    variable_tempo: float = Field(
        0.35, gt=0.0, description="(P90 - P10) / P50 of characters per speech second."
    )
    wide_pitch_range: float = Field(
        5.3, gt=0.0, description="Semitones between P5 and P95 of per-utterance median F0."
    )
    emotional_speech: float = Field(
        0.42, gt=0.0, description="Expressiveness score: mean log2 ratio to neutral read speech."
    )
    accent: float = Field(
        0.017, gt=0.0, description="Share of expected phones in recurring near-miss substitutions."
    )
    moderate_flags: int = Field(1, ge=1, description="Flags set for the level 'moderate'.")
    complex_flags: int = Field(2, ge=1, description="Flags set for the level 'complex'.")


class AccentCheck(Section):
    """When the ASR evidence is good enough to judge an accent at all (S24)."""

    min_snr_db: float = Field(15.0, description="Median WADA-SNR below this: not assessed.")
    min_quality: float = Field(
        50.0, ge=0.0, le=100.0, description="Quality % below this: not assessed."
    )
    max_wer: float = Field(
        0.6, gt=0.0, description="ASR word error above this is noted (never a reason to abstain)."
    )
    min_utterances: int = Field(
        3, ge=1, description="A substitution must recur in this many utterances."
    )
    min_rate: float = Field(
        0.2, gt=0.0, le=1.0, description="...and replace this share of the phone's occurrences."
    )


class AnalysisSampling(Section):
    """Caps for the model-based steps, which run on a seeded sample (not on every file)."""

    seed: int = 1234
    dnsmos_max_seconds: float = Field(90.0, ge=0.0, description="0 disables DNSMOS.")
    asr_max_utterances: int = Field(16, ge=0, description="0 disables the accent check.")


class ProblemThresholds(Section):
    """Per-file checks behind the dataset advice (S26)."""

    clipped_fraction: float = Field(0.001, ge=0.0, le=1.0)
    dc_offset: float = Field(0.02, ge=0.0)
    silent_dbfs: float = Field(-50.0, le=0.0, description="Speech level below this: silent.")
    noisy_db_below_median: float = Field(15.0, gt=0.0)
    noisy_max_snr_db: float = Field(15.0, description="...and below this SNR: much noisier.")
    max_edge_silence_seconds: float = Field(1.0, gt=0.0)
    rate_mismatch_factor: float = Field(
        2.0, gt=1.0, description="Characters/second this far from the median: text mismatch."
    )


class AnalysisConfig(Section):
    model_family: Literal["tacotron2", "xtts"] = "tacotron2"
    size_classes: SizeClassBounds = SizeClassBounds()
    epochs: EpochTables = EpochTables()
    xtts_epochs: EpochRange = EpochRange(min=10, max=30, default=20)
    quality_classes: QualityClassBounds = QualityClassBounds()
    quality_modifiers: QualityModifiers = QualityModifiers()
    complexity_modifiers: ComplexityModifiers = ComplexityModifiers()
    complexity_thresholds: ComplexityThresholds = ComplexityThresholds()
    accent: AccentCheck = AccentCheck()
    sampling: AnalysisSampling = AnalysisSampling()
    problems: ProblemThresholds = ProblemThresholds()
    workers: int | None = Field(None, ge=1, le=256, description="None: one per CPU core.")
    cache_dir: str | None = Field(
        None, description="Per-file results; default $XDG_CACHE_HOME/smart_tuner/analysis."
    )


class Config(Section):
    hyperparameter_search_space: SearchSpace = SearchSpace()
    search: SearchSettings = SearchSettings()
    early_stopping: EarlyStopping = EarlyStopping()
    overfitting_detection: OverfittingDetection = OverfittingDetection()
    adaptive_learning: AdaptiveLearning = AdaptiveLearning()
    training_recovery: TrainingRecovery = TrainingRecovery()
    control: ControlConfig = ControlConfig()
    audio: AudioConfig = AudioConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    tracking: TrackingConfig = TrackingConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    synthesis: SynthesisConfig = SynthesisConfig()
    evaluation: EvaluationConfig = EvaluationConfig()


# ---------------------------------------------------------------- loading


def _fields_at(path: tuple[Any, ...]) -> list[str]:
    """Valid key names of the section reached by `path` (for 'did you mean')."""
    model: type[BaseModel] | None = Config
    for part in path:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return list(model.model_fields) if model else []


def _explain(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in error.errors():
        loc = item["loc"]
        dotted = ".".join(str(p) for p in loc)
        if item["type"] == "extra_forbidden":
            valid = _fields_at(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            lines.append(f"  - unknown key '{dotted}'{hint} (valid here: {', '.join(valid)})")
        else:
            value = item.get("input")
            lines.append(f"  - '{dotted}' = {value!r}: {item['msg']}")
    return "\n".join(lines)


def apply_preset(raw: dict[str, Any]) -> dict[str, Any]:
    """Fill model keys from the chosen preset; keys written in the file win."""
    model = dict(raw.get("model") or {})
    preset = model.get("preset", "base")
    if preset in MODEL_PRESETS:
        model = {**MODEL_PRESETS[preset], **model}
    return {**raw, "model": model}


def config_from_dict(
    raw: dict[str, Any], source: str = "config", *, relations: bool = False
) -> Config:
    """Validate a raw mapping; `relations` also checks how keys relate (config_checks.py) -
    done for what the user gives, not for configs embedded in finished checkpoints."""
    try:
        config = Config.model_validate(apply_preset(raw))
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source)) from None
    if relations:
        from smart_tuner.config_checks import broken_relations

        broken = broken_relations(config)
        if broken:
            lines = "\n".join(f"  - {b}" for b in broken)
            raise ConfigError(f"{source}: contradictory configuration\n{lines}")
    return config


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read config.yaml (or defaults when `path` is None) and apply dotted-key overrides.

    `overrides` maps 'training.batch_size' style keys to values (CLI flags); None values are
    ignored so unset flags never clobber the file.
    """
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config file ({exc.strerror})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of sections")
        raw = loaded
    # The file must be valid on its own: a flag overriding a bad value would hide it today
    # and the next run without the flag would fail.
    file_error: ConfigError | None = None
    if path is not None and any(v is not None for v in (overrides or {}).values()):
        try:
            config_from_dict(copy.deepcopy(raw), source, relations=True)
        except ConfigError as exc:
            file_error = exc
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    config = config_from_dict(raw, source, relations=True)  # file and flags together
    if file_error is not None:
        raise ConfigError(
            f"{file_error}\n(a command-line flag overrides this, but the file itself must be "
            "valid: fix it there)"
        )
    return config


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

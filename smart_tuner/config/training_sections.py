"""Audio, data, model, training, tracking, synthesis and evaluation sections."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from smart_tuner.config.base import Section

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
        "natively (AVX512-BF16/AMX), measured ~1.8x faster per step; float32 elsewhere (emulated "
        "bf16 was ~1.8x slower).",
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

"""The config.yaml schema.

Defaults are the user's own numbers (SPEC S11-S14, S22). Every section forbids unknown keys so a
typo fails loudly, naming the key's path and the closest valid name, instead of being ignored.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from smart_tuner.config.analysis_sections import (  # noqa: F401 - the package's public names
    AccentCheck,
    AnalysisConfig,
    AnalysisSampling,
    ComplexityModifiers,
    ComplexityThresholds,
    EpochTables,
    ProblemThresholds,
    QualityClassBounds,
    QualityModifiers,
    SizeClassBounds,
    Tacotron2Epochs,
    XttsEpochs,
)
from smart_tuner.config.base import (  # noqa: F401 - the package's public names
    ConfigError,
    Section,
)
from smart_tuner.config.control_sections import (  # noqa: F401 - the package's public names
    AdaptiveLearning,
    AdaptiveThresholds,
    AttentionDegradation,
    AttentionReset,
    BatchSizeAdaptation,
    ControlConfig,
    EarlyStopping,
    EpochRange,
    FloatRange,
    GatePatterns,
    IntChoices,
    LRRestart,
    LRScheduling,
    OverfittingDetection,
    PhaseThresholds,
    ProblemAction,
    ProblemDetection,
    RecoveryStrategies,
    ReduceLR,
    SearchSettings,
    SearchSpace,
    TrainingRecovery,
)
from smart_tuner.config.training_sections import (  # noqa: F401 - the package's public names
    MODEL_PRESETS,
    AudioConfig,
    DataConfig,
    EvaluationConfig,
    GuidedAttentionConfig,
    HistoryTracking,
    LogFileTracking,
    MlflowTracking,
    ModelConfig,
    SynthesisConfig,
    TensorBoardTracking,
    TrackingConfig,
    TrainingConfig,
    UIConfig,
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

"""The search space: `hyperparameter_search_space` turned into Optuna suggestions and back into
a training config.

Each searched key maps onto one config field. A range the training config could never accept
(a dropout of 1.5, r = 12) is a config error naming the search key, found before any trial
runs, instead of a crash in trial 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from smart_tuner.config import Config, ConfigError, FloatRange, IntChoices, config_from_dict

SPACE_KEY = "hyperparameter_search_space"

# search key -> dotted config field it sets
TARGETS: dict[str, str] = {
    "learning_rate": "training.learning_rate",
    "batch_size": "training.batch_size",
    "guided_attention_weight": "training.guided_attention.weight",
    "p_attention_dropout": "model.p_attention_dropout",
    "p_decoder_dropout": "model.p_decoder_dropout",
    "weight_decay": "training.weight_decay",
    "grad_clip_thresh": "training.grad_clip_thresh",
    "n_frames_per_step": "model.n_frames_per_step",
}


class Suggester(Protocol):
    """What a space needs from an Optuna trial (also satisfied by a fixed-parameter stand-in)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: list[int]) -> Any: ...


@dataclass(frozen=True)
class Dimension:
    key: str
    target: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[int, ...] = ()

    def suggest(self, trial: Suggester) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.key, list(self.choices))
        assert self.low is not None and self.high is not None
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def bounds(self) -> list[Any]:
        return list(self.choices) if self.choices else [self.low, self.high]

    def contains(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        assert self.low is not None and self.high is not None
        return isinstance(value, int | float) and self.low <= float(value) <= self.high


class SearchSpace:
    """The searched dimensions of one config, in a fixed order."""

    def __init__(self, dimensions: list[Dimension]) -> None:
        self.dimensions = dimensions

    @classmethod
    def from_config(cls, config: Config) -> SearchSpace:
        section = getattr(config, SPACE_KEY)
        dims = []
        for key, target in TARGETS.items():
            entry = getattr(section, key)
            if entry is None:
                continue
            if isinstance(entry, IntChoices):
                dims.append(Dimension(key, target, choices=tuple(dict.fromkeys(entry.choices))))
            elif isinstance(entry, FloatRange):
                dims.append(Dimension(key, target, entry.min, entry.max, entry.log))
        space = cls(dims)
        space.check_against(config)
        return space

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    def suggest(self, trial: Suggester) -> dict[str, Any]:
        return {d.key: d.suggest(trial) for d in self.dimensions}

    def filter(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """`params` restricted to this space, or None when a value falls outside it (a warm
        start from a study with another space must not enqueue impossible trials)."""
        kept = {}
        for d in self.dimensions:
            if d.key not in params or not d.contains(params[d.key]):
                return None
            kept[d.key] = params[d.key]
        return kept

    def apply(self, config: Config, params: dict[str, Any], **extra: Any) -> Config:
        """The training config of one trial: `params` (by search key) and `extra` (dotted)."""
        raw = config.model_dump(mode="json")
        for d in self.dimensions:
            if d.key in params:
                _set(raw, d.target, params[d.key])
        for dotted, value in extra.items():
            _set(raw, dotted, value)
        return config_from_dict(raw, "search trial")

    def check_against(self, config: Config) -> None:
        """Every bound of every dimension must make a valid training config."""
        for d in self.dimensions:
            for value in d.bounds():
                raw = config.model_dump(mode="json")
                _set(raw, d.target, value)
                try:
                    config_from_dict(raw, "search space")
                except ConfigError as exc:
                    detail = str(exc).splitlines()[-1].strip(" -")
                    raise ConfigError(
                        f"{SPACE_KEY}.{d.key}: {value!r} is not a possible {d.target} ({detail})"
                    ) from None


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value

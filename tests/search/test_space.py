"""The search space: config -> dimensions -> a trial's training config; impossible ranges are
config errors naming the key."""

from __future__ import annotations

import optuna
import pytest

from smart_tuner.config import ConfigError, config_from_dict, load_config
from smart_tuner.search.space import SearchSpace


def space_of(**entries):
    return SearchSpace.from_config(
        load_config(None, {f"hyperparameter_search_space.{k}": v for k, v in entries.items()})
    )


def test_the_default_space_covers_the_issue_s_parameters():
    keys = SearchSpace.from_config(load_config(None)).keys
    for key in (
        "learning_rate",
        "batch_size",
        "guided_attention_weight",
        "p_attention_dropout",
        "p_decoder_dropout",
        "weight_decay",
        "grad_clip_thresh",
        "n_frames_per_step",
    ):
        assert key in keys


def test_a_null_entry_is_not_searched():
    config = config_from_dict({"hyperparameter_search_space": {"weight_decay": None}})
    assert "weight_decay" not in SearchSpace.from_config(config).keys


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("learning_rate", {"min": 0.01, "max": 0.001}, "min 0.01 is above max 0.001"),
        ("learning_rate", {"min": 0.0, "max": 0.001, "log": True}, "log range needs min > 0"),
        ("batch_size", {"choices": []}, "at least 1 item"),
        ("p_attention_dropout", {"min": 0.0, "max": 1.5}, "model.p_attention_dropout"),
        ("n_frames_per_step", {"choices": [2, 12]}, "model.n_frames_per_step"),
        ("epochs", {"min": 10, "max": 5, "default": 7}, "min <= default <= max"),
    ],
)
def test_impossible_ranges_are_config_errors_naming_the_key(key, value, needle):
    with pytest.raises(ConfigError) as error:
        space_of(**{key: value})
    assert f"hyperparameter_search_space.{key}" in str(error.value)
    assert needle in str(error.value)


def test_a_trial_s_params_land_in_the_training_config():
    space = space_of()
    trial = optuna.trial.FixedTrial(
        {
            "learning_rate": 5e-4,
            "batch_size": 8,
            "guided_attention_weight": 2.0,
            "p_attention_dropout": 0.05,
            "p_decoder_dropout": 0.15,
            "weight_decay": 1e-7,
            "grad_clip_thresh": 2.5,
            "n_frames_per_step": 3,
        }
    )
    params = space.suggest(trial)
    config = space.apply(load_config(None), params, **{"training.epochs": 7})
    assert config.training.learning_rate == 5e-4 and config.training.batch_size == 8
    assert config.training.guided_attention.weight == 2.0
    assert config.model.p_attention_dropout == 0.05 and config.model.p_decoder_dropout == 0.15
    assert config.training.weight_decay == 1e-7 and config.training.grad_clip_thresh == 2.5
    assert config.model.n_frames_per_step == 3 and config.training.epochs == 7


def test_filter_drops_parameter_sets_outside_the_space():
    space = space_of(learning_rate={"min": 1e-4, "max": 1e-3, "log": True})
    inside = {d.key: (d.choices[0] if d.choices else d.low) for d in space.dimensions}
    assert space.filter({**inside, "unknown": 1}) == inside
    assert space.filter({**inside, "learning_rate": 0.5}) is None
    assert space.filter({k: v for k, v in inside.items() if k != "batch_size"}) is None

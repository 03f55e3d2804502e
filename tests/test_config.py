"""config.yaml: defaults are the user's numbers; mistakes are named precisely."""

from pathlib import Path

import pytest

from smart_tuner.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_repo_config_yaml_equals_the_defaults():
    assert load_config(ROOT / "config.yaml") == Config()


def test_user_numbers_are_the_defaults():
    c = Config()
    assert c.hyperparameter_search_space.epochs.default == 2000
    assert c.early_stopping.adaptive_thresholds.learning_phase.patience == 150
    assert c.overfitting_detection.val_loss_increase_threshold == 0.05
    assert c.overfitting_detection.attention_degradation.min_diagonality == 0.7
    assert c.adaptive_learning.lr_scheduling.warmup_epochs == 100
    assert c.training_recovery.problem_detection.gradient_explosion.threshold == 10.0
    assert c.training_recovery.recovery_strategies.reduce_lr.min_lr == 1e-7


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_names_path_and_closest_valid_name(tmp_path):
    path = write(tmp_path, "early_stopping:\n  patience_epoch: 10\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "early_stopping.patience_epoch" in message
    assert "did you mean 'patience_epochs'" in message


def test_out_of_range_value_names_key_value_and_range(tmp_path):
    path = write(
        tmp_path, "overfitting_detection:\n  attention_degradation:\n    min_diagonality: 1.5\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "overfitting_detection.attention_degradation.min_diagonality" in message
    assert "1.5" in message and "less than or equal to 1" in message


def test_wrong_type_is_reported(tmp_path):
    path = write(tmp_path, "training:\n  batch_size: lots\n")
    with pytest.raises(ConfigError, match=r"training\.batch_size.*'lots'"):
        load_config(path)


def test_invalid_yaml_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "training: [unclosed\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_cli_overrides_win_and_none_is_ignored(tmp_path):
    path = write(tmp_path, "training:\n  batch_size: 8\n")
    c = load_config(path, {"training.batch_size": 32, "training.epochs": None})
    assert c.training.batch_size == 32
    assert c.training.epochs is None


def test_preset_fills_model_sizes_but_file_keys_win(tmp_path):
    c = load_config(None, {"model.preset": "small"})
    assert c.model.n_frames_per_step == 3 and c.model.decoder_rnn_dim == 512
    path = write(tmp_path, "model:\n  preset: small\n  n_frames_per_step: 2\n")
    assert load_config(path).model.n_frames_per_step == 2

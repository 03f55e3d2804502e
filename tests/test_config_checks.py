"""Config relations (min <= default <= max, phases in order, warm-up < plan) on the final
merged config, and a bad value in the file reported even when a flag overrides it."""

from __future__ import annotations

import pytest
import yaml

from smart_tuner.cli import main
from smart_tuner.config import Config, ConfigError, load_config
from smart_tuner.config_checks import broken_relations


def write(tmp_path, data) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_defaults_and_the_shipped_config_have_no_broken_relation():
    assert broken_relations(Config()) == []
    load_config("config.yaml")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (
            {"control": {"alignment_end_epoch": 2500}},
            "control.alignment_end_epoch (2500) < control.learning_end_epoch (2000)",
        ),
        (
            {"adaptive_learning": {"lr_scheduling": {"warmup_epochs": 2000}}},
            "warmup_epochs (2000) < the plan it is written for, epochs.default (2000)",
        ),
        ({"data": {"min_seconds": 5, "max_seconds": 2}}, "data.min_seconds (5) < data.max_seconds"),
        ({"audio": {"mel_fmax": 12000, "sampling_rate": 16000}}, "audio.sampling_rate / 2 (8000)"),
        (
            {"tracking": {"ui": {"mlflow_port": 6006}}},
            "the dashboard ports differ",
        ),
    ],
)
def test_contradictions_are_named_with_their_values(tmp_path, data, needle):
    with pytest.raises(ConfigError, match="contradictory configuration") as info:
        load_config(write(tmp_path, data))
    assert needle in str(info.value)


def test_every_broken_relation_is_reported_at_once(tmp_path):
    data = {
        "data": {"min_seconds": 5, "max_seconds": 2},
        "control": {"alignment_end_epoch": 2500},
    }
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    assert str(info.value).count("must hold") == 2


def test_flags_are_checked_in_the_merged_config(tmp_path):
    path = write(tmp_path, {"data": {"max_seconds": 10}})
    with pytest.raises(ConfigError, match="data.min_seconds"):
        load_config(path, {"data.min_seconds": 12.0})


def test_a_bad_file_value_is_reported_even_when_a_flag_overrides_it(tmp_path):
    path = write(tmp_path, {"training": {"batch_size": 0}})
    with pytest.raises(ConfigError) as info:
        load_config(path, {"training.batch_size": 8})
    message = str(info.value)
    assert "training.batch_size" in message and "the file itself must be valid" in message
    assert "a command-line flag overrides this" in message
    # without an override the plain message stays as it was
    with pytest.raises(ConfigError) as plain:
        load_config(path)
    assert "the file itself" not in str(plain.value)


def test_cli_exits_2_on_a_contradictory_config(tmp_path, capsys):
    path = write(tmp_path, {"hyperparameter_search_space": {"epochs": {"min": 5000, "max": 500}}})
    code = main(["train", str(tmp_path / "nowhere"), "--config", path, "--epochs", "3"])
    assert code == 2
    out = capsys.readouterr().out
    assert "min <= default <= max, got 5000 / 2000 / 500" in out and "Traceback" not in out


def test_a_file_error_no_flag_touches_reads_as_a_plain_error(tmp_path):
    path = write(tmp_path, {"data": {"min_seconds": 5, "max_seconds": 2}})
    with pytest.raises(ConfigError) as info:
        load_config(path, {"training.epochs": 3})
    assert "data.min_seconds" in str(info.value)
    assert "flag overrides" not in str(info.value)

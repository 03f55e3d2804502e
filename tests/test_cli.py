"""The command line as a user meets it: help, clear errors, the legacy script, synthesis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch

import smart_tuner_main
from smart_tuner.cli import build_parser, main
from smart_tuner.runtime.checkpoint import load_checkpoint, save_checkpoint
from smart_tuner.synthesize import load_model, synthesize
from smart_tuner.train.loop import train
from tests.helpers import tiny_config

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    "demo",
    "analyze",
    "train",
    "optimize",
    "auto",
    "synthesize",
    "evaluate",
    "report",
    "history",
    "ui",
    "replay",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_not_yet_commands_say_so(capsys):
    from smart_tuner.cli import NOT_YET

    for name in NOT_YET:
        assert main([name]) == 2
        assert "not available yet" in capsys.readouterr().out


def test_module_entry_point_runs():
    done = subprocess.run(
        [sys.executable, "-m", "smart_tuner", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "smart-tuner" in done.stdout


def test_legacy_flags_map_onto_commands():
    parse = smart_tuner_main.build_parser().parse_args
    assert smart_tuner_main.to_command(
        parse(["--mode", "train", "--epochs", "2500", "--batch_size", "32"])
    ) == ["train", "--epochs", "2500", "--batch-size", "32"]
    assert smart_tuner_main.to_command(parse(["--mode", "auto", "--trials", "10"])) == [
        "auto",
        "--trials",
        "10",
    ]
    assert smart_tuner_main.to_command(parse(["--mode", "optimize", "--trials", "20"])) == [
        "optimize",
        "--trials",
        "20",
    ]
    assert smart_tuner_main.to_command(
        parse(["--mode", "train", "--dataset", "data/x", "--config", "c.yaml"])
    ) == ["train", "data/x", "--config", "c.yaml"]


def test_legacy_script_runs_as_a_script():
    done = subprocess.run(
        [sys.executable, str(ROOT / "smart_tuner_main.py"), "--mode", "optimize", "--trials", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2  # reached `smart-tuner optimize`, which refuses 0 trials
    assert "--trials and --workers must be at least 1" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_config_typo_is_a_message_not_a_traceback(tmp_path, corpus, capsys):
    bad = tmp_path / "config.yaml"
    bad.write_text("training:\n  batch_sise: 8\n", encoding="utf-8")
    code = main(["train", str(corpus), "--config", str(bad), "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 2
    assert "training.batch_sise" in out and "batch_size" in out
    assert "Traceback" not in out


def test_missing_dataset_is_a_message(tmp_path, capsys):
    code = main(["train", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert code == 2  # bad input
    assert "Error" in capsys.readouterr().out


def test_synthesize_refuses_to_write_noise_when_the_decoder_never_stops(
    corpus, cache_dir, tmp_path, capsys
):
    run = tmp_path / "run"
    train(tiny_config(cache_dir, epochs=1), corpus, run)
    ckpt = run / "checkpoints" / "last.pt"
    state = load_checkpoint(ckpt)
    state["model"]["decoder.gate_layer.linear_layer.bias"].fill_(-100.0)  # never stops
    # ... nor reaches the end of the text: the forward attention's agent always stays put.
    state["model"]["decoder.attention_layer.transition.bias"].copy_(torch.tensor([1e2, -1e2, -1e2]))
    never = tmp_path / "never.pt"
    save_checkpoint(state, never)
    out = tmp_path / "never.wav"
    code = main(["synthesize", "--checkpoint", str(never), "--text", "the cat", "--out", str(out)])
    assert code == 3
    assert not out.exists()
    assert out.with_suffix(".alignment.png").exists()
    assert "never predicted the end" in capsys.readouterr().out

    state["model"]["decoder.gate_layer.linear_layer.bias"].fill_(100.0)  # stops at once
    loaded = load_model(ckpt)
    loaded.model.load_state_dict(state["model"])
    result = synthesize(loaded, "the cat sat", tmp_path / "ok.wav")
    assert result.reached_stop
    audio, sr = sf.read(result.wav_path)
    assert sr == loaded.config.audio.sampling_rate
    assert len(audio) > 0 and torch.isfinite(torch.tensor(audio)).all()

"""The report's sections from run folders in every state: empty, searched, evaluated."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
import soundfile as sf

from smart_tuner.cli import main
from smart_tuner.config import dump_config, load_config
from smart_tuner.report import ReportError, write_report
from smart_tuner.search.output import write_outputs
from smart_tuner.search.space import SearchSpace
from tests.helpers import make_corpus, tiny_config


def started_run(folder: Path) -> Path:
    """A run folder as the loop leaves it before its first epoch ends."""
    folder.mkdir(parents=True)
    record = {"event": "run_started", "run_dir": str(folder), "params": {"planned_epochs": 5}}
    (folder / "metrics.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return folder


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_run_without_data_says_so_in_every_section(tmp_path: Path) -> None:
    html = write_report(started_run(tmp_path / "run")).read_text(encoding="utf-8")
    text = text_of(html)
    assert "No dataset analysis was saved with this run" in text
    assert "No recommendation was saved" in text
    assert "No hyperparameter search belongs to this run" in text
    assert "No epoch finished in this run yet" in text
    assert "The model spoke no sentence during this run" in text
    assert "<img" not in html and "<audio" not in html
    assert "http://" not in html and "https://" not in html  # nothing from the network


def test_report_command_refuses_a_folder_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes").mkdir()
    assert main(["report", str(tmp_path / "notes")]) == 1
    assert main(["report", str(tmp_path / "missing")]) == 1
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "is not a run folder" in out and "is not a folder" in out
    assert "Traceback" not in out
    with pytest.raises(ReportError):
        write_report(tmp_path / "notes")


def test_search_section_shows_trials_history_importances_and_pruned_reasons(
    tmp_path: Path,
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = load_config(None)
    space = SearchSpace.from_config(config)
    study = optuna.create_study(study_name="tiny", sampler=optuna.samplers.RandomSampler(seed=1))

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        if trial.number == 2:
            trial.set_user_attr("pruned_reason", "val_loss 9.1 above the median 4.2 at epoch 3")
            raise optuna.TrialPruned()
        return abs(np.log10(params["learning_rate"]) + 2.5) + params["batch_size"] / 100

    study.optimize(objective, n_trials=6)
    run = started_run(tmp_path / "run")
    write_outputs(study, config, run)  # what `optimize` leaves in its study folder
    html = write_report(run).read_text(encoding="utf-8")
    text = text_of(html)
    assert "Study tiny (minimize)" in text
    assert "val_loss 9.1 above the median 4.2 at epoch 3" in text
    assert "1 trial pruned" in text
    assert html.count("<tr><td>") >= 6  # one row per trial
    assert 'alt="optimisation history"' in html and 'alt="parameter importances"' in html
    assert f"best value {study.best_value:.4g}" in text


def test_result_section_plays_the_evaluation_recording_beside_the_synthesis(
    tmp_path: Path,
) -> None:
    run = started_run(tmp_path / "run")
    audio = run / "evaluation" / "audio"
    audio.mkdir(parents=True)
    rate = 16000
    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)
    sf.write(audio / "rec.flac", tone, rate)  # recordings may be FLAC: embedded as WAV
    sf.write(audio / "syn.wav", tone[: rate // 2], rate)
    evaluation = {
        "checkpoint": str(run / "checkpoints" / "best.pt"),
        "epoch": 7,
        "vocoder": "griffin_lim",
        "metrics": {"mcd_db": 9.5, "wer": 0.4},
        "not_assessed": {"speaker_similarity": "resemblyzer is not installed"},
        "sentences": [
            {
                "id": "u1",
                "text": "A gentle breeze.",
                "recording": str(audio / "rec.flac"),
                "synthesis": "audio/syn.wav",  # relative to the JSON's folder
                "mcd_db": 9.5,
            }
        ],
    }
    (run / "evaluation" / "evaluation.json").write_text(json.dumps(evaluation), encoding="utf-8")
    html = write_report(run).read_text(encoding="utf-8")
    text = text_of(html)
    assert html.count('<audio controls preload="metadata" src="data:audio/wav;base64,') == 2
    assert "A gentle breeze." in text and "mcd_db 9.5" in text
    assert "resemblyzer is not installed" in text
    assert "(epoch 7)" in text


def test_train_writes_the_report_with_its_dataset_analysis(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    config = tmp_path / "tiny.yaml"
    config.write_text(dump_config(tiny_config(tmp_path / "cache")), encoding="utf-8")
    run = tmp_path / "run"
    args = ["train", str(corpus), "--out", str(run), "--epochs", "1", "--no-track"]
    assert main([*args, "--config", str(config)]) == 0
    analysis = json.loads((run / "analysis.json").read_text(encoding="utf-8"))
    assert analysis["profile"]["n_utterances"] == 10
    text = text_of((run / "report.html").read_text(encoding="utf-8"))
    assert f"{analysis['plan']['epochs']} epochs" in text  # the recommendation it overrode
    assert "This run was planned for 1 epochs instead" in text
    assert "No dataset analysis was saved" not in text
    assert "Stopped because epochs_completed" in text


def test_an_evaluation_wav_is_found_whatever_folder_its_path_was_relative_to(tmp_path):
    """evaluation.json once held paths relative to where `evaluate` ran (the report then
    showed "no audio file" for every held-out sentence); now absolute, and a moved run
    folder still finds its WAVs by name in the evaluation's audio/ folder."""
    from smart_tuner.report.result import _resolve

    base = tmp_path / "moved" / "train" / "evaluation"
    (base / "audio").mkdir(parents=True)
    wav = base / "audio" / "demo_en_0025.wav"
    wav.write_bytes(b"RIFF")
    assert _resolve(base, "runs/auto-en/train/evaluation/audio/demo_en_0025.wav") == wav
    assert _resolve(base, "/gone/train/evaluation/audio/demo_en_0025.wav") == wav
    assert _resolve(base, str(wav)) == wav
    assert _resolve(base, "audio/demo_en_0025.wav") == wav
    assert not _resolve(base, "audio/missing.wav").is_file()

"""`smart-tuner analyze`: table, JSON, plots and a cleaned filelist that `train` accepts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis_corpora import build
from rich.console import Console

from smart_tuner import analyze_command as command
from smart_tuner.data import load_corpus
from smart_tuner.resolve import config_for, dataset_for

REQUIRED_KEYS = {
    "total_hours",
    "size_class",
    "quality_percent",
    "quality_class",
    "complexity",
    "complexity_level",
    "recommended_epochs",
    "confidence",
    "rationale",
    "problems",
}


def run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    console = Console(record=True, width=160, force_terminal=False)
    code = command.run(parser.parse_args(argv), console)
    return code, console.export_text()


def test_analyze_writes_table_json_plots_and_filelist(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "analysis:\n  sampling:\n    dnsmos_max_seconds: 10.0\n    asr_max_utterances: 0\n",
        encoding="utf-8",
    )
    dataset = build(tmp_path / "ds", n=10)
    # a `path|text` filelist next to the dataset, as NVIDIA's recipes have them
    lines = (dataset / "metadata.csv").read_text(encoding="utf-8").splitlines()
    filelist = tmp_path / "list.txt"
    filelist.write_text(
        "".join(f"ds/wavs/{ln.split('|')[0]}.wav|{ln.split('|')[1]}\n" for ln in lines),
        encoding="utf-8",
    )
    code, text = run(
        [
            str(filelist),
            "--json",
            str(tmp_path / "out" / "profile.json"),
            "--plots",
            str(tmp_path / "out" / "plots"),
            "--write-filelist",
            str(tmp_path / "clean.txt"),
            "--config",
            str(cfg),
        ]
    )
    assert code == 0
    for needle in ("Size", "Quality", "Complexity", "Recommended epochs", "Confidence"):
        assert needle in text
    assert "not assessed" in text  # accent: disabled in this config, and it says so
    data = json.loads((tmp_path / "out" / "profile.json").read_text(encoding="utf-8"))
    assert set(data) >= REQUIRED_KEYS
    assert data["size_class"] == "very_small" and data["recommended_epochs"] >= 500
    assert data["complexity"]["accent"]["assessed"] is False
    assert data["complexity"]["variable_tempo"]["threshold"] == 0.35
    assert data["rationale"][0].startswith("Recommendation of")
    plots = sorted(p.name for p in (tmp_path / "out" / "plots").iterdir())
    assert plots == ["durations.png", "f0.png", "snr.png", "speaking_rate.png"]
    cleaned = load_corpus(tmp_path / "clean.txt")
    assert len(cleaned.entries) == 10 and cleaned.skipped == []


def test_analyze_reports_an_unusable_dataset(tmp_path):
    import pytest

    from smart_tuner.data import CorpusError

    with pytest.raises(CorpusError):
        run([str(tmp_path / "nothing-here")])


def test_default_dataset_message(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args([])
    console = Console(record=True, width=120)
    path = dataset_for(args.dataset, config_for(args.config), console, "analysing")
    assert path.name == "en" and Path(path, "metadata.csv").is_file()
    assert "demo corpus" in console.export_text()

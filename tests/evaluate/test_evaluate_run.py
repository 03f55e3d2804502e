"""`smart-tuner evaluate` end to end on a tiny trained checkpoint, and the training monitor."""

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.cli import main
from smart_tuner.config import load_config
from smart_tuner.data.corpus import load_corpus
from smart_tuner.evaluate.monitor import Budget, QualityMonitor, fixed_subset
from smart_tuner.events import (
    CheckpointSaved,
    DecisionMade,
    EpochEnded,
    QualityMeasured,
    RunFinished,
    read_records,
)
from smart_tuner.exit_codes import ExitCode
from smart_tuner.runtime.checkpoint import load_checkpoint, save_checkpoint
from smart_tuner.train.loop import train
from tests.helpers import make_corpus, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    corpus = make_corpus(root / "corpus")
    run = root / "run"
    train(tiny_config(root / "cache", epochs=1), corpus, run)
    return corpus, run / "checkpoints" / "last.pt"


def patched(checkpoint: Path, out: Path, gate_bias: float) -> Path:
    """The checkpoint with its stop gate forced: -100 never stops, +100 stops at once."""
    state = load_checkpoint(checkpoint)
    state["model"]["decoder.gate_layer.linear_layer.bias"].fill_(gate_bias)
    # the forward attention's agent stays put, so attention never reaches the end either
    state["model"]["decoder.attention_layer.transition.bias"].copy_(torch.tensor([1e2, -1e2, -1e2]))
    save_checkpoint(state, out)
    return out


def test_a_checkpoint_that_never_stops_is_reported_as_no_stop(trained, tmp_path, capsys):
    corpus, checkpoint = trained
    never = patched(checkpoint, tmp_path / "never.pt", -100.0)
    report = tmp_path / "eval.json"
    code = main(
        ["evaluate", "--checkpoint", str(never), "--dataset", str(corpus), "--n", "2"]
        + ["--json", str(report), "--out", str(tmp_path / "ev"), "--vocoder", "griffin_lim"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(report.read_text())
    assert [s["stop"] for s in data["sentences"]] == ["no_stop", "no_stop"]
    assert data["metrics"]["stop_no_stop"] == 1.0
    assert all(s["synthesis"] is None and "mcd_db" not in s for s in data["sentences"])
    assert all("recording_mos_p808" in s for s in data["sentences"])  # the reference still is
    assert len(data["selection"]["ids"]) == 2 and data["selection"]["split"] == "validation"
    assert "mcd_db" not in data["metrics"] and data["metrics"]["recording_mos_p808"] > 1.0
    assert "none" in out and "Traceback" not in out


def test_a_checkpoint_that_stops_at_once_is_premature_and_fully_scored(trained, tmp_path):
    corpus, checkpoint = trained
    early = patched(checkpoint, tmp_path / "early.pt", 100.0)
    report = tmp_path / "eval.json"
    code = main(
        ["evaluate", "--checkpoint", str(early), "--dataset", str(corpus), "--n", "1"]
        + ["--json", str(report), "--split", "all", "--seed", "3"]
    )
    assert code == 0
    (row,) = json.loads(report.read_text())["sentences"]
    assert row["stop"] == "premature"
    assert row["mcd_db"] > 0 and row["length_ratio"] < 0.6
    assert Path(row["synthesis"]).is_file()
    assert (tmp_path / "evaluation" / "audio").is_dir() is False  # --out defaults beside it
    assert (early.parent / "evaluation-early" / "audio").is_dir()


def test_bad_input_is_a_message_and_an_exit_code(trained, tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", str(tmp_path / "missing.pt")])
    assert code == ExitCode.BAD_INPUT
    assert "checkpoint not found" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--checkpoint", str(trained[1]), "--n", "0"])
    assert exc.value.code == ExitCode.BAD_INPUT
    assert "at least 1" in capsys.readouterr().err


def test_budget_allows_a_measurement_only_within_its_share():
    budget = Budget(0.02, per_sentence=5.0)
    assert not budget.allows(training_seconds=400, sentences=2)  # 10 s > 8 s
    assert budget.allows(training_seconds=500, sentences=2)
    budget.record(seconds=4.0, sentences=2)
    assert budget.allows(training_seconds=500, sentences=2)  # 4 + 4 <= 10
    assert not budget.allows(training_seconds=300, sentences=2)
    assert Budget(1.0).allows(training_seconds=0.0, sentences=5)
    # a progress analysis keeps room for the final measurement: 4 + 2 * 4 > 10
    assert not budget.allows(training_seconds=500, sentences=2, final=False)
    assert budget.allows(training_seconds=800, sentences=2, final=False)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.5, 60.0),
    st.lists(st.tuples(st.floats(1.0, 600.0), st.booleans()), min_size=1, max_size=60),
)
def test_a_monitor_of_steady_cost_never_exceeds_its_share(cost, opportunities):
    budget, elapsed = Budget(0.02, per_sentence=cost / 2), 0.0
    for gap, final in opportunities:
        elapsed += gap
        if budget.allows(elapsed, 2, final):
            budget.record(cost, 2)
        assert budget.spent <= 0.02 * elapsed + 1e-9


def test_monitor_measures_at_a_progress_report_and_puts_it_in_the_summary(trained, tmp_path):
    corpus, checkpoint = trained
    early = patched(checkpoint, tmp_path / "early.pt", 100.0)
    validation = load_corpus(corpus, load_config(None, {}).data).entries
    monitor = QualityMonitor(validation, tmp_path / "run", sentences=2, budget=1.0)
    seen: list = []
    monitor.attach(seen.append)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("{}")
    monitor(CheckpointSaved(3, str(early), False))
    monitor(EpochEnded(3, {"elapsed_seconds": 1000.0}))
    monitor(DecisionMade(3, "continue", "fine"))
    assert seen == []  # only progress reports and stops trigger a measurement
    monitor(DecisionMade(3, "report", "progress analysis"))
    (event,) = seen
    assert isinstance(event, QualityMeasured) and event.epoch == 3
    assert event.metrics["quality_stopped"] == 1.0
    assert event.metrics["mel_quality"] > 0 and 1.0 <= event.metrics["audio_naturalness"] <= 5.0
    spent = event.metrics["quality_seconds"]
    assert event.metrics["quality_overhead"] == pytest.approx(spent / 1000.0)
    summary = {"stop_reason": "converged"}
    monitor(RunFinished(summary))  # same epoch: not measured again
    assert len(seen) == 1
    assert summary["mel_quality"] == event.metrics["mel_quality"]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["quality_epoch"] == 3


def test_a_training_run_logs_quality_to_its_event_stream_and_summary(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    config = tiny_config(tmp_path / "cache", epochs=1).model_copy(deep=True)
    config.evaluation.monitor_budget = 1.0  # a tiny run: measure regardless of its cost
    config.evaluation.monitor_sentences = 1
    summary = train(config, corpus, tmp_path / "run")
    records = read_records(tmp_path / "run" / "metrics.jsonl", "quality_measured")
    assert [r["epoch"] for r in records] == [1]
    assert summary["quality_epoch"] == 1 and "mel_quality" in summary
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["quality_epoch"] == 1


def test_the_controller_hears_each_quality_measurement(tmp_path):
    from rich.console import Console

    from smart_tuner.train.loop import Trainer

    corpus = make_corpus(tmp_path / "corpus")
    config = tiny_config(tmp_path / "cache", epochs=1)
    trainer = Trainer(config, corpus, tmp_path / "run", console=Console(quiet=True))
    trainer.bus.emit(QualityMeasured(3, {"mel_quality": 5.5, "audio_naturalness": 3.0}))
    trainer.bus.emit(QualityMeasured(5, {"quality_stopped": 0.0}))  # no sentence gave audio
    assert trainer.controller.shared_state.quality == [[3, 5.5]]
    assert trainer.controller.state_dict()["state"]["quality"] == [[3, 5.5]]


def test_the_monitor_speaks_the_same_sentences_every_time(trained):
    corpus, _ = trained
    entries = load_corpus(corpus, load_config(None, {}).data).entries
    assert fixed_subset(entries, 3) == fixed_subset(list(reversed(entries)), 3)


def test_the_default_dataset_is_the_runs_own_else_the_demo_corpus(tmp_path):
    from smart_tuner.cli import demo_corpus_path
    from smart_tuner.evaluate.command import resolve_dataset

    corpus = make_corpus(tmp_path / "corpus")
    checkpoint = tmp_path / "run" / "checkpoints" / "best.pt"
    checkpoint.parent.mkdir(parents=True)
    config = load_config(None, {})
    assert resolve_dataset(None, config, "ru", checkpoint) == demo_corpus_path("ru")
    (tmp_path / "run" / "analysis.json").write_text(
        json.dumps({"profile": {"dataset": str(corpus)}})
    )
    assert resolve_dataset(None, config, "ru", checkpoint) == corpus
    assert resolve_dataset("other", config, "ru", checkpoint) == Path("other")


def test_a_russian_model_gets_wer_not_assessed_and_everything_else(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    words = ["кот", "сидел", "на", "тёплом", "коврике", "семь", "собак"]
    lines = (corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()
    russian = []
    for i, line in enumerate(lines):
        text = " ".join(words[(i + k) % 7] for k in range(2 + i % 4)).capitalize()
        russian.append(f"{line.split('|')[0]}|{text}.")
    (corpus / "metadata.csv").write_text("\n".join(russian) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    train(tiny_config(tmp_path / "cache", epochs=1), corpus, run)
    report = tmp_path / "eval.json"
    early = patched(run / "checkpoints" / "last.pt", tmp_path / "early.pt", 100.0)
    code = main(
        ["evaluate", "--checkpoint", str(early), "--dataset", str(corpus), "--n", "2"]
        + ["--json", str(report)]
    )
    assert code == 0
    data = json.loads(report.read_text())
    assert "ru" in data["not_assessed"]["wer"]
    assert all("wer" not in s and "mcd_db" in s for s in data["sentences"])

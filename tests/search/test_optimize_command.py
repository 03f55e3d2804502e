"""`smart-tuner optimize` from the command line: a small real study, and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

from smart_tuner.cli import main
from smart_tuner.config import dump_config, load_config
from tests.helpers import tiny_config


def tiny_yaml(tmp_path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(dump_config(tiny_config(tmp_path / "cache")), encoding="utf-8")
    return str(path)


def test_optimize_writes_a_best_config_that_train_accepts(tmp_path, search_corpus, capsys):
    study = tmp_path / "study"
    code = main(
        [
            "optimize",
            str(search_corpus),
            "--config",
            tiny_yaml(tmp_path),
            "--trials",
            "2",
            "--trial-epochs",
            "1",
            "--storage",
            str(tmp_path / "optuna.db"),
            "--out",
            str(study),
            "--no-warm-start",
            "--no-track",
            "--seed",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Study optimize-corpus" in out and "2 trials" in out and "Best: trial" in out
    summary = json.loads((study / "study.json").read_text())
    assert len(summary["trials"]) == 2
    best = load_config(study / "best_config.yaml")  # what `train --config` reads
    assert best.training.learning_rate == summary["best_params"]["learning_rate"]
    assert best.model.n_frames_per_step == summary["best_params"]["n_frames_per_step"]
    assert (study / "optimization_history.png").stat().st_size > 1000


def test_a_storage_that_cannot_be_reached_is_a_message(tmp_path, search_corpus, capsys):
    code = main(
        [
            "optimize",
            str(search_corpus),
            "--config",
            tiny_yaml(tmp_path),
            "--no-warm-start",
            "--no-track",
            "--storage",
            "postgresql://nobody@127.0.0.1:1/none",
        ]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "cannot open the study storage postgresql+psycopg://nobody@127.0.0.1:1/none" in out
    assert "Traceback" not in out


def test_an_impossible_range_names_its_key(tmp_path, search_corpus, capsys):
    config = Path(tiny_yaml(tmp_path))
    text = config.read_text(encoding="utf-8")
    old = "n_frames_per_step:\n    choices:\n    - 2\n    - 3"
    config.write_text(text.replace(old, old[:-1] + "12"), encoding="utf-8")
    code = main(["optimize", str(search_corpus), "--config", str(config), "--no-warm-start"])
    out = capsys.readouterr().out
    assert code == 2
    assert "hyperparameter_search_space.n_frames_per_step: 12 is not a possible" in out


def test_local_cpu_workers_split_the_cores_unless_the_user_chose(tmp_path, monkeypatch):
    from rich.console import Console

    from smart_tuner.search.command import _share_cores

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    tiny = tiny_config(tmp_path)
    config = tiny.model_copy(
        update={"training": tiny.training.model_copy(update={"num_threads": None})}
    )
    assert _share_cores(config, 2, 0, quiet).training.num_threads == 4
    assert _share_cores(config, 3, 0, quiet).training.num_threads == 2
    assert _share_cores(config, 16, 0, quiet).training.num_threads == 1
    assert _share_cores(config, 1, 0, quiet).training.num_threads is None  # alone: every core
    assert _share_cores(config, 2, 2, quiet).training.num_threads is None  # one GPU each
    chosen = tiny_config(tmp_path, num_threads=3)
    assert _share_cores(chosen, 2, 0, quiet).training.num_threads == 3


def test_on_the_demo_corpus_attention_is_judged_where_the_small_model_aligns(monkeypatch, tmp_path):
    import io

    from rich.console import Console

    from smart_tuner.cli import build_parser
    from smart_tuner.search import command

    seen = {}

    def capture(dataset, config, study_dir, **kwargs):
        seen.update(config=config)
        return command.SearchResult(0, None, "demo", "sqlite://")

    monkeypatch.setattr(command, "run_search", capture)
    monkeypatch.chdir(tmp_path)  # no ./config.yaml: the built-in defaults
    args = build_parser().parse_args(["optimize", "--trials", "2", "--out", str(tmp_path / "s")])
    out = io.StringIO()
    assert command.run(args, Console(file=out, width=200)) == 0
    config = seen["config"]
    assert config.model.preset == "small"
    assert config.search.alignment_grace_epochs == command.DEMO_GRACE_EPOCHS
    assert load_config(None).search.alignment_grace_epochs < command.DEMO_GRACE_EPOCHS
    assert f"epoch {command.DEMO_GRACE_EPOCHS} of batch" in out.getvalue()

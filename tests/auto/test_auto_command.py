"""`auto` on the embedded corpus trains the `small` model (the demo recipe), all of it."""

from __future__ import annotations

import io

from rich.console import Console

from smart_tuner.auto import command, pipeline
from smart_tuner.cli import build_parser
from smart_tuner.config import MODEL_PRESETS


def test_the_demo_recipe_gives_the_small_model_its_sizes_not_only_its_name(monkeypatch, tmp_path):
    seen = {}

    def capture(dataset, out, config, console, **kwargs):
        seen.update(config=config, minutes=kwargs["max_minutes"])

    monkeypatch.setattr(pipeline, "run_auto", capture)
    monkeypatch.chdir(tmp_path)  # no ./config.yaml: the built-in defaults
    args = build_parser().parse_args(["auto", "--trials", "3", "--out", str(tmp_path / "a")])
    assert command.run(args, Console(file=io.StringIO())) == 0
    model = seen["config"].model
    assert model.preset == "small"
    for key, value in MODEL_PRESETS["small"].items():
        assert getattr(model, key) == value, key  # a base-sized "small" trained 3.5x slower
    assert seen["minutes"] == command.DEMO_AUTO_MINUTES

"""Which config and which dataset a command works on, decided in one place for every command.

The config: the file given with --config, else ./config.yaml when present, else the built-in
defaults. The dataset: the path given, else `data.dataset_path`, else the embedded English demo
corpus (said out loud, so nobody trains on the demo by accident).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from smart_tuner.config import Config, load_config


def demo_corpus_path(language: str = "en") -> Path:
    return Path(__file__).resolve().parent / "demo_corpus" / language


def is_demo_corpus(dataset: Path) -> bool:
    """The embedded English corpus, where `demo`, `auto` and `optimize` use the demo recipe."""
    return dataset.resolve() == demo_corpus_path("en")


def default_config_path(given: str | Path | None) -> Path | None:
    if given:
        return Path(given)
    local = Path("config.yaml")
    return local if local.is_file() else None


def config_for(given: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """The config file (see `default_config_path`) merged with the command's overrides."""
    return load_config(default_config_path(given), overrides)


def dataset_for(
    given: str | Path | None, config: Config, console: Console, doing: str = "using"
) -> Path:
    """The dataset path given, else the config's, else the demo corpus (announced)."""
    if given:
        return Path(given)
    if config.data.dataset_path:
        return Path(config.data.dataset_path)
    path = demo_corpus_path("en")
    console.print(f"No dataset given: {doing} the embedded English demo corpus ({path}).")
    return path

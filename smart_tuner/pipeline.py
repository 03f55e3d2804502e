"""The stages chained: analysis -> recommendation (corrected by the history) -> training.

Each function is one stage the CLI commands share, so `analyze`, `train` and later `auto`
recommend the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from smart_tuner.config import Config


@dataclass
class Recommendation:
    profile: Any  # DatasetProfile
    plan: Any  # EpochPlan
    run_params: dict[str, Any]  # what the history needs to learn from the run


def recommend_for(
    dataset: Path,
    config: Config,
    console: Console,
    *,
    workers: int | None = None,
    use_cache: bool = True,
) -> Recommendation:
    """Analyse the corpus and recommend epochs, corrected by similar past runs."""
    from smart_tuner.analysis import analyze_dataset
    from smart_tuner.history_learning import profile_features_of, run_profile_params
    from smart_tuner.recommend import recommend
    from smart_tuner.track import epoch_correction

    profile = analyze_dataset(dataset, config, console, workers=workers, use_cache=use_cache)
    correction = epoch_correction(config, profile_features_of(profile))
    plan = recommend(profile, config, history_correction=correction)
    return Recommendation(profile, plan, run_profile_params(profile, plan))

"""The `mel_quality` objective: rank trials by how their speech compares with the recordings.

Teacher-forced validation loss is a weak guide to free-running speech (S16), so a search may
instead score each finished trial by the mean MCD-DTW (dB) of a few held-out sentences spoken
by its best checkpoint. It is the same measurement as the training's quality monitor
(evaluate.monitor.measure) on the same validation split the trial never trained on; the
sentences are seeded, so every trial of a study speaks the same ones.
"""

from __future__ import annotations

from pathlib import Path

from smart_tuner.config import Config

SUMMARY_KEY = "objective_mel_quality"  # where the trial's process puts the score


def score_trial(run_dir: Path, config: Config, dataset: Path) -> dict[str, float]:
    """mel_quality (and audio_naturalness, quality_stopped) of the trial's best checkpoint;
    empty when there is no checkpoint to speak with."""
    from smart_tuner.evaluate.monitor import measure
    from smart_tuner.evaluate.selection import held_out

    checkpoint = run_dir / "checkpoints" / "best.pt"
    if not checkpoint.exists():
        return {}
    n = config.search.objective_sentences
    selection = held_out(dataset, config, n, seed=0, split="validation")
    return measure(checkpoint, selection.utterances, run_dir / "objective_audio")


def unscored_reason(n_sentences: int) -> str:
    return (
        f"mel_quality could not be measured: none of the {n_sentences} held-out sentences "
        "gave audio with the trial's best checkpoint"
    )

"""Which held-out utterances an evaluation speaks: a seeded sample of the run's validation split.

The split is the training run's own (data.corpus.split_train_val with the checkpoint's data
settings), so the model never trained on what it is judged by. The selection is saved with the
results (ids, seed, dataset) so the same sentences can be spoken again after more training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smart_tuner.config import Config
from smart_tuner.data.corpus import Utterance, load_corpus, split_train_val


@dataclass
class Selection:
    dataset: str
    seed: int
    split: str  # "validation" (held out from training) or "all" (a corpus the run never saw)
    utterances: list[Utterance]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "seed": self.seed,
            "split": self.split,
            "ids": [u.id for u in self.utterances],
        }


def held_out(dataset: Path, config: Config, n: int, seed: int, split: str) -> Selection:
    """`n` utterances of `dataset`: its validation split (`split="validation"`) or any of them."""
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    corpus = load_corpus(dataset, config.data)
    entries = corpus.entries
    if split == "validation":
        _, entries = split_train_val(
            entries,
            config.data.validation_fraction,
            config.data.min_validation_items,
            config.data.split_seed,
        )
    ordered = sorted(entries, key=lambda u: u.id)
    chosen = random.Random(seed).sample(ordered, min(n, len(ordered)))
    return Selection(str(dataset), seed, split, sorted(chosen, key=lambda u: u.id))

"""The data a run trains on: the corpus read and checked, mels cached, the symbol set learned,
the train/validation split and its bucketed loaders.

The training sampler asks the controller for its batch size (`size_from`), so a batch-size
decision takes effect at the next epoch without the loop holding a second copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from smart_tuner.config import Config
from smart_tuner.data import (
    BucketBatchSampler,
    Collate,
    Corpus,
    MelCache,
    TextFrontend,
    TTSDataset,
    load_corpus,
    split_train_val,
)
from smart_tuner.data.phonemes import PhonemizerUnavailable, resolve_phonemes
from smart_tuner.runtime.distributed import Ranks, RankSlice, barrier


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says why and what to do."""


@dataclass
class PreparedData:
    corpus: Corpus
    frontend: TextFrontend
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    train_sampler: BucketBatchSampler
    n_train: int
    n_val: int
    cache: MelCache
    train_items: list
    val_items: list

    def mel_statistics(self, limit: int = 200) -> tuple[torch.Tensor, float]:
        """Per-channel mean log-mel and mean length (frames) over up to `limit` train items."""
        mels = [torch.from_numpy(self.cache.get(u)) for u in self.train_items[:limit]]
        mean = torch.cat(mels, dim=1).mean(dim=1)
        return mean, sum(m.shape[1] for m in mels) / len(mels)


def build_frontend(corpus: Corpus, config: Config, console: Console | None = None) -> TextFrontend:
    """Learn the symbol set from the corpus with the configured language rules."""
    try:
        phonemes, note = resolve_phonemes(config.data.phonemes)
    except PhonemizerUnavailable as exc:
        raise TrainingError(f"data.phonemes is 'on' but {exc}") from exc
    if note and console is not None:
        console.print(f"[yellow]{note}[/yellow]")
    return TextFrontend.from_texts(
        [u.text for u in corpus.entries],
        config.data.language,
        config.data.fold_yo,
        config.data.expand_numbers,
        phonemes=phonemes,
    )


def prepare_data(
    dataset: Path,
    config: Config,
    console: Console,
    frontend: TextFrontend | None = None,
    batch_size_from: Callable[[], int] | None = None,
    ranks: Ranks | None = None,
) -> PreparedData:
    """`ranks`: in a distributed run each process loads its slice of every training batch
    and every W-th validation batch (runtime/distributed.RankSlice)."""
    ranks = ranks or Ranks()
    corpus = load_corpus(dataset, config.data)
    cache = MelCache(config.audio, config.data.cache_dir)
    if ranks.enabled:  # each process of a machine caches its share, then all read the cache
        share = corpus.entries[ranks.local_rank :: ranks.local_world_size]
        cache.precompute(share, progress=False, skip_errors=True)
        barrier(ranks)
    frames = cache.precompute(corpus.entries, progress=console.is_terminal, skip_errors=True)
    if cache.failed:  # the header looked fine but the audio does not decode
        corpus.entries = [u for u in corpus.entries if u.id in frames]
        corpus.skipped.extend(cache.failed)
    console.print(corpus.report())
    if len(corpus.entries) < 2:
        raise TrainingError(f"{dataset}: fewer than 2 usable utterances, nothing to train on")
    if frontend is None:
        frontend = build_frontend(corpus, config, console)
    train_items, val_items = split_train_val(
        corpus.entries,
        config.data.validation_fraction,
        config.data.min_validation_items,
        config.data.split_seed,
    )
    r = config.model.n_frames_per_step

    def loader(
        items: list, shuffle: bool, seed: int, size_from: Callable[[], int] | None = None
    ) -> tuple[Any, BucketBatchSampler]:
        ids = [frontend(u.text) for u in items]
        lengths = [frames[u.id] for u in items]
        sampler = BucketBatchSampler(
            lengths,
            config.training.batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=False,
            size_from=size_from,
        )
        share = RankSlice(sampler, ranks, shard_batches=not shuffle) if ranks.enabled else None
        dl = torch.utils.data.DataLoader(
            TTSDataset(items, ids, cache),
            batch_sampler=share or sampler,
            collate_fn=Collate(r),
            num_workers=config.data.num_workers,
            persistent_workers=config.data.num_workers > 0,
        )
        return dl, sampler

    train_loader, train_sampler = loader(train_items, True, config.training.seed, batch_size_from)
    val_loader, _ = loader(val_items, False, config.training.seed)
    return PreparedData(
        corpus,
        frontend,
        train_loader,
        val_loader,
        train_sampler,
        len(train_items),
        len(val_items),
        cache,
        train_items,
        val_items,
    )


def planned_epochs(config: Config) -> int:
    """The epochs asked for, else the search space's default."""
    if config.training.epochs is not None:
        return config.training.epochs
    return config.hyperparameter_search_space.epochs.default

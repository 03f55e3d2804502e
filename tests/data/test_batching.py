"""Padding, stop-token targets and length-bucketed batching."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from smart_tuner.config import AudioConfig
from smart_tuner.data import (
    BucketBatchSampler,
    Collate,
    MelCache,
    TextFrontend,
    TTSDataset,
    Utterance,
    collate,
    padding_ratio,
)


def item(n_text: int, n_frames: int, n_mels: int = 8, fill: float = 1.0):
    text = torch.arange(2, 2 + n_text, dtype=torch.long)
    mel = torch.full((n_mels, n_frames), fill, dtype=torch.float32)
    return text, mel


@pytest.mark.parametrize("r", [1, 2, 3])
def test_collate_shapes_and_gate_targets(r: int) -> None:
    lengths = [7, 10, 4]
    batch = collate([item(3, 7, fill=1.0), item(5, 10, fill=2.0), item(2, 4, fill=3.0)], r)
    t_out = -(-10 // r) * r
    assert batch.text_padded.shape == (3, 5) and batch.text_padded.dtype == torch.long
    assert batch.mel_padded.shape == (3, 8, t_out) and batch.mel_padded.dtype == torch.float32
    assert batch.gate_padded.shape == (3, t_out)
    assert t_out % r == 0
    assert batch.input_lengths.tolist() == [3, 5, 2]  # original order, not sorted
    assert batch.output_lengths.tolist() == lengths
    for i, n in enumerate(lengths):
        gate = batch.gate_padded[i]
        assert gate[: n - 1].sum() == 0 and bool((gate[n - 1 :] == 1).all())
        assert bool((batch.mel_padded[i, :, :n] == i + 1).all())
        assert bool((batch.mel_padded[i, :, n:] == 0).all())  # mel padding is 0
    assert batch.text_padded[2].tolist() == [2, 3, 0, 0, 0]
    assert len(batch) == 3


def test_batch_to_device_and_picklable_collate() -> None:
    batch = collate([item(3, 5), item(4, 6)], 2)
    moved = batch.to("cpu", non_blocking=True)
    assert torch.equal(moved.mel_padded, batch.mel_padded)
    restored = pickle.loads(pickle.dumps(Collate(3)))
    assert restored([item(3, 5)]).mel_padded.shape[-1] == 6


def test_dataset_reads_mels_from_the_cache(tmp_path: Path) -> None:
    utts = []
    for i in range(3):
        path = tmp_path / "d" / f"{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, 0.1 * np.sin(np.arange(4000 + 1000 * i) / 7).astype(np.float32), 16000)
        utts.append(Utterance(str(i), path, f"Number {i}."))
    frontend = TextFrontend.from_texts([u.text for u in utts], "en")
    cfg = AudioConfig(sampling_rate=16000, n_mel_channels=40)
    cache = MelCache(cfg, tmp_path / "cache")
    frames = cache.precompute(utts, progress=False)
    dataset = TTSDataset(utts, [frontend(u.text) for u in utts], cache)
    sampler = BucketBatchSampler([frames[u.id] for u in utts], batch_size=2, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=Collate(2))
    seen = 0
    for batch in loader:
        assert batch.mel_padded.shape[1] == 40
        seen += len(batch)
    assert seen == 3 and cache.misses == 3  # the loader only hit the cache
    text, mel = dataset[1]
    assert text.dtype == torch.long and text[-1].item() == frontend.symbols.eos_id
    assert mel.shape == (40, frames["1"])
    with pytest.raises(ValueError):
        TTSDataset(utts, [], cache)


def spread(n: int = 997, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(50, 900, size=n).tolist()


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_covers_every_index_once(drop_last: bool, shuffle: bool) -> None:
    lengths = spread()
    sampler = BucketBatchSampler(lengths, 16, shuffle=shuffle, drop_last=drop_last, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))
    if drop_last:
        assert all(len(b) == 16 for b in batches)
        assert len(flat) == 997 // 16 * 16
    else:
        assert sorted(flat) == list(range(997))


def test_sampler_is_deterministic_per_seed_and_epoch() -> None:
    lengths = spread()
    a = BucketBatchSampler(lengths, 16, seed=1)
    b = BucketBatchSampler(lengths, 16, seed=1)
    a.set_epoch(4)
    b.set_epoch(4)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(5)
    assert list(a) != first
    a.set_epoch(4)
    assert list(a) == first
    assert list(BucketBatchSampler(lengths, 16, seed=2)) != list(BucketBatchSampler(lengths, 16))


def test_bucketing_wastes_less_padding_than_random_batches() -> None:
    lengths = spread()
    bucketed = padding_ratio(lengths, list(BucketBatchSampler(lengths, 16, seed=0)))
    perm = np.random.default_rng(0).permutation(len(lengths)).tolist()
    random_batches = [perm[i : i + 16] for i in range(0, len(perm), 16)]
    unbucketed = padding_ratio(lengths, random_batches)
    assert bucketed < 0.05 < 0.3 < unbucketed
    assert padding_ratio([5, 5], [[0, 1]]) == 0.0
    assert padding_ratio([1, 3], [[0, 1]]) == pytest.approx(2 / 6)

"""Dataset, padding and length-bucketed batching for Tacotron2 training."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from smart_tuner.data.corpus import Utterance
from smart_tuner.data.features import MelCache


class TTSDataset(torch.utils.data.Dataset):
    """(utterance, token ids) pairs -> (text ids LongTensor[T_in], mel FloatTensor[n_mels, T])."""

    def __init__(
        self, utterances: Sequence[Utterance], token_ids: Sequence[Sequence[int]], cache: MelCache
    ) -> None:
        if len(utterances) != len(token_ids):
            raise ValueError(
                f"{len(utterances)} utterances but {len(token_ids)} token sequences; "
                "they must pair up one to one"
            )
        self.utterances = list(utterances)
        self.token_ids = [list(ids) for ids in token_ids]
        self.cache = cache

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        text = torch.tensor(self.token_ids[index], dtype=torch.long)
        mel = torch.from_numpy(np.array(self.cache.get(self.utterances[index]), dtype=np.float32))
        return text, mel


@dataclass
class Batch:
    """Padded tensors for one step. Text pads with id 0; mels pad with 0.0.

    Mel padding is 0 like NVIDIA/tacotron2 (not the log floor log(1e-5)): the padded frames are
    masked out of the loss (mask_padding) and the gate target already says "stopped" there, so
    the pad value only has to be finite and the same everywhere.
    """

    text_padded: Tensor  # long [B, T_in]
    input_lengths: Tensor  # long [B]
    mel_padded: Tensor  # float [B, n_mels, T_out], T_out a multiple of r
    gate_padded: Tensor  # float [B, T_out], 1 from the last real frame on
    output_lengths: Tensor  # long [B], real (unpadded) frame counts

    def to(self, device: torch.device | str, non_blocking: bool = True) -> Batch:
        return Batch(
            **{
                f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
                for f in fields(self)
            }
        )

    def pin_memory(self) -> Batch:
        """Lets DataLoader(pin_memory=True) pin a custom batch type."""
        return Batch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})

    def __len__(self) -> int:
        return int(self.text_padded.shape[0])


def collate(batch: Sequence[tuple[Tensor, Tensor]], n_frames_per_step: int = 1) -> Batch:
    """Pad a list of (text ids, mel) into a Batch, keeping the items' order.

    Input lengths are not sorted: the encoder packs with enforce_sorted=False. T_out is rounded up
    to a multiple of r (frames per decoder step) so the decoder can reshape it evenly.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    r = int(n_frames_per_step)
    if r < 1:
        raise ValueError(f"n_frames_per_step must be >= 1, got {r}")
    n = len(batch)
    input_lengths = torch.tensor([int(t.shape[0]) for t, _ in batch], dtype=torch.long)
    output_lengths = torch.tensor([int(m.shape[1]) for _, m in batch], dtype=torch.long)
    n_mels = int(batch[0][1].shape[0])
    max_in = int(input_lengths.max())
    max_out = int(output_lengths.max())
    max_out = math.ceil(max_out / r) * r

    text_padded = torch.zeros(n, max_in, dtype=torch.long)
    mel_padded = torch.zeros(n, n_mels, max_out, dtype=torch.float32)
    gate_padded = torch.zeros(n, max_out, dtype=torch.float32)
    for i, (text, mel) in enumerate(batch):
        if mel.shape[0] != n_mels:
            raise ValueError(f"item {i} has {mel.shape[0]} mel channels, item 0 has {n_mels}")
        text_padded[i, : text.shape[0]] = text
        length = int(mel.shape[1])
        mel_padded[i, :, :length] = mel
        gate_padded[i, max(length - 1, 0) :] = 1.0
    return Batch(text_padded, input_lengths, mel_padded, gate_padded, output_lengths)


class Collate:
    """Picklable `collate` with r bound (lambdas cannot go to spawned DataLoader workers)."""

    def __init__(self, n_frames_per_step: int = 1) -> None:
        self.n_frames_per_step = n_frames_per_step

    def __call__(self, batch: Sequence[tuple[Tensor, Tensor]]) -> Batch:
        return collate(batch, self.n_frames_per_step)


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of similar mel length, so little compute is spent on padding.

    Indices are shuffled, cut into chunks of `bucket_batches * batch_size`, sorted by length
    inside each chunk, cut into batches, and the batch order is shuffled. Chunking keeps some
    randomness in which items meet in a batch. The order is a pure function of (seed, epoch):
    call `set_epoch` each epoch, and a resumed run sees the same batches. Without `shuffle`
    (validation), items are sorted by length once and batches keep that order. `size_from`, when
    given, is asked for the batch size each time batches are cut (the training controller's).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        bucket_batches: int = 50,
        size_from: Callable[[], int] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if bucket_batches < 1:
            raise ValueError(f"bucket_batches must be >= 1, got {bucket_batches}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self._batch_size = batch_size
        self.size_from = size_from
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.bucket_batches = bucket_batches
        self.epoch = 0

    @property
    def batch_size(self) -> int:
        return self.size_from() if self.size_from is not None else self._batch_size

    @batch_size.setter
    def batch_size(self, size: int) -> None:
        self._batch_size = size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if n == 0:
            return []
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            chunks = [order]
        else:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch & 0xFFFFFFFF])
            perm = rng.permutation(n)
            size = self.batch_size * self.bucket_batches
            # Stable sort keeps the random order among equal lengths.
            chunks = [
                chunk[np.argsort(self.lengths[chunk], kind="stable")]
                for chunk in (perm[i : i + size] for i in range(0, n, size))
            ]
        out: list[list[int]] = []
        for chunk in chunks:
            for i in range(0, len(chunk), self.batch_size):
                batch = chunk[i : i + self.batch_size]
                if self.drop_last and len(batch) < self.batch_size:
                    continue
                out.append([int(j) for j in batch])
        if self.shuffle:
            out = [out[i] for i in rng.permutation(len(out))]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def padding_ratio(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Fraction of the padded frames that are padding (0 = no waste)."""
    lens = np.asarray(lengths, dtype=np.int64)
    total = wasted = 0
    for batch in batches:
        if len(batch) == 0:
            continue
        b = lens[list(batch)]
        padded = int(b.max()) * len(b)
        total += padded
        wasted += padded - int(b.sum())
    return wasted / total if total else 0.0

"""Several processes training one model: torchrun starts them, DistributedDataParallel keeps
their weights equal, and this module holds the few collective steps the loop needs.

`batch_size` is global (as ESPnet counts it): every process cuts the same length-bucketed
batches from one seed and trains its own slice of each, so a step sees the same items and
the same learning rate whatever the number of processes. A run resumed with a different
number of processes therefore changes neither the effective batch nor the learning rate.

Rank 0 is the only one that decides and writes: it runs the controller and broadcasts its
state and decisions; the others apply them. Every collective has a timeout, and a lost peer
becomes `RanksLost`, a clear message instead of a hang.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


class RanksLost(RuntimeError):
    """A process of a distributed run died or stopped answering; the run cannot go on."""


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in the run: its rank among `world_size` (1: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @classmethod
    def from_env(cls) -> Ranks:
        """torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE); one process
        without them."""
        env = os.environ
        try:
            world = int(env.get("WORLD_SIZE", 1))
            return cls(
                int(env.get("RANK", 0)),
                world,
                int(env.get("LOCAL_RANK", 0)),
                int(env.get("LOCAL_WORLD_SIZE", world)),
            )
        except ValueError:
            return cls()

    def cpu_threads(self) -> int:
        """This process's share of the machine's cores (processes on one machine share it)."""
        return max(1, (os.cpu_count() or 1) // max(1, self.local_world_size))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self, global_batch: int) -> str:
        """The startup line: what batch_size means here, and what it does to the LR."""
        per, extra = divmod(global_batch, self.world_size)
        share = f"{per}" if not extra else f"{per}-{per + 1}"
        return (
            f"Distributed: {self.world_size} processes; batch_size {global_batch} is global "
            f"({share} items per process per step), so the learning rate is the "
            "single-process one (the effective batch does not depend on the process count)."
        )


def start(ranks: Ranks, device_type: str, timeout_seconds: float) -> None:
    """Join the process group (NCCL on CUDA, gloo on CPU) unless it is running already."""
    if not ranks.enabled or dist.is_initialized():
        return
    if device_type == "cuda":
        torch.cuda.set_device(ranks.local_rank)
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds))


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_peer_failure(exc: BaseException) -> bool:
    """An error from a collective whose peer is gone (gloo/NCCL report it as RuntimeError)."""
    if isinstance(exc, RanksLost | ConnectionError):
        return True
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        word in text for word in ("gloo", "nccl", "connection", "timed out", "peer")
    )


def lost(exc: BaseException, ranks: Ranks) -> RanksLost:
    """`exc` from a collective, as the message a user reads."""
    return exc if isinstance(exc, RanksLost) else _lost(exc, ranks)


def _lost(exc: BaseException, ranks: Ranks) -> RanksLost:
    return RanksLost(
        f"process {ranks.rank} of {ranks.world_size} lost the others ({type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). A process died or stopped "
        "answering; rank 0's last checkpoint is intact: run the same command with --resume "
        "(any number of processes) to continue."
    )


def broadcast(value: T, ranks: Ranks) -> T:
    """Rank 0's `value` on every rank (any picklable object; tensors travel on the CPU)."""
    if not ranks.enabled:
        return value
    box: list[Any] = [value if ranks.is_main else None]
    try:
        dist.broadcast_object_list(box, src=0)
    except (RuntimeError, ConnectionError) as exc:
        raise _lost(exc, ranks) from exc
    return box[0]


def barrier(ranks: Ranks) -> None:
    """Wait until every rank is here."""
    if not ranks.enabled:
        return
    try:
        dist.barrier()
    except (RuntimeError, ConnectionError) as exc:
        raise _lost(exc, ranks) from exc


def reduce_metrics(
    values: Mapping[str, float],
    ranks: Ranks,
    device: torch.device,
    sums: Sequence[str] = (),
    maxima: Sequence[str] = (),
) -> dict[str, float]:
    """The mean over the ranks of each value; keys in `sums` are added, in `maxima` maxed."""
    if not ranks.enabled:
        return dict(values)
    keys = sorted(values)
    total = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    top = total.clone()
    try:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
    except (RuntimeError, ConnectionError) as exc:
        raise _lost(exc, ranks) from exc
    out = {}
    for i, key in enumerate(keys):
        if key in maxima:
            out[key] = float(top[i])
        elif key in sums:
            out[key] = float(total[i])
        else:
            out[key] = float(total[i]) / ranks.world_size
    return out


def all_agree(flag: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """True on every rank only where it is true on all of them (e.g. "this step is finite")."""
    if not ranks.enabled:
        return flag
    value = flag.to(torch.int32)
    try:
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
    except (RuntimeError, ConnectionError) as exc:
        raise _lost(exc, ranks) from exc
    return value.bool()


def sync_module(module: torch.nn.Module, ranks: Ranks) -> None:
    """Rank 0's parameters and buffers on every rank (after a decision changed the model)."""
    if not ranks.enabled:
        return
    try:
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)
    except (RuntimeError, ConnectionError) as exc:
        raise _lost(exc, ranks) from exc


def on_cpu(value: Any) -> Any:
    """A copy of a (nested) state dict with every tensor on the CPU, for broadcasting."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {k: on_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(on_cpu(v) for v in value)
    return value


class RankSlice(torch.utils.data.Sampler[list[int]]):
    """This rank's share of every batch the wrapped sampler cuts.

    Every rank cuts the same global batches (one seed, one epoch number), so the batches stay
    length-bucketed and a step's items are split between ranks: rank r takes items r, r+W,
    r+2W... A batch shorter than the world is padded with its own items, so that no rank
    is ever left without work in a step (it would then miss the gradient all-reduce).
    """

    def __init__(self, batches: Any, ranks: Ranks, shard_batches: bool = False) -> None:
        self.sampler = batches
        self.ranks = ranks
        self.shard_batches = shard_batches  # validation: whole batches, every W-th one

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self.ranks.rank, self.ranks.world_size
        batches = list(self.sampler)
        if self.shard_batches:
            yield from batches[rank::world]
            return
        for batch in batches:
            padded = list(batch)
            while len(padded) < world:
                padded.append(batch[len(padded) % len(batch)])
            yield padded[rank::world]

    def __len__(self) -> int:
        if self.shard_batches:
            n = len(self.sampler)
            return len(range(self.ranks.rank, n, self.ranks.world_size))
        return len(self.sampler)

"""The collectives of runtime/distributed on a real gloo group of two CPU processes."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from smart_tuner.runtime import distributed
from smart_tuner.runtime.distributed import Ranks, RankSlice, RanksLost


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rank_main(rank: int, port: int, results: mp.Queue, leave_early: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    ranks = Ranks(rank, 2, rank, 2)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    shared = distributed.broadcast({"from": rank}, ranks)
    mean = distributed.reduce_metrics(
        {"loss": float(rank), "fps": 10.0, "top": float(rank)},
        ranks,
        torch.device("cpu"),
        sums=("fps",),
        maxima=("top",),
    )
    agree = bool(distributed.all_agree(torch.tensor(rank == 0), ranks))
    if leave_early:
        if rank == 1:
            os._exit(0)  # a rank that dies without a word
        try:
            distributed.broadcast("never answered", ranks)
            results.put((rank, "no error"))
        except RanksLost as exc:
            results.put((rank, str(exc)))
        return
    results.put((rank, (shared, mean, agree)))
    dist.destroy_process_group()


def run_pair(leave_early: bool) -> dict[int, object]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=rank_main, args=(r, port, results, leave_early)) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    out = {}
    while not results.empty():
        rank, value = results.get()
        out[rank] = value
    return out


def test_broadcast_reduce_and_agree_across_two_processes():
    out = run_pair(leave_early=False)
    for rank in (0, 1):
        shared, mean, agree = out[rank]
        assert shared == {"from": 0}  # rank 0's value everywhere
        assert mean == {"loss": 0.5, "fps": 20.0, "top": 1.0}
        assert agree is False  # false on rank 1 makes it false on both


def test_a_dead_peer_is_an_error_with_a_message_not_a_hang():
    out = run_pair(leave_early=True)
    assert "process 0 of 2 lost the others" in out[0] and "--resume" in out[0]


def test_rank_slices_cover_every_item_of_every_batch_once():
    batches = [[0, 1, 2, 3, 4], [5, 6], [7]]
    slices = [list(RankSlice(batches, Ranks(r, 2, r, 2))) for r in (0, 1)]
    assert slices[0] == [[0, 2, 4], [5], [7]]
    assert slices[1] == [[1, 3], [6], [7]]  # a one-item batch is shared, never left empty
    val = [list(RankSlice(batches, Ranks(r, 2, r, 2), shard_batches=True)) for r in (0, 1)]
    assert val == [[[0, 1, 2, 3, 4], [7]], [[5, 6]]]

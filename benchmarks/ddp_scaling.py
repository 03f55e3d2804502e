"""Training throughput with 1..N processes (torchrun + DistributedDataParallel), and the share
of a step spent in the gradient all-reduce.

    .venv/bin/python benchmarks/ddp_scaling.py [--procs 1 2] [--steps 12] [--batch-size 16]

The driver starts torchrun once per process count; each run trains the `small` preset on the
demo corpus with the same global batch size (the items of a step are split between the
processes). On a CPU each process gets its share of the cores; with CUDA each gets one GPU.
All-reduce share: the same steps timed again inside DDP's `no_sync()` (no gradient exchange);
(with - without) / with is what the exchange costs beyond what it overlaps with backward.
Run it on an idle machine: two torch jobs on the same cores slow each other down.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def worker(steps: int, batch_size: int, out: Path) -> None:
    """One rank: time `steps` optimizer steps with and without the all-reduce."""
    import torch
    from rich.console import Console

    from smart_tuner.config import load_config
    from smart_tuner.resolve import demo_corpus_path
    from smart_tuner.runtime import distributed
    from smart_tuner.runtime.device import select_device
    from smart_tuner.runtime.distributed import Ranks
    from smart_tuner.train.loop import Trainer
    from smart_tuner.train.steps import training_loss

    ranks = Ranks.from_env()
    config = load_config(
        None,
        {"model.preset": "small", "training.batch_size": batch_size, "training.epochs": 1},
    )
    device = select_device(config.training.device)
    distributed.start(ranks, device.type, 300)
    run_dir = Path(tempfile.mkdtemp(prefix="ddp-bench-"))
    t = Trainer(config, demo_corpus_path("en"), run_dir, console=Console(quiet=True), ranks=ranks)
    t.model.train()
    batches = [b.to(t.device) for _, b in zip(range(steps + 2), t.data.train_loader, strict=False)]

    def one_step(batch, sync: bool) -> None:
        quiet = t.net.no_sync() if ranks.enabled and not sync else contextlib.nullcontext()
        with quiet:
            loss = training_loss(t, t.net, batch, 1.0, 0.0)
            t.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        t.optimizer.step()

    def timed(sync: bool) -> float:
        for batch in batches[:2]:  # warm-up
            one_step(batch, sync)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if ranks.enabled:
            torch.distributed.barrier()
        began = time.perf_counter()
        for batch in batches[2:]:
            one_step(batch, sync)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if ranks.enabled:
            torch.distributed.barrier()
        return time.perf_counter() - began

    with_sync = timed(True)
    without = timed(False) if ranks.enabled else with_sync
    if ranks.is_main:
        n = len(batches) - 2
        out.write_text(
            json.dumps(
                {
                    "processes": ranks.world_size,
                    "device": str(t.device),
                    "threads": t.threads,
                    "step_seconds": with_sync / n,
                    "step_seconds_no_sync": without / n,
                    "samples_per_second": n * batch_size / with_sync,
                    "allreduce_share": max(0.0, (with_sync - without) / with_sync),
                }
            )
        )
    distributed.stop()


def drive(procs: list[int], steps: int, batch_size: int) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = []
    for n in procs:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "result.json"
            command = [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={n}", __file__, "--worker", "--steps", str(steps),
                "--batch-size", str(batch_size), "--out", str(out),
            ]  # fmt: skip
            subprocess.run(command, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            rows.append(json.loads(out.read_text()))
    base = rows[0]["samples_per_second"]
    table = Table(title=f"DDP scaling: small preset, demo corpus, global batch {batch_size}")
    for column in ("processes", "device", "threads each", "step s", "step s without all-reduce",
                   "samples/s", "vs 1st row", "all-reduce share"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["processes"]),
            r["device"],
            str(r["threads"]),
            f"{r['step_seconds']:.3f}",
            f"{r['step_seconds_no_sync']:.3f}",
            f"{r['samples_per_second']:.1f}",
            f"{r['samples_per_second'] / base:.2f}x",
            f"{100 * r['allreduce_share']:.0f}%",
        )
    Console(width=140).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, nargs="+")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.batch_size, Path(args.out))
        return
    procs = args.procs
    if procs is None:
        import torch

        gpus = torch.cuda.device_count()
        procs = list(range(1, gpus + 1)) if gpus > 1 else [1, 2]
    drive(procs, args.steps, args.batch_size)


if __name__ == "__main__":
    main()

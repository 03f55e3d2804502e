"""`smart-tuner train` under torchrun, and `--nproc N` that starts torchrun for the user.

torchrun (PyTorch's own launcher) starts the processes and gives each its rank; rank 0
analyses the dataset, plans the epochs, holds the run folder and writes everything, then
hands its config and run folder to the others so that all of them train the same plan.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from smart_tuner.config import Config
from smart_tuner.exit_codes import UserError
from smart_tuner.runtime import distributed
from smart_tuner.runtime.device import select_device
from smart_tuner.runtime.distributed import Ranks

LAUNCH_FLAGS = ("--nproc", "--gpus")


def launcher_argv(argv: Sequence[str], nproc: int, out: Path) -> list[str]:
    """torchrun's command line for this `train` command: the same arguments less --nproc
    (or --gpus), with the run folder fixed so that every process writes to the same one."""
    rest: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in LAUNCH_FLAGS:
            skip = True
            continue
        if arg.split("=", 1)[0] in LAUNCH_FLAGS:
            continue
        rest.append(arg)
    if "--out" not in rest and not any(a.startswith("--out=") for a in rest):
        rest += ["--out", str(out)]
    return [
        sys.executable,
        "-m",
        "smart_tuner.train.torchrun",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "smart_tuner",
        *rest,
    ]


def launch(argv: Sequence[str], nproc: int, out: Path, console: Console) -> int:
    """Run torchrun in the foreground and return its exit code. Ctrl-C reaches every process
    through the terminal; this one only waits, so nothing is killed mid-checkpoint."""
    command = launcher_argv(argv, nproc, out)
    console.print(f"Starting {nproc} processes with torchrun (run folder {out}).")
    process = subprocess.Popen(command)  # an argument list: no shell
    interrupted = False
    while True:
        try:
            code = process.wait()
            return 130 if interrupted and code != 0 else code
        except KeyboardInterrupt:
            interrupted = True
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # wait for the checkpoint
            if not _terminal_signalled_us_all():
                process.send_signal(signal.SIGINT)


def _terminal_signalled_us_all() -> bool:
    """True when Ctrl-C came from the terminal to our whole process group (torchrun has it
    already; a second one could cut its shutdown short)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False  # no terminal: the signal was sent to this process by something else


def train_on_ranks(
    args: argparse.Namespace,
    config: Config,
    prepare: Callable[[Config], tuple[Config, dict[str, Any], Path, Path]],
    console: Console,
) -> dict[str, Any]:
    """One rank of a torchrun-launched run: join the group, take rank 0's plan, train.

    `prepare` runs on rank 0 only: it finds the dataset and run folder, checks the folder is
    free and plans the epochs (the analysis), returning (config, run_params, dataset, out).
    """
    from smart_tuner.train.loop import train

    ranks = Ranks.from_env()
    device = select_device(config.training.device)
    distributed.start(ranks, device.type, config.training.collective_timeout_seconds)
    try:
        quiet = Console(quiet=True)
        # A pickled Config keeps what its YAML dump leaves out (the analysis's drop list).
        mine, failure = None, None
        if ranks.is_main:
            try:
                mine = prepare(config)
            except Exception as exc:  # the others must hear of it, not wait for the timeout
                failure = exc
        shared, said = distributed.broadcast((mine, failure and str(failure)), ranks)
        if failure is not None:
            raise failure
        if said is not None or shared is None:
            raise UserError(f"rank 0 could not start the run: {said}")
        planned, run_params, dataset, out = shared
        return train(
            planned,
            dataset,
            out,
            resume=args.resume,
            warm_start_path=Path(args.warm_start) if args.warm_start else None,
            console=console if ranks.is_main else quiet,
            track=ranks.is_main and not args.no_track,
            run_params=run_params,
            ranks=ranks,
        )
    finally:
        distributed.stop()


def under_torchrun() -> bool:
    return Ranks.from_env().enabled or "TORCHELASTIC_RUN_ID" in os.environ

"""One trial = one child process running the ordinary training entry point.

Everything a trial allocates (model, optimizer, mel cache, CUDA context) goes away with the
process, so a worker's memory returns to where it was after every trial. The child talks to
its worker over a pipe: after each epoch it sends the metrics and waits for "go on" or "stop
(reason)"; a stop becomes `StopRun`, which the loop turns into a normal, checkpointed end.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from smart_tuner.events import EpochEnded, Event, StopRun

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class TrialJob:
    """What a trial's process needs (picklable for the spawn start method)."""

    config: dict[str, Any]
    dataset: str
    run_dir: str
    track: bool
    parent_run_id: str | None
    nested_name: str
    run_params: dict[str, Any]
    analysis_drops: dict[str, str]  # the analysis's drop verdicts (never in config dumps)
    resume: bool = False  # continue the run in run_dir from its last checkpoint


class PipeReporter:
    """Listener: reports each epoch to the worker and obeys its answer."""

    __name__ = "search_reporter"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __call__(self, event: Event) -> None:
        if not isinstance(event, EpochEnded):
            return
        try:
            self.conn.send(("epoch", event.epoch, dict(event.metrics)))
            answer = self.conn.recv()
        except (EOFError, OSError):
            raise StopRun("the search worker is gone", stop_reason="orphaned") from None
        if answer[0] == "stop":
            raise StopRun(str(answer[1]), stop_reason="pruned")


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its worker dies (a killed worker leaves no trainer)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # elsewhere the pipe's EOF stops it after the epoch


def run_trial(job: TrialJob, conn: Connection) -> None:
    """Entry point of the trial's process: train, then send ("done", summary) or ("error",
    message, traceback)."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides about Ctrl-C
    from rich.console import Console

    from smart_tuner.config import config_from_dict
    from smart_tuner.train.loop import train

    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "train.log", "a", encoding="utf-8") as log:
        console = Console(file=log, width=120, highlight=False)
        try:
            config = config_from_dict(job.config, "trial config")
            data = config.data.model_copy(update={"analysis_drops": job.analysis_drops})
            config = config.model_copy(update={"data": data})
            summary = train(
                config,
                Path(job.dataset),
                run_dir,
                resume=job.resume,
                console=console,
                track=job.track,
                run_params=job.run_params,
                parent_run_id=job.parent_run_id,
                nested_name=job.nested_name,
                listeners=[PipeReporter(conn)],
            )
            if config.search.objective == "mel_quality" and summary.get("stop_reason") != "pruned":
                from smart_tuner.search.mel_objective import SUMMARY_KEY, score_trial

                scores = score_trial(run_dir, config, Path(job.dataset))
                console.print(f"mel_quality objective: {scores}")
                summary[SUMMARY_KEY] = scores.get("mel_quality")
            conn.send(("done", summary))
        except BaseException as exc:
            text = traceback.format_exc()
            console.print(text)
            with contextlib.suppress(OSError):
                conn.send(("error", f"{type(exc).__name__}: {exc}", text))
        finally:
            conn.close()

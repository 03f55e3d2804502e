"""`auto` on a tiny corpus, killed (SIGKILL) at a random stage and run again: it finishes, and
every stage was done exactly once."""

from __future__ import annotations

import importlib.util
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from smart_tuner.auto.record import STAGES
from smart_tuner.config import dump_config
from tests.helpers import make_corpus, tiny_config

SEARCH = importlib.util.find_spec("smart_tuner.search.command") is not None


def auto_command(root: Path, trials: int) -> list[str]:
    # -P: the run's working folder (which gets a smart_tuner/ folder for the history database)
    # must not shadow the package.
    return [
        sys.executable,
        "-P",
        "-m",
        "smart_tuner",
        "auto",
        str(root / "corpus"),
        "--out",
        str(root / "auto"),
        "--trials",
        str(trials),
        "--config",
        str(root / "tiny.yaml"),
    ]


def stages_logged(out: Path) -> list[str]:
    log = out / "stages.log"
    if not log.is_file():
        return []
    return [line.split()[-1] for line in log.read_text(encoding="utf-8").splitlines() if line]


def kill_points(out: Path, trials: int) -> dict[str, object]:
    """Moments to kill at: after a stage finished, or in the middle of the training."""
    points: dict[str, object] = {
        f"after {stage}": (lambda s=stage: s in stages_logged(out)) for stage in STAGES[:-1]
    }
    points["mid-training"] = lambda: (out / "train" / "checkpoints" / "last.pt").exists()
    if trials:
        points["mid-search"] = lambda: (out / "search" / "study.db").exists()
    return points


def test_auto_killed_at_a_random_stage_resumes_and_does_each_stage_once(tmp_path: Path) -> None:
    trials = 2 if SEARCH else 0
    make_corpus(tmp_path / "corpus")
    config = tiny_config(tmp_path / "cache", epochs=3, audio_sample_minutes=1e-6)
    (tmp_path / "tiny.yaml").write_text(dump_config(config), encoding="utf-8")
    out = tmp_path / "auto"
    points = kill_points(out, trials)
    chosen = random.choice(sorted(points))
    reached = points[chosen]

    first = subprocess.Popen(
        auto_command(tmp_path, trials),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while first.poll() is None and not reached():  # type: ignore[operator]
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, f"auto finished before the kill ({chosen})"
    done_before = stages_logged(out)

    second = subprocess.run(
        auto_command(tmp_path, trials), cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, f"killed {chosen}\n{second.stdout[-3000:]}{second.stderr}"
    logged = stages_logged(out)
    assert sorted(logged) == sorted(STAGES), f"killed {chosen}: stages logged {logged}"
    assert logged[: len(done_before)] == done_before  # nothing finished before was redone
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    statuses = {name: stage["status"] for name, stage in summary["stages"].items()}
    assert statuses["train"] == statuses["report"] == "done"
    assert statuses["search"] == ("done" if trials else "skipped")
    assert summary["stages"]["train"]["chose"]["epochs_run"] == 3
    assert (out / "report.html").stat().st_size > 10_000
    if chosen == "mid-training":
        started = [
            json.loads(line)
            for line in (out / "train" / "metrics.jsonl").read_text().splitlines()
            if '"run_started"' in line
        ]
        assert [s["resumed_from_epoch"] > 0 for s in started] == [False, True]

"""Two CPU processes (gloo) training one tiny model through torchrun, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from smart_tuner.config import dump_config
from smart_tuner.events import read_records
from smart_tuner.synthesize import load_model
from tests.helpers import make_corpus, tiny_config

HERE = Path(__file__).parent
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}


def torchrun(n: int, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={n}", *args,
    ]  # fmt: skip


def train(corpus: Path, config: Path, out: str, *extra: str) -> list[str]:
    return [
        "-m", "smart_tuner", "train", str(corpus), "--out", out, "--config", str(config),
        "--no-track", *extra,
    ]  # fmt: skip


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def epoch_records(run_dir: Path) -> list[dict]:
    if not (run_dir / "metrics.jsonl").exists():
        return []
    return [r for r in read_records(run_dir / "metrics.jsonl") if r.get("event") == "epoch_ended"]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    corpus = make_corpus(tmp_path / "corpus", n=16)
    config = tmp_path / "tiny.yaml"
    data = yaml.safe_load(dump_config(tiny_config(tmp_path / "cache", audio_sample_minutes=0.0)))
    data["analysis"]["sampling"].update(dnsmos_max_seconds=0, asr_max_utterances=0)
    config.write_text(yaml.safe_dump(data))
    return corpus, config


def test_two_processes_train_like_one_and_a_one_process_resume_continues(setup, tmp_path):
    corpus, config = setup
    two = run(torchrun(2, *train(corpus, config, "two", "--epochs", "2")), tmp_path)
    run([sys.executable, *train(corpus, config, "one", "--epochs", "2")], tmp_path)
    assert "batch_size 4 is global (2 items per process per step)" in " ".join(two.stdout.split())

    pair, single = epoch_records(tmp_path / "two"), epoch_records(tmp_path / "one")
    assert [r["epoch"] for r in pair] == [1, 2]
    for a, b in zip(pair, single, strict=True):  # the same curve, not the same numbers
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.1)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=0.2)
    assert pair[1]["train_loss"] < pair[0]["train_loss"]
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["processes"] == 2
    assert not list((tmp_path / "two").glob("rank*"))  # rank 1 wrote nothing of its own

    loaded = load_model(tmp_path / "two" / "checkpoints" / "last.pt", device="cpu")
    assert loaded.epoch == 2  # no DistributedDataParallel "module." prefix in the weights

    run([sys.executable, *train(corpus, config, "two", "--epochs", "3", "--resume")], tmp_path)
    assert [r["epoch"] for r in epoch_records(tmp_path / "two")] == [1, 2, 3]
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["processes"] == 1


def test_rank_0s_decisions_are_applied_on_every_rank(setup, tmp_path):
    corpus, config = setup
    script = str(HERE / "inject_decisions.py")
    run(torchrun(2, script, str(config), str(corpus), str(tmp_path / "run")), tmp_path)
    ranks = [json.loads((tmp_path / "run" / f"rank{r}.json").read_text()) for r in (0, 1)]
    for seen in ranks:
        assert seen["epochs"] == 3
        assert seen["lr_factor"] == 0.5  # the halved learning rate, decided on rank 0
        assert seen["after_rollback"] == seen["epoch1"]  # the epoch-1 weights, on both
        assert seen["final"] != seen["after_rollback"]  # and training went on from there
    assert ranks[0]["final"] == ranks[1]["final"]
    assert ranks[0]["lr"] == ranks[1]["lr"]


def test_a_killed_rank_ends_the_other_with_a_message_and_resume_continues(setup, tmp_path):
    corpus, config = setup
    argv = [sys.executable, *train(corpus, config, "run", "--epochs", "300", "--nproc", "2")]
    launcher = subprocess.Popen(
        argv, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 240  # guards against a hang only
    while not (tmp_path / "run" / "checkpoints" / "last.pt").exists():
        assert launcher.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    workers = [
        p
        for p in psutil.Process(launcher.pid).children(recursive=True)
        if "smart_tuner" in p.cmdline() and "torch.distributed.run" not in p.cmdline()
    ]
    rank1 = next(p for p in workers if p.environ().get("RANK") == "1")
    rank1.send_signal(signal.SIGKILL)
    out, _ = launcher.communicate(timeout=180)
    said = " ".join(out.split())
    assert launcher.returncode == 1, said[-3000:]
    # Rank 0 either meets the dead peer in a collective ("lost the others") or is stopped
    # by torchrun first (it then saves a checkpoint); torchrun's ending names the dead rank.
    assert "rank 1 (pid" in said and "signal SIGKILL" in said and "--resume" in said
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)

    resume = train(corpus, config, "run", "--epochs", "1", "--resume")
    done = run([sys.executable, *resume], tmp_path)
    assert "Resuming" in done.stdout


def test_ctrl_c_saves_a_checkpoint_exits_130_and_two_processes_resume(setup, tmp_path):
    corpus, config = setup
    argv = [sys.executable, *train(corpus, config, "run", "--epochs", "300", "--nproc", "2")]
    launcher = subprocess.Popen(
        argv, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )  # fmt: skip
    deadline = time.monotonic() + 240  # guards against a hang only
    while not epoch_records(tmp_path / "run"):
        assert launcher.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C reaches every process of the group
    out, _ = launcher.communicate(timeout=180)
    said = " ".join(out.split())
    assert launcher.returncode == 130, said[-3000:]
    assert "continue with --resume" in said and "Traceback" not in said
    done_epochs = [r["epoch"] for r in epoch_records(tmp_path / "run")]

    target = str(done_epochs[-1] + 1)
    resume = train(corpus, config, "run", "--epochs", target, "--resume", "--nproc", "2")
    run([sys.executable, *resume], tmp_path)
    assert [r["epoch"] for r in epoch_records(tmp_path / "run")] == list(range(1, int(target) + 1))

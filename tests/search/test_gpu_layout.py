"""`optimize --gpus N`: N local workers, worker i (and its trials) on GPU i only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from smart_tuner.search.worker import start_workers


def test_each_worker_sees_only_its_own_gpu(make_spec):
    spec = replace(make_spec(n_trials=1, name="gpus"), gpus=2)
    workers = start_workers(spec, 2)
    for w in workers:
        w.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    logs = {i: (Path(spec.study_dir) / f"worker-{i}.log").read_text() for i in (0, 1)}
    assert "worker 0 trains on GPU 0" in logs[0]
    assert "worker 1 trains on GPU 1" in logs[1]

"""smart_tuner.log rotates; system metrics report RAM, and GPU memory when CUDA is in use."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from synthetic_run import emit_all, run_events, tracking_config

from smart_tuner.events import EventBus
from smart_tuner.track import attach_trackers
from smart_tuner.track._util import system_metrics


def test_the_log_file_rotates_and_keeps_the_configured_backups(tmp_path):
    config = tracking_config(
        tmp_path,
        **{
            "tracking.log_file.max_bytes": 2048,
            "tracking.log_file.backup_count": 2,
            "tracking.tensorboard.enabled": False,
            "tracking.history.enabled": False,
        },
    )
    bus = EventBus()
    (log_file,) = attach_trackers(bus, tmp_path / "run", config)
    decisions = {e: ("set_lr", f"reason {e}") for e in range(5, 40, 5)}
    emit_all(bus, run_events(tmp_path / "run", range(1, 40), decisions=decisions))
    names = sorted(p.name for p in tmp_path.glob("smart_tuner.log*"))
    assert names == ["smart_tuner.log", "smart_tuner.log.1", "smart_tuner.log.2"]
    assert all(p.stat().st_size <= 2048 for p in tmp_path.glob("smart_tuner.log*"))
    assert "run finished" in (tmp_path / "smart_tuner.log").read_text()
    # The run's end closed the file: an open FileHandler (opened at once, no `delay`) always
    # holds a stream, and only close() sets it back to None.
    assert log_file.handler.stream is None


def test_system_metrics_hold_ram_throughput_and_gpu_memory(monkeypatch):
    values = system_metrics({"train_items": 80}, {"train_seconds": 4.0})
    assert values["system/ram_rss_mb"] > 10
    assert values["system/samples_per_second"] == 20.0
    torch = sys.modules.get("torch")
    cuda_in_use = torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized()
    assert any("gpu" in k for k in values) == cuda_in_use

    mib = 2**20
    cuda = SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: True,
        memory_allocated=lambda: 100 * mib,
        memory_reserved=lambda: 200 * mib,
        max_memory_allocated=lambda: 150 * mib,
    )
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    values = system_metrics({}, {})
    assert values["system/gpu_memory_allocated_mb"] == 100
    assert values["system/gpu_memory_reserved_mb"] == 200
    assert values["system/gpu_max_memory_allocated_mb"] == 150

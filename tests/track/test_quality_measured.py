"""QualityMeasured (the in-training synthesis scores) reaches every tracker."""

from __future__ import annotations

from mlflow.tracking import MlflowClient
from synthetic_run import emit_all, run_events, tracking_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from smart_tuner.events import EventBus, JsonlWriter, QualityMeasured, read_records
from smart_tuner.track import attach_trackers


def test_quality_measurements_are_logged_by_every_tracker(tmp_path, mlflow_uri):
    run_dir = tmp_path / "runs" / "train-q"
    run_dir.mkdir(parents=True)
    bus = EventBus()
    bus.subscribe(JsonlWriter(run_dir / "metrics.jsonl"))
    attach_trackers(bus, run_dir, tracking_config(tmp_path, mlflow_uri))
    events = run_events(run_dir, range(1, 6))
    quality = {
        2: {"mel_quality": 9.5, "audio_naturalness": 2.1, "quality_stopped": 0.5},
        5: {"mel_quality": 7.25, "audio_naturalness": 2.75, "quality_stopped": 1.0},
    }
    stream = []
    for event in events:
        stream.append(event)
        epoch = getattr(event, "epoch", None)
        if type(event).__name__ == "EpochEnded" and epoch in quality:
            stream.append(QualityMeasured(epoch, quality[epoch]))
    emit_all(bus, stream)
    assert not bus._broken

    records = read_records(run_dir / "metrics.jsonl", "quality_measured")
    assert [(r["epoch"], r["mel_quality"]) for r in records] == [(2, 9.5), (5, 7.25)]

    client = MlflowClient(mlflow_uri)
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    for key in ("mel_quality", "audio_naturalness"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        assert history == [(e, quality[e][key]) for e in (2, 5)]

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    assert [(s.step, s.value) for s in acc.Scalars("quality/mel_quality")] == [(2, 9.5), (5, 7.25)]

    log = (tmp_path / "smart_tuner.log").read_text()
    assert "epoch 5 quality: mel_quality 7.2500  audio_naturalness 2.7500" in log

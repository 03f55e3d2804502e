"""All trackers on one event stream: each sees what metrics.jsonl holds; a broken one is shed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from synthetic_run import emit_all, run_events, tracking_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from smart_tuner.events import EpochEnded, Event, EventBus, JsonlWriter, read_records
from smart_tuner.track import attach_trackers
from smart_tuner.track.history import HistoryDB

ALL = {"images": 0, "audio": 0, "scalars": 0, "tensors": 0}


def tensorboard(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance=ALL)
    acc.Reload()
    return acc


def test_every_tracker_gets_the_stream_that_metrics_jsonl_holds(tmp_path, mlflow_uri):
    run_dir = tmp_path / "runs" / "train-1"
    run_dir.mkdir(parents=True)
    config = tracking_config(tmp_path, mlflow_uri)
    bus = EventBus()
    bus.subscribe(JsonlWriter(run_dir / "metrics.jsonl"))
    seen: list[Event] = []
    bus.subscribe(seen.append)
    trackers = attach_trackers(bus, run_dir, config)
    assert [type(t).__name__ for t in trackers] == [
        "RunLogFile",
        "MlflowTracker",
        "TensorBoardTracker",
        "HistoryRecorder",
    ]
    events = run_events(
        run_dir,
        range(1, 13),
        decisions={4: ("set_lr", "grad norm 14.2 > 10.0: halve the learning rate")},
        wav_at=12,
    )
    emit_all(bus, events)
    assert not bus._broken

    stream = read_records(run_dir / "metrics.jsonl", kind=None)
    assert stream == [e.to_record() for e in seen]
    epochs = read_records(run_dir / "metrics.jsonl")
    assert [r["epoch"] for r in epochs] == list(range(1, 13))

    # MLflow: the same curves, step = epoch; params, decisions, artifacts, status.
    client = MlflowClient(mlflow_uri)
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    run = client.get_run(run_id)
    for key in ("train_loss", "val_loss", "diagonality", "gate_accuracy", "lr"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        assert history == [(r["epoch"], r[key]) for r in epochs], key
    assert "system/ram_rss_mb" in run.data.metrics
    assert run.data.metrics["system/samples_per_second"] == 40 / 2.0
    assert run.data.params["batch_size"] == "16"
    assert run.data.params["dataset_fingerprint"] == "fp-demo-en"
    assert run.data.params["config.training.batch_size"] == "16"
    assert "halve the learning rate" in run.data.tags["decision.e00004.set_lr"]
    assert run.data.tags["stop_reason"] == "epochs_completed"
    assert run.info.status == "FINISHED"
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"summary.json", "decisions.txt", "metrics.jsonl", "plots", "audio"} <= top
    assert {"checkpoints/best.pt"} == {a.path for a in client.list_artifacts(run_id, "checkpoints")}
    assert {"audio/sample_e00012.wav"} == {a.path for a in client.list_artifacts(run_id, "audio")}
    images = {a.path for a in client.list_artifacts(run_id, "images")}
    assert any(p.startswith("images/alignment+step+10+") for p in images)
    assert any(p.startswith("images/mel+step+12+") for p in images)  # the last epoch too

    # TensorBoard: the same values under grouped tags, pictures, sound, hparams.
    acc = tensorboard(run_dir)
    tags = acc.Tags()
    assert {
        "loss/train",
        "loss/val",
        "loss/val_gate",
        "alignment/attention_score",
        "alignment/diagonality",
        "alignment/gate_accuracy",
        "optim/lr",
        "optim/grad_norm",
        "system/frames_per_second",
        "system/ram_rss_mb",
        "hparams/best_val_loss",
    } <= set(tags["scalars"])
    scalars = acc.Scalars("loss/val")
    assert [s.step for s in scalars] == [r["epoch"] for r in epochs]
    assert [s.value for s in scalars] == pytest.approx([r["val_loss"] for r in epochs])  # float32
    assert {"alignment", "mel"} <= set(tags["images"])
    assert [i.step for i in acc.Images("alignment")] == [1, 10, 12]
    assert tags["audio"] == ["audio/sample"]
    assert acc.PluginTagToContent("hparams")  # hparams written into this run's own folder

    # smart_tuner.log: human-readable story with every decision and its reason.
    text = (tmp_path / "smart_tuner.log").read_text()
    assert "[train-1] run started in" in text
    assert "epoch 4 DECISION set_lr: grad norm 14.2 > 10.0: halve the learning rate" in text
    assert "run finished (epochs_completed): 12 epochs" in text
    assert "best checkpoint" in text

    # History: one row with the outcome, the profile and the MLflow link.
    (row,) = HistoryDB(tmp_path / "smart_tuner" / "history.db").runs()
    assert row["best_epoch"] == 12 and row["epochs_run"] == 12
    assert row["stop_reason"] == "epochs_completed"
    assert row["dataset_fingerprint"] == "fp-demo-en" and row["dataset_hours"] == 0.4
    assert row["table_epochs"] == 4000
    assert row["mlflow_run_id"] == run_id
    assert row["final_metrics"]["val_loss"] == epochs[-1]["val_loss"]


def test_a_raising_tracker_is_disabled_and_the_stream_goes_on(tmp_path, caplog):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bus = EventBus()
    calls = []

    class Broken:
        def __call__(self, event: Event) -> None:
            calls.append(event)
            if isinstance(event, EpochEnded):
                raise OSError("disk full")

    bus.subscribe(Broken())
    bus.subscribe(JsonlWriter(run_dir / "metrics.jsonl"))
    attach_trackers(bus, run_dir, tracking_config(tmp_path))
    with caplog.at_level(logging.WARNING, logger="smart_tuner"):
        emit_all(bus, run_events(run_dir, range(1, 4)))
    assert len(read_records(run_dir / "metrics.jsonl")) == 3
    assert sum(isinstance(e, EpochEnded) for e in calls) == 1  # disabled after its failure
    failures = [r for r in caplog.records if "disk full" in r.getMessage()]
    assert len(failures) == 1
    # the warning reached smart_tuner.log too, and the other trackers finished their work
    assert "disk full" in (tmp_path / "smart_tuner.log").read_text()
    assert len(HistoryDB(tmp_path / "smart_tuner" / "history.db").runs()) == 1


def test_a_tracker_that_cannot_start_is_left_out_with_one_warning(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config = tracking_config(
        tmp_path,
        f"sqlite:///{blocker}/mlflow.db",  # its folder cannot be created
        **{"tracking.history.path": str(blocker / "history.db")},
    )
    bus = EventBus()
    with caplog.at_level(logging.WARNING, logger="smart_tuner"):
        trackers = attach_trackers(bus, tmp_path / "run", config)
    assert [type(t).__name__ for t in trackers] == ["RunLogFile", "TensorBoardTracker"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("MLflow could not start" in m for m in messages) == 1
    assert sum("history could not start" in m for m in messages) == 1
    emit_all(bus, run_events(tmp_path / "run", range(1, 3)))
    assert not bus._broken

"""MLflow: a resumed run continues its MLflow run; restarts and trials nest under a parent."""

from __future__ import annotations

import logging

from mlflow.tracking import MlflowClient
from synthetic_run import emit_all, run_events, tracking_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from smart_tuner.events import EventBus, JsonlWriter
from smart_tuner.track import attach_trackers
from smart_tuner.track.mlflow_tracker import (
    end_parent_run,
    resolve_tracking_uri,
    start_parent_run,
)


def test_a_resumed_run_logs_into_the_same_mlflow_run_without_errors(tmp_path, mlflow_uri, caplog):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = tracking_config(tmp_path, mlflow_uri)

    bus = EventBus()
    bus.subscribe(JsonlWriter(run_dir / "metrics.jsonl"))
    attach_trackers(bus, run_dir, config)
    # killed after epoch 7, but the last checkpoint is from epoch 5
    emit_all(bus, run_events(run_dir, range(1, 8), stop_reason="interrupted"))
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    client = MlflowClient(mlflow_uri)
    assert client.get_run(run_id).info.status == "KILLED"  # interrupted

    # Resume after epoch 5 with a changed batch size and learning rate.
    config = tracking_config(tmp_path, mlflow_uri, **{"training.learning_rate": 5e-4})
    bus = EventBus()
    bus.subscribe(JsonlWriter(run_dir / "metrics.jsonl"))
    with caplog.at_level(logging.WARNING, logger="smart_tuner"):
        attach_trackers(bus, run_dir, config)
        emit_all(bus, run_events(run_dir, range(6, 11), params={"batch_size": 8}, resumed_from=5))
    assert not bus._broken
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    assert (run_dir / "mlflow_run_id").read_text().strip() == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["batch_size"] == "16"  # logged once, never changed ...
    assert run.data.tags["param_changed.batch_size"] == "16 -> 8"  # ... the change is a tag
    assert run.data.tags["param_changed.config.training.learning_rate"] == "0.001 -> 0.0005"
    assert run.data.tags["resumed_from_epoch"] == "5" and run.data.tags["resumes"] == "1"
    steps = sorted({m.step for m in client.get_metric_history(run_id, "val_loss")})
    assert steps == list(range(1, 11))  # epochs 6 and 7 twice: MLflow keeps both values
    experiment = client.get_experiment(run.info.experiment_id)
    assert len(client.search_runs([experiment.experiment_id], f"run_name = '{run_dir.name}'")) >= 1

    # TensorBoard dropped the epochs after the checkpoint (purge_step): each epoch once.
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    assert [s.step for s in acc.Scalars("loss/val")] == list(range(1, 11))


def test_restarts_are_nested_children_of_one_parent_run(tmp_path, mlflow_uri):
    config = tracking_config(tmp_path, mlflow_uri)
    root = tmp_path / "runs" / "train-2"
    parent = start_parent_run(config, root)
    assert parent is not None
    assert start_parent_run(config, root) == parent  # re-opened, not duplicated
    children = []
    for attempt in (1, 2):
        run_dir = root / f"attempt-{attempt}"
        run_dir.mkdir(parents=True)
        bus = EventBus()
        attach_trackers(
            bus, run_dir, config, parent_run_id=parent, nested_name=f"restart-{attempt}"
        )
        emit_all(bus, run_events(run_dir, range(1, 4), seed=attempt))
        children.append((run_dir / "mlflow_run_id").read_text().strip())
    end_parent_run(config, parent)

    client = MlflowClient(mlflow_uri)
    parent_run = client.get_run(parent)
    assert parent_run.info.status == "FINISHED"
    found = client.search_runs(
        [parent_run.info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'"
    )
    assert sorted(r.info.run_id for r in found) == sorted(children)
    assert sorted(r.info.run_name for r in found) == ["restart-1", "restart-2"]
    # the same parameters in both children never clash: each child has its own params
    assert all(r.data.params["batch_size"] == "16" for r in found)


def test_the_tracking_uri_comes_from_config_then_environment_then_local_sqlite(
    tmp_path, monkeypatch
):
    config = tracking_config(tmp_path)
    assert resolve_tracking_uri(config.tracking.mlflow) == (
        f"sqlite:///{(tmp_path / 'smart_tuner' / 'mlflow.db').resolve()}"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_tracking_uri(config.tracking.mlflow) == "http://127.0.0.1:5999"
    config = tracking_config(tmp_path, "sqlite:///x.db")
    assert resolve_tracking_uri(config.tracking.mlflow) == "sqlite:///x.db"

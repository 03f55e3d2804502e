"""MLflow tracker (S17): one MLflow run per run folder, re-opened on resume.

* The run id lives in RUN_DIR/mlflow_run_id, so `--resume` logs into the same MLflow run.
* Trials and restarts are nested runs: pass the parent's id (see `start_parent_run`).
* Parameters are logged once. On resume, a parameter whose value changed is not logged again
  (MLflow forbids that: "Changing param values is not allowed"); it becomes a tag
  `param_changed.<key>` = "old -> new", so the history of the change stays visible.
* Per-epoch metrics use step = epoch; system metrics (RAM, GPU memory, samples/s) too.
* Decisions become tags (`decision.e00012.set_lr` = reason) and, at the end, decisions.txt.
* Alignment/mel PNGs: `plots/<file>` is replaced every epoch; every IMAGE_EVERY epochs (and
  at epoch 1 and the end) the picture is also logged with `log_image(key, step)` so the UI can
  step through it. WAV samples go to `audio/`. At the end: summary.json, metrics.jsonl,
  decisions.txt and the best checkpoint.

The tracking URI: `tracking.mlflow.tracking_uri` when set, else $MLFLOW_TRACKING_URI, else a
SQLite file `smart_tuner/mlflow.db` in the working directory (artifacts in
`smart_tuner/mlartifacts`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from smart_tuner.config import Config, MlflowTracking
from smart_tuner.events import (
    ArtifactSaved,
    CheckpointSaved,
    DecisionMade,
    EpochEnded,
    Event,
    QualityMeasured,
    RunFinished,
    RunStarted,
    StopReason,
    read_records,
)
from smart_tuner.track._util import (
    IMAGE_EVERY,
    finite_metrics,
    flatten,
    resolve_path,
    system_metrics,
)

log = logging.getLogger("smart_tuner")

RUN_ID_FILE = "mlflow_run_id"
PARENT_TAG = "mlflow.parentRunId"
MAX_PARAM_VALUE = 500  # the smallest limit of MLflow servers still in use
MAX_TAG_VALUE = 5000
BATCH = 100  # log_batch accepts at most 100 params / tags per call
CONFIG_SECTIONS = ("training", "model", "audio", "data")  # logged as params "config.<key>"


# ---------------------------------------------------------------- where MLflow lives


def resolve_tracking_uri(cfg: MlflowTracking, workdir: Path | None = None) -> str:
    """Config value, else $MLFLOW_TRACKING_URI, else sqlite:///<workdir>/smart_tuner/mlflow.db."""
    if cfg.tracking_uri:
        return cfg.tracking_uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    path = resolve_path("smart_tuner/mlflow.db", workdir).resolve()
    return f"sqlite:///{path}"


def sqlite_path(uri: str) -> Path | None:
    """The file behind a sqlite:/// URI (None for other stores and in-memory databases)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    return Path(path) if path and path != ":memory:" else None


def default_artifact_root(cfg: MlflowTracking, uri: str, workdir: Path | None = None) -> str | None:
    """Where new experiments keep artifacts: config value, else beside a local SQLite file.

    None lets the store decide (a file store or a tracking server knows its own place).
    """
    if cfg.artifact_root:
        if urlparse(cfg.artifact_root).scheme in ("", "file"):
            return str(resolve_path(cfg.artifact_root.removeprefix("file://"), workdir).resolve())
        return cfg.artifact_root
    db = sqlite_path(uri)
    return str((db.parent / "mlartifacts").resolve()) if db is not None else None


def make_client(cfg: MlflowTracking, workdir: Path | None = None) -> tuple[Any, str]:
    """An MlflowClient for the configured store (the SQLite folder is created if needed)."""
    uri = resolve_tracking_uri(cfg, workdir)
    db = sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith(("http://", "https://")):
        # A server that is down must not stall training for minutes of retries.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri), uri


def get_or_create_experiment(client: Any, name: str, artifact_root: str | None) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_root)
        except MlflowException:  # created meanwhile by another process
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def open_run(
    client: Any,
    experiment_id: str,
    run_dir: Path,
    *,
    run_name: str,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[str, bool]:
    """(run id, reopened): the run recorded in RUN_DIR/mlflow_run_id if the store has it, else
    a new run (nested under `parent_run_id` when given) whose id is written there."""
    id_file = run_dir / RUN_ID_FILE
    if id_file.exists():
        run_id = id_file.read_text(encoding="utf-8").strip()
        try:
            run = client.get_run(run_id)
        except Exception:
            log.info(
                "MLflow run %s of %s not found in this store; starting a new one", run_id, run_dir
            )
        else:
            if run.info.lifecycle_stage != "deleted":
                client.update_run(run_id, status="RUNNING")
                return run_id, True
    all_tags = {"smart_tuner.run_dir": str(run_dir.resolve()), **(tags or {})}
    if parent_run_id:
        all_tags[PARENT_TAG] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = id_file.with_name(id_file.name + ".tmp")
    tmp.write_text(run.info.run_id + "\n", encoding="utf-8")
    os.replace(tmp, id_file)
    return run.info.run_id, False


def start_parent_run(config: Config, run_dir: Path, *, name: str | None = None) -> str | None:
    """Open (or re-open) the parent run of one `train` / `auto` / `optimize` command.

    Its id is kept in RUN_DIR/mlflow_run_id like any run; pass it to `attach_trackers(...,
    parent_run_id=...)` for each trial or restart. None (with a warning) when MLflow is off or
    unreachable: the children are then plain runs.
    """
    cfg = config.tracking.mlflow
    if not cfg.enabled:
        return None
    try:
        client, uri = make_client(cfg)
        experiment_id = get_or_create_experiment(
            client, cfg.experiment_name, default_artifact_root(cfg, uri)
        )
        run_id, _ = open_run(
            client,
            experiment_id,
            Path(run_dir),
            run_name=name or Path(run_dir).name,
            tags={"smart_tuner.role": "parent"},
        )
        return run_id
    except Exception as exc:
        log.warning("MLflow parent run could not be opened (MLflow off for it): %s", exc)
        return None


def end_parent_run(config: Config, run_id: str | None, status: str = "FINISHED") -> None:
    """Mark a parent run FINISHED (or KILLED / FAILED); errors only warn."""
    if not run_id:
        return
    try:
        client, _ = make_client(config.tracking.mlflow)
        client.set_terminated(run_id, status=status)
    except Exception as exc:
        log.warning("MLflow parent run %s could not be closed: %s", run_id, exc)


# ---------------------------------------------------------------- the listener


class MlflowTracker:
    """Listener: mirrors one run folder's event stream into one MLflow run."""

    __name__ = "mlflow"

    def __init__(
        self,
        run_dir: Path,
        config: Config,
        *,
        parent_run_id: str | None = None,
        nested_name: str | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.cfg = config.tracking.mlflow
        self.client, self.tracking_uri = make_client(self.cfg)
        self.experiment_id = get_or_create_experiment(
            self.client,
            self.cfg.experiment_name,
            default_artifact_root(self.cfg, self.tracking_uri),
        )
        tags = {"smart_tuner.role": "child" if parent_run_id else "run"}
        if nested_name:
            tags["smart_tuner.nested_name"] = nested_name
        self.run_id, self.reopened = open_run(
            self.client,
            self.experiment_id,
            self.run_dir,
            run_name=nested_name or self.run_dir.name,
            parent_run_id=parent_run_id,
            tags=tags,
        )
        self.params: dict[str, Any] = {}
        self.best_checkpoint: str | None = None
        self.last_images: dict[str, tuple[int, str]] = {}  # artifact -> (epoch, path)
        self.finished = False

    # -------------------------------------------------------------- dispatch

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, EpochEnded):
            self._epoch_ended(event)
        elif isinstance(event, DecisionMade):
            self._decision(event)
        elif isinstance(event, CheckpointSaved):
            if event.is_best:
                self.best_checkpoint = event.path
                self.client.set_tag(self.run_id, "best_epoch", str(event.epoch))
        elif isinstance(event, ArtifactSaved):
            self._artifact(event)
        elif isinstance(event, QualityMeasured):
            self._quality(event)
        elif isinstance(event, RunFinished):
            self._run_finished(event)

    def _run_started(self, event: RunStarted) -> None:
        from mlflow.entities import Param, RunTag

        self.params = dict(event.params)
        wanted = {k: _clip(v, MAX_PARAM_VALUE) for k, v in flatten(event.params).items()}
        config = self.config.model_dump(mode="json")
        for section in CONFIG_SECTIONS:
            for key, value in flatten(config.get(section, {}), f"config.{section}.").items():
                wanted[key] = _clip(value, MAX_PARAM_VALUE)
        logged = self.client.get_run(self.run_id).data.params
        new = {k: v for k, v in wanted.items() if k not in logged}
        changed = {k: v for k, v in wanted.items() if k in logged and logged[k] != v}
        tags = {
            f"param_changed.{k}": _clip(f"{logged[k]} -> {v}", MAX_TAG_VALUE)
            for k, v in changed.items()
        }
        tags["resumed_from_epoch"] = str(event.resumed_from_epoch)
        if event.resumed_from_epoch:
            tags["resumes"] = str(int(self._tag("resumes") or 0) + 1)
        param_items = [Param(k, v) for k, v in new.items()]
        tag_items = [RunTag(k, v) for k, v in tags.items()]
        for i in range(0, max(len(param_items), len(tag_items)), BATCH):
            self.client.log_batch(
                self.run_id, params=param_items[i : i + BATCH], tags=tag_items[i : i + BATCH]
            )
        config_file = self.run_dir / "config.yaml"
        if config_file.exists():
            self.client.log_artifact(self.run_id, str(config_file))

    def _epoch_ended(self, event: EpochEnded) -> None:
        from mlflow.entities import Metric

        values = finite_metrics(event.metrics)
        if self.cfg.system_metrics:
            values.update(system_metrics(self.params, values))
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, event.epoch) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def _quality(self, event: QualityMeasured) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = finite_metrics(event.metrics)
        metrics = [Metric(k, v, now, event.epoch) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def _decision(self, event: DecisionMade) -> None:
        text = event.reason + (f" {json.dumps(event.params, default=str)}" if event.params else "")
        self.client.set_tag(
            self.run_id, f"decision.e{event.epoch:05d}.{event.action}", _clip(text, MAX_TAG_VALUE)
        )
        self.client.set_tag(
            self.run_id,
            "last_decision",
            _clip(f"epoch {event.epoch} {event.action}: {event.reason}", MAX_TAG_VALUE),
        )

    def _artifact(self, event: ArtifactSaved) -> None:
        path = Path(event.path)
        if not path.exists():
            return
        suffix = path.suffix.lower()
        if suffix == ".png":
            self.client.log_artifact(self.run_id, str(path), "plots")
            self.last_images[event.artifact] = (event.epoch, str(path))
            if event.epoch == 1 or event.epoch % IMAGE_EVERY == 0:
                self._log_image(event.artifact, event.epoch, path)
                self.last_images.pop(event.artifact)
        else:  # audio samples and anything else: keep every one, named by epoch
            self._log_renamed(path, "audio" if suffix == ".wav" else "files", event)

    def _log_image(self, key: str, epoch: int, path: Path) -> None:
        from PIL import Image

        with Image.open(path) as image:
            self.client.log_image(self.run_id, image.convert("RGB"), key=key, step=epoch)

    def _log_renamed(self, path: Path, folder: str, event: ArtifactSaved) -> None:
        name = f"{event.artifact}_e{event.epoch:05d}{path.suffix}"
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / name
            shutil.copyfile(path, copy)
            self.client.log_artifact(self.run_id, str(copy), folder)

    def _run_finished(self, event: RunFinished) -> None:
        from mlflow.entities import Metric, RunTag

        summary = event.summary
        for key, (epoch, path) in self.last_images.items():
            if Path(path).exists():
                self._log_image(key, epoch, Path(path))
        self.last_images.clear()
        step = int(summary.get("epochs_run") or 0)
        now = int(time.time() * 1000)
        final = finite_metrics(
            {
                k: summary.get(k)
                for k in ("best_val_loss", "final_val_loss", "best_epoch", "epochs_run")
            }
            | {"wall_seconds": summary.get("wall_seconds")}
        )
        tags = {
            "stop_reason": str(summary.get("stop_reason")),
            "best_epoch": str(summary.get("best_epoch")),
        }
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(f"final/{k}", v, now, step) for k, v in final.items()],
            tags=[RunTag(k, _clip(v, MAX_TAG_VALUE)) for k, v in tags.items()],
        )
        self.client.log_dict(self.run_id, summary, "summary.json")
        stream = self.run_dir / "metrics.jsonl"
        decisions = read_records(stream, "decision")
        if decisions:
            lines = [
                f"epoch {d.get('epoch')}: {d.get('action')}: {d.get('reason')}" for d in decisions
            ]
            self.client.log_text(self.run_id, "\n".join(lines) + "\n", "decisions.txt")
        if stream.exists():
            self.client.log_artifact(self.run_id, str(stream))
        if self.cfg.log_best_checkpoint:
            best = self._best_checkpoint_path(summary)
            if best is not None:
                self.client.log_artifact(self.run_id, str(best), "checkpoints")
        status = "KILLED" if summary.get("stop_reason") == StopReason.INTERRUPTED else "FINISHED"
        self.client.set_terminated(self.run_id, status=status)
        self.finished = True

    def _best_checkpoint_path(self, summary: dict[str, Any]) -> Path | None:
        candidates = [self.best_checkpoint, self.run_dir / "checkpoints" / "best.pt"]
        if summary.get("checkpoint"):
            candidates.append(summary["checkpoint"])
        for candidate in candidates:
            if candidate and Path(candidate).is_file():
                return Path(candidate)
        return None

    def _tag(self, key: str) -> str | None:
        return self.client.get_run(self.run_id).data.tags.get(key)

    def close(self) -> None:
        """A run that never saw RunFinished (crash, tracker disabled) is marked KILLED."""
        if self.finished:
            return
        self.finished = True
        try:
            self.client.set_terminated(self.run_id, status="KILLED")
        except Exception as exc:
            log.warning("MLflow run %s could not be closed: %s", self.run_id, exc)


def _clip(value: Any, limit: int) -> str:
    text = "None" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

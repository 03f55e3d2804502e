"""What a finished study leaves behind, in its folder and in its MLflow parent run:

* best_config.yaml: the base config with the best trial's parameters (the lowest value among
  trials whose attention formed: `selection`), ready for
  `smart-tuner train --config best_config.yaml` (epochs stay with the recommendation);
* importances.json: how much each parameter mattered (Optuna's fANOVA);
* optimization_history.png, param_importances.png: Optuna's matplotlib plots;
* trials.json: every trial with its state, value and reason; study.json: the same with the
  best parameters and importances (what the HTML report reads).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from smart_tuner.config import Config, dump_config
from smart_tuner.search.selection import choose_best
from smart_tuner.search.space import SearchSpace
from smart_tuner.search.study import study_objective
from smart_tuner.search.table import why

log = logging.getLogger("smart_tuner")


@dataclass
class StudyOutput:
    best_config: Path | None = None
    objective: str = "val_loss"
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_trial: int | None = None
    passed_over: tuple[int, ...] = ()  # lower values whose attention never formed (`selection`)
    importances: dict[str, float] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_outputs(study: optuna.Study, base: Config, study_dir: Path) -> StudyOutput:
    study_dir.mkdir(parents=True, exist_ok=True)
    out = StudyOutput(objective=study_objective(study))
    out.files.append(_write_trials(study, study_dir / "trials.json"))
    _fill(out, study, base, study_dir)
    summary = {
        "study_name": study.study_name,
        "trials": json.loads((study_dir / "trials.json").read_text(encoding="utf-8")),
        "objective": out.objective,
        "best_trial": out.best_trial,
        "best_value": out.best_value,
        "best_params": out.best_params,
        "importances": out.importances,
        "notes": out.notes,
    }
    (study_dir / "study.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    out.files.append(study_dir / "study.json")
    return out


def _fill(out: StudyOutput, study: optuna.Study, base: Config, study_dir: Path) -> None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    choice = choose_best(complete, base.search.min_attention_score)
    if choice.best is None:
        out.notes.append("no trial completed: no best configuration to write")
        return
    best = choice.best
    if choice.note:
        out.notes.append(choice.note)
    out.passed_over = choice.passed_over
    out.best_value, out.best_params, out.best_trial = best.value, dict(best.params), best.number
    space = SearchSpace.from_config(base)
    config = space.apply(base, best.params)
    header = (
        f"# Best parameters of study {study.study_name}: trial {best.number}, "
        f"{out.objective} {best.value:.4f} after {best.user_attrs.get('epochs', '?')} epochs.\n"
        f"# Train with: smart-tuner train DATASET --config {study_dir / 'best_config.yaml'}\n"
    )
    out.best_config = study_dir / "best_config.yaml"
    out.best_config.write_text(header + dump_config(config), encoding="utf-8")
    out.files.append(out.best_config)
    if len(complete) >= 2:
        try:
            out.importances = {
                k: float(v) for k, v in optuna.importance.get_param_importances(study).items()
            }
        except (RuntimeError, ValueError) as exc:
            out.notes.append(f"no parameter importances: {exc}")
    else:
        out.notes.append("parameter importances need at least 2 completed trials")
    imp_path = study_dir / "importances.json"
    imp_path.write_text(json.dumps(out.importances, indent=2), encoding="utf-8")
    out.files.append(imp_path)
    out.files += _plots(study, study_dir, with_importances=bool(out.importances))


def _write_trials(study: optuna.Study, path: Path) -> Path:
    trials = study.get_trials(deepcopy=False)
    from smart_tuner.search.budget import retried_numbers

    retried = retried_numbers(trials)
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "epochs": t.user_attrs.get("epochs"),
            "why": why(t, retried),
            "pruned_reason": t.user_attrs.get("pruned_reason"),
            "fail_reason": t.user_attrs.get("fail_reason"),
            "run_dir": t.user_attrs.get("run_dir"),
        }
        for t in trials
    ]
    path.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return path


def _plots(study: optuna.Study, study_dir: Path, with_importances: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    made = []
    plots = [("optimization_history.png", ovm.plot_optimization_history)]
    if with_importances:
        plots.append(("param_importances.png", ovm.plot_param_importances))
    for name, plot in plots:
        try:
            axes = plot(study)
            figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
            figure.set_size_inches(9, 5)
            figure.tight_layout()
            figure.savefig(study_dir / name, dpi=100)
            plt.close(figure)
            made.append(study_dir / name)
        except Exception as exc:  # a picture must never fail a finished study
            log.warning("plot %s failed: %s", name, exc)
    return made


def log_to_mlflow(config: Config, parent_run_id: str | None, out: StudyOutput) -> bool:
    """The study's results on its MLflow parent run (the trials are its nested runs)."""
    if not parent_run_id:
        return False
    try:
        from smart_tuner.track.mlflow_tracker import make_client

        client, _ = make_client(config.tracking.mlflow)
        for key, value in out.best_params.items():
            client.log_param(parent_run_id, f"best.{key}", value)
        if out.best_value is not None:
            client.log_metric(parent_run_id, f"best_{out.objective}", out.best_value)
        for key, value in out.importances.items():
            client.log_metric(parent_run_id, f"importance.{key}", value)
        for path in out.files:
            client.log_artifact(parent_run_id, str(path), artifact_path="study")
    except Exception as exc:
        log.warning("MLflow: the study's results were not logged: %s", exc)
        return False
    return True

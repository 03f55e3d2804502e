"""Replay: run the controller over a recorded metrics.jsonl and show what it would decide.

So a user can tune thresholds on past runs without training again (`smart-tuner replay RUN_DIR
[--config FILE]`). A run trained under this controller replays exactly: the controller is a pure
function of the records (and of `elapsed_seconds`, which the loop writes into each record).
A run trained without it replays up to its first corrective action; after that the recorded
metrics show a run that did not take that action, which the output says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from smart_tuner.config import Config, load_config
from smart_tuner.control.controller import TrainingController
from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.plan import TrainingPlan
from smart_tuner.events import read_records

Replayed = list[tuple[int, Decision]]
CORRECTIVE = {
    Action.SET_LR,
    Action.LR_RESTART,
    Action.RESET_ATTENTION,
    Action.RESET_OPTIMIZER,
    Action.ROLLBACK,
    Action.SET_BATCH_SIZE,
    Action.RESTART,
}


def epoch_records(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-epoch records, one per epoch (the latest wins), in epoch order."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.get("event", "epoch_ended") == "epoch_ended" and "epoch" in event:
            by_epoch[int(event["epoch"])] = dict(event)
    return [by_epoch[e] for e in sorted(by_epoch)]


def quality_measurements(events: Iterable[Mapping[str, Any]]) -> list[tuple[int, float]]:
    """(epoch, mel_quality) of the run's quality_measured events, in epoch order."""
    found = {
        int(e["epoch"]): float(e["mel_quality"])
        for e in events
        if e.get("event") == "quality_measured" and e.get("mel_quality") is not None
    }
    return sorted(found.items())


def infer_plan(events: Iterable[Mapping[str, Any]], config: Config) -> TrainingPlan:
    """The plan of a recorded run: run_started's `plan` if the loop wrote one, else its
    planned_epochs / learning_rate / batch_size, else the config."""
    events = list(events)
    started = next((e for e in events if e.get("event") == "run_started"), None)
    params = dict(started.get("params") or {}) if started else {}
    if isinstance(params.get("plan"), dict):
        return TrainingPlan.from_dict(params["plan"])
    records = epoch_records(events)
    batch = params.get("batch_size")
    if batch is None and records and records[0].get("batch_size") is not None:
        batch = int(records[0]["batch_size"])
    epochs = params.get("planned_epochs")
    if epochs is None and config.training.epochs is None and records:
        epochs = max(int(r["epoch"]) for r in records)
    return TrainingPlan.from_config(
        config,
        max_epochs=int(epochs) if epochs else None,
        learning_rate=params.get("learning_rate"),
        batch_size=int(batch) if batch else None,
    )


def replay_controller(
    records: Iterable[Mapping[str, Any]], config: Config, plan: TrainingPlan | None = None
) -> tuple[TrainingController, Replayed]:
    """Feed the records through a fresh controller until it stops; the controller and what it
    decided (CONTINUE left out)."""
    events = list(records)
    controller = TrainingController(config, plan or infer_plan(events, config))
    decided: Replayed = []
    elapsed = 0.0
    measured = quality_measurements(events)
    for record in epoch_records(events):
        if record.get("elapsed_seconds") is not None:
            elapsed = float(record["elapsed_seconds"])
        else:
            elapsed += float(record.get("epoch_seconds") or 0.0)
        epoch = int(record["epoch"])
        while measured and measured[0][0] < epoch:  # as live: measured between two epochs
            controller.observe_quality(*measured.pop(0))
        for decision in controller.observe(record, elapsed):
            if decision.action is not Action.CONTINUE:
                decided.append((epoch, decision))
        if controller.stopped:
            break
    return controller, decided


def replay(
    records: list[dict[str, Any]], config: Config, plan: TrainingPlan | None = None
) -> Replayed:
    """(epoch, decision) for every decision a fresh controller takes on these records."""
    return replay_controller(records, config, plan)[1]


def format_replay(
    decisions: Replayed,
    controller: TrainingController | None = None,
    recorded: list[Mapping[str, Any]] | None = None,
    title: str = "Replay",
) -> str:
    """A readable table of the decisions, the outcome, the forecast, and how it compares with
    what the recorded run did (`recorded` = its `decision` events)."""
    lines = [title]
    if controller is not None:
        p = controller.plan
        budget = f", budget {p.max_minutes:g} min" if p.max_minutes else ""
        lines.append(
            f"plan: {p.max_epochs} epochs, learning rate {p.learning_rate:g}, batch {p.batch_size} "
            f"({p.min_batch_size}-{p.max_batch_size}){budget}"
        )
    lines.append(f"{'epoch':>6}  {'action':<16} reason")
    for epoch, d in decisions:
        lines.append(f"{epoch:>6}  {str(d.action):<16} {d.reason}")
    reports = [d for _, d in decisions if d.action is Action.REPORT]
    if reports:
        lines += ["", "Last progress analysis:", str(reports[-1].params.get("text", ""))]
    if controller is not None:
        lines += ["", *_outcome(controller)]
    if recorded is not None:
        lines += ["", *_comparison(decisions, recorded)]
    return "\n".join(lines)


def _outcome(controller: TrainingController) -> list[str]:
    summary = controller.summary_fields()
    info = summary["controller"]
    outcome = info["outcome"]
    lines = []
    if outcome["stop_reason"]:
        lines.append(
            f"Result: stop at epoch {outcome['stop_epoch']} ({outcome['stop_reason']}); "
            f"{summary['epochs_saved']} of {info['plan']['max_epochs']} planned epochs saved; "
            f"best val_loss {_fmt(outcome['best_val_loss'])} at epoch {outcome['best_epoch']}."
        )
    else:
        lines.append(
            "Result: the records ended before the controller stopped the run "
            f"(best val_loss {_fmt(outcome['best_val_loss'])} at epoch {outcome['best_epoch']})."
        )
    forecast = info["prediction"]
    if forecast:
        lines.append(
            f"Forecast made at epoch {forecast['epoch']}: stop at ~epoch "
            f"{forecast['predicted_stop_epoch']}, val_loss ≈ "
            f"{_fmt(forecast['predicted_final_val_loss'])} ({forecast['fit']['model']} fit)."
        )
    counts = ", ".join(
        f"{k.replace('_', ' ')} {info[k]}"
        for k in ("restarts", "lr_restarts", "attention_resets", "rollbacks", "lr_reductions")
        if info[k]
    )
    if counts:
        lines.append(f"Corrective actions: {counts}.")
    return lines


def _comparison(decisions: Replayed, recorded: list[Mapping[str, Any]]) -> list[str]:
    ours = [(e, str(d.action), d.reason) for e, d in decisions]
    theirs = [(int(r["epoch"]), str(r["action"]), str(r["reason"])) for r in recorded]
    if ours == theirs:
        return [f"The recorded run took the same {len(theirs)} decisions."]
    lines = [f"The recorded run took {len(theirs)} decisions, this replay {len(ours)}."]
    for k, (mine, its) in enumerate(zip(ours, theirs, strict=False)):
        if mine != its:
            lines.append(f"First difference (decision {k + 1}):")
            lines.append(f"  recorded: epoch {its[0]} {its[1]}: {its[2]}")
            lines.append(f"  replay:   epoch {mine[0]} {mine[1]}: {mine[2]}")
            break
    changes_run = [d for _, d in decisions if d.action in CORRECTIVE]
    if changes_run and ours[: len(theirs)] != theirs:
        lines.append(
            "Note: after this replay's first corrective action the recorded metrics come from a "
            "run that did not take it, so later decisions are indicative only."
        )
    stops = [r for r in recorded if r.get("action") == "stop"]
    if stops:
        lines.append(
            f"The recorded run stopped at epoch {stops[-1]['epoch']}: {stops[-1]['reason']}."
        )
    return lines


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def replay_run(run_dir: Path, config_path: Path | None = None) -> str:
    """`smart-tuner replay RUN_DIR [--config FILE]`: the controller's decisions on a recorded
    run. Thresholds come from FILE when given, else from the run's own config.yaml."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(f"{metrics}: no metrics.jsonl, is {run_dir} a run folder?")
    own = run_dir / "config.yaml"
    config = load_config(config_path if config_path else own if own.is_file() else None)
    events = read_records(metrics, kind=None)
    records = epoch_records(events)
    if not records:
        return f"{metrics}: no epoch records to replay."
    plan = infer_plan(events, config)
    controller, decisions = replay_controller(events, config, plan)
    recorded = [e for e in events if e.get("event") == "decision"]
    source = f"config {config_path}" if config_path else f"the run's {own.name}"
    title = f"Replay of {run_dir} ({len(records)} epochs recorded) with {source}"
    return format_replay(decisions, controller, recorded, title)

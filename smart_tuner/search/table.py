"""The live table of a study's trials: state, value, epochs, parameters, and why it ended."""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from smart_tuner.search.budget import retried_numbers

STATE_STYLE = {
    "COMPLETE": "green",
    "PRUNED": "yellow",
    "FAIL": "red",
    "RUNNING": "cyan",
    "WAITING": "magenta",
}
SHORT = {
    "learning_rate": "lr",
    "batch_size": "batch",
    "guided_attention_weight": "ga",
    "p_attention_dropout": "att_drop",
    "p_decoder_dropout": "dec_drop",
    "weight_decay": "wd",
    "grad_clip_thresh": "clip",
    "n_frames_per_step": "r",
}


def why(trial: FrozenTrial, retried: set[int]) -> str:
    """The trial's story in a few words: its pruning / failure reason, retry, warm start."""
    attrs = trial.user_attrs
    notes = []
    if attrs.get("warm_start"):
        notes.append(f"warm start: {attrs['warm_start']}")
    if "failed_trial" in trial.system_attrs:
        notes.append(f"retry of #{trial.system_attrs['failed_trial']}")
    if attrs.get("requeued_from") is not None:
        notes.append(f"re-run of #{attrs['requeued_from']}")
    if attrs.get("resumed_from") is not None:
        notes.append(f"continued #{attrs['resumed_from']}'s run")
    if trial.state == TrialState.PRUNED:
        notes.append(str(attrs.get("pruned_reason", "pruned")))
    elif trial.state == TrialState.FAIL:
        if attrs.get("fail_reason"):
            notes.append(str(attrs["fail_reason"]))
        elif trial.number in retried:
            notes.append("its worker stopped sending heartbeats; re-queued")
        else:
            notes.append("failed")
    return "; ".join(notes)


def format_params(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        name = SHORT.get(key, key)
        parts.append(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}")
    return " ".join(parts)


def trials_table(
    trials: list[FrozenTrial],
    title: str,
    best: FrozenTrial | None = None,
    objective: str = "val_loss",
) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("#", "state", objective, "epochs", "params", "why"):
        table.add_column(column, overflow="fold")
    retried = retried_numbers(trials)
    for t in trials:
        state = t.state.name
        value = f"{t.value:.4f}" if t.value is not None and state == "COMPLETE" else ""
        if best is not None and t.number == best.number:
            value += " *"
        table.add_row(
            str(t.number),
            f"[{STATE_STYLE.get(state, '')}]{state.lower()}[/]",
            value,
            str(t.user_attrs.get("epochs", "")),
            format_params(t.params),
            why(t, retried),
        )
    return table

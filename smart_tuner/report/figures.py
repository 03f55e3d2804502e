"""The report's pictures, drawn with matplotlib and returned as data URIs (no files, no network)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

PHASE_COLOURS = {"alignment": "#fde0c5", "learning": "#d9ead3", "fine_tuning": "#d0e0f0"}
CURVES = (
    ("loss", (("train_loss", "train"), ("val_loss", "validation"))),
    (
        "attention",
        (
            ("attention_score", "attention score"),
            ("diagonality", "diagonality"),
            ("gate_accuracy", "gate accuracy"),
        ),
    ),
    ("learning rate", (("lr", "learning rate"),)),
)


def data_uri(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def png_uri(path: Path) -> str:
    return data_uri(path.read_bytes(), "image/png")


def figure_uri(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return data_uri(buffer.getvalue(), "image/png")


def wav_uri(path: Path) -> str:
    """Any audio soundfile reads (WAV, FLAC), as a 16-bit WAV every browser plays."""
    audio, rate = sf.read(path, dtype="float32", always_2d=False)
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return data_uri(buffer.getvalue(), "audio/wav")


def _series(records: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    points = [
        (float(r["epoch"]), float(r[key]))
        for r in records
        if isinstance(r.get(key), int | float) and np.isfinite(r[key])
    ]
    if not points:
        return np.empty(0), np.empty(0)
    x, y = zip(*points, strict=True)
    return np.asarray(x), np.asarray(y)


def training_curves(
    records: Sequence[dict[str, Any]],
    phases: Sequence[dict[str, Any]],
    decisions: Sequence[dict[str, Any]],
) -> str:
    """Loss / attention / LR against epochs: phases shaded, each decision a numbered line
    (the numbers match the decision table beside the figure)."""
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), dpi=90, sharex=True)
    for ax, (title, keys) in zip(axes, CURVES, strict=True):
        for phase in phases:
            start, end = phase.get("start_epoch"), phase.get("end_epoch")
            if start is None or end is None or end <= start:
                continue
            colour = PHASE_COLOURS.get(str(phase.get("phase")), "#eeeeee")
            ax.axvspan(start, end, color=colour, alpha=0.6, lw=0)
        for key, label in keys:
            x, y = _series(records, key)
            if x.size:
                ax.plot(x, y, marker="." if x.size < 30 else None, label=label)
        if title == "learning rate" and _series(records, "lr")[1].size:
            ax.set_yscale("log")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    for number, decision in enumerate(decisions, start=1):
        for ax in axes:
            ax.axvline(decision["epoch"], color="#aa3377", lw=0.8, ls="--")
        top = axes[0]
        top.annotate(
            str(number),
            (decision["epoch"], 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            color="#aa3377",
            ha="center",
            va="bottom",
        )
    names = ", ".join(f"{p['phase']} (shaded)" for p in phases if p.get("phase"))
    axes[-1].set_xlabel("epoch" + (f"   phases: {names}" if names else ""))
    fig.tight_layout()
    return figure_uri(fig)


def forecast_plot(forecasts: Sequence[dict[str, Any]], stop_epoch: int | None) -> str:
    """Each forecast of the stop epoch (and of the remaining epochs) against the actual stop."""
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=90)
    made = [f["epoch"] for f in forecasts]
    ax.plot(made, [f["predicted_stop_epoch"] for f in forecasts], "o-", label="forecast stop")
    if stop_epoch is not None:
        ax.axhline(stop_epoch, color="#cc3311", ls="--", label=f"actual stop: epoch {stop_epoch}")
    ax.set_xlabel("epoch the forecast was made")
    ax.set_ylabel("stop epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_uri(fig)


def search_history(trials: Sequence[dict[str, Any]], direction: str = "minimize") -> str:
    """Every finished trial's value and the best so far (Optuna's optimisation history)."""
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=90)
    done = [t for t in trials if isinstance(t.get("value"), int | float)]
    if done:
        x = [t["number"] for t in done]
        y = [float(t["value"]) for t in done]
        best = np.minimum.accumulate(y) if direction == "minimize" else np.maximum.accumulate(y)
        ax.plot(x, y, "o", label="trial value")
        ax.step(x, best, where="post", color="#cc3311", label="best so far")
        ax.legend(fontsize=8)
    ax.set_xlabel("trial")
    ax.set_ylabel("objective")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_uri(fig)


def importances_plot(importances: dict[str, float]) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * max(1, len(importances))), dpi=90)
    names = list(importances)[::-1]
    ax.barh(names, [float(importances[n]) for n in names], color="#4477aa")
    ax.set_xlabel("importance (share of the objective's variance)")
    fig.tight_layout()
    return figure_uri(fig)

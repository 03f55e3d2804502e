"""The result section: what the model sounds like, beside the recordings, with the evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smart_tuner.report import figures
from smart_tuner.report.run_data import RunData


def _player(path: Path | None, label: str) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {"label": label, "missing": "no audio file"}
    try:
        return {"label": label, "uri": figures.wav_uri(path)}
    except Exception as exc:  # an unreadable file is reported in the page, not raised
        return {"label": label, "missing": f"unreadable audio: {exc}"}


def _validation_recording(run: RunData) -> tuple[str, Path] | None:
    """The validation sentence the training samples speak (the first validation item), found
    the way the training loop finds it: the run's data settings and its deterministic split."""
    dataset = ((run.analysis or {}).get("profile") or {}).get("dataset")
    if not dataset or not run.config.get("data"):
        return None
    try:
        from smart_tuner.config import DataConfig
        from smart_tuner.data.corpus import load_corpus, split_train_val

        data = DataConfig.model_validate(run.config["data"])
        corpus = load_corpus(Path(dataset), data)
        _, val = split_train_val(
            corpus.entries, data.validation_fraction, data.min_validation_items, data.split_seed
        )
    except Exception:  # the dataset moved or changed: the page says there is no recording
        return None
    if not val:
        return None
    return val[0].text, Path(val[0].audio_path)


def _samples(run: RunData) -> list[dict[str, Any]]:
    if not run.samples:
        return []
    epochs = sorted(run.samples)
    best = (run.summary or {}).get("best_epoch")
    picks = {epochs[0]: "first sample", epochs[-1]: "last sample"}
    if best is not None:
        near = min(epochs, key=lambda e: (abs(e - int(best)), e))
        picks.setdefault(near, "nearest the best epoch")
    return [_player(run.samples[e], f"epoch {e}: {label}") for e, label in sorted(picks.items())]


def _resolve(base: Path | None, value: Any) -> Path | None:
    """The file a path in evaluation.json names: as written (absolute, or relative to the
    JSON's folder or the working directory), else by its name in the evaluation's audio/
    folder (a run folder that was moved, or an evaluation.json from before paths were
    absolute, which were relative to where the command ran)."""
    if not value:
        return None
    path = Path(str(value))
    candidates = [path] if path.is_absolute() else [*([base / path] if base else []), path]
    if base is not None:
        candidates.append(base / "audio" / path.name)
    return next((c for c in candidates if c.is_file()), candidates[0])


def _scalars(item: dict[str, Any], skip: set[str]) -> list[tuple[str, str]]:
    return [
        (k, f"{v:.3g}" if isinstance(v, float) else str(v))
        for k, v in item.items()
        if k not in skip and isinstance(v, int | float | str) and not isinstance(v, bool)
    ]


def evaluation_part(run: RunData) -> dict[str, Any]:
    ev = run.evaluation
    if not ev:
        return {
            "available": False,
            "missing": "No evaluation of held-out sentences exists for this run "
            "(evaluation.json); the samples above come from training.",
        }
    base = run.evaluation_dir
    metrics = ev.get("metrics") if isinstance(ev.get("metrics"), dict) else {}
    sentences = []
    for item in ev.get("sentences") or []:
        if not isinstance(item, dict):
            continue
        sentences.append(
            {
                "text": str(item.get("text", "")),
                "recording": _player(_resolve(base, item.get("recording")), "recording")
                if item.get("recording")
                else None,
                "synthesis": _player(_resolve(base, item.get("synthesis")), "synthesis")
                if item.get("synthesis")
                else {
                    "label": "synthesis",
                    "missing": f"no WAV written (stop: {item.get('stop', '?')})",
                },
                "metrics": _scalars(item, {"id", "text", "recording", "synthesis"}),
            }
        )
    return {
        "available": True,
        "metrics": _scalars(metrics, set()),
        "not_assessed": [(k, str(v)) for k, v in (ev.get("not_assessed") or {}).items()],
        "checkpoint": f"{ev.get('checkpoint', '')} (epoch {ev.get('epoch', '?')})",
        "vocoder": str(ev.get("vocoder", "")),
        "sentences": sentences,
        "note": str(ev.get("note", "")),
    }


def result_section(run: RunData) -> dict[str, Any]:
    samples = _samples(run)
    recording = _validation_recording(run) if samples else None
    return {
        "available": bool(samples) or bool(run.evaluation),
        "missing": "The model spoke no sentence during this run (it never stopped by itself "
        "yet), and no evaluation exists.",
        "samples": samples,
        "sentence": recording[0] if recording else None,
        "recording": _player(recording[1], "recording") if recording else None,
        "evaluation": evaluation_part(run),
    }

"""The evaluation as a terminal table (per sentence, then synthesis beside recordings) and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from smart_tuner.evaluate.evaluation import Evaluation

# (column, synthesis key, recording key, format); None: no recording counterpart.
SIDE_BY_SIDE: tuple[tuple[str, str, str | None, str], ...] = (
    ("MOS P.808 (DNSMOS)", "mos_p808", "recording_mos_p808", "{:.2f}"),
    ("MOS P.835 OVRL (DNSMOS)", "mos_ovrl", "recording_mos_ovrl", "{:.2f}"),
    ("WER", "wer", "recording_wer", "{:.0%}"),
    ("CER", "cer", "recording_cer", "{:.0%}"),
    ("speaker similarity (cosine)", "speaker_similarity", "recording_speaker_similarity", "{:.3f}"),
    ("duration (s)", "seconds", "recording_seconds", "{:.2f}"),
    ("MCD-DTW (dB)", "mcd_db", None, "{:.2f}"),
    ("F0 RMSE (cents)", "f0_rmse_cents", None, "{:.0f}"),
    ("voicing decision error", "voicing_error", None, "{:.0%}"),
    ("length ratio", "length_ratio", None, "{:.2f}"),
    ("attention_score", "attention_score", None, "{:.3f}"),
    ("diagonality", "diagonality", None, "{:.3f}"),
    ("skipped symbols", "skipped_symbols", None, "{:.1f}"),
    ("repeated symbols", "repeated_symbols", None, "{:.1f}"),
)

# (header, key, format); "a|b" shows synthesis / recording in one cell.
PER_SENTENCE: tuple[tuple[str, str, str], ...] = (
    ("stop", "stop", "{}"),
    ("len", "length_ratio", "{:.2f}"),
    ("MCD", "mcd_db", "{:.1f}"),
    ("F0 ct", "f0_rmse_cents", "{:.0f}"),
    ("MOS", "mos_p808|recording_mos_p808", "{:.1f}"),
    ("WER", "wer|recording_wer", "{:.0%}"),
    ("spk", "speaker_similarity", "{:.2f}"),
)
SHORT_STOP = {"ok": "ok", "attention_end": "attn", "premature": "early", "no_stop": "none"}


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def sentence_table(evaluation: Evaluation) -> Table:
    table = Table(
        title=f"Per sentence, epoch {evaluation.epoch} (MOS, WER: synthesis/recording; stop: "
        "ok, attn = ended by attention, early = premature, none = no stop)",
        title_justify="left",
    )
    table.add_column("id", overflow="fold")
    for header, _, _ in PER_SENTENCE:
        table.add_column(header, justify="right", no_wrap=True)
    for row in evaluation.sentences:
        cells = [row["id"]]
        row = {**row, "stop": SHORT_STOP.get(row["stop"], row["stop"])}
        for _, keys, fmt in PER_SENTENCE:
            cells.append("/".join(_cell(row.get(key), fmt) for key in keys.split("|")))
        table.add_row(*cells)
    return table


def summary_table(evaluation: Evaluation) -> Table:
    means = evaluation.averages()
    table = Table(title="Averages: synthesis beside the recordings", title_justify="left")
    table.add_column("measure")
    table.add_column("synthesis", justify="right")
    table.add_column("recordings", justify="right")

    def cell(key: str | None, fmt: str) -> str:
        if key is None:
            return ""
        missing = key not in means and (
            key in evaluation.not_assessed
            or key.removeprefix("recording_") in evaluation.not_assessed
        )
        return "not assessed" if missing else _cell(means.get(key), fmt)

    for header, key, ref_key, fmt in SIDE_BY_SIDE:
        table.add_row(header, cell(key, fmt), cell(ref_key, fmt))
    stops = ", ".join(
        f"{behaviour} {means[f'stop_{behaviour}']:.0%}"
        for behaviour in ("ok", "attention_end", "premature", "no_stop")
        if means.get(f"stop_{behaviour}")
    )
    table.add_row("stop behaviour", stops, "")
    return table


def print_evaluation(evaluation: Evaluation, console: Console) -> None:
    console.print(sentence_table(evaluation))
    console.print(summary_table(evaluation))
    for name, reason in evaluation.not_assessed.items():
        console.print(f"[yellow]{name}: not assessed[/yellow] - {reason}")
    if evaluation.vocoder:
        console.print(f"Vocoder: {evaluation.vocoder}")


def write_json(evaluation: Evaluation, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(evaluation.to_dict(), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path

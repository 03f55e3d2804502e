"""Minutes and steps until validation attention_score first reaches 0.5 and 0.7 on a diagonal.

    python benchmarks/time_to_align.py [--dataset DIR] [--max-minutes 20] [--out DIR]
    python benchmarks/time_to_align.py --from-run RUN_DIR     # read an existing run instead

Trains the demo recipe (`small` preset, the demo's settings) from scratch on the embedded
English corpus, or on `--dataset`, and prints a table read back from the run's metrics.jsonl.
Minutes count training and validation only (not the one-off mel precomputation). An epoch
counts only when its validation diagonality is at least 0.7 too: a "clock" (the attention
sharp on one symbol per step whatever the speech does) scores high but is not an alignment.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.cli import demo_corpus_path, demo_overrides  # noqa: E402
from smart_tuner.config import load_config  # noqa: E402
from smart_tuner.events import read_records  # noqa: E402

THRESHOLDS = (0.5, 0.7)
MIN_DIAGONALITY = 0.7


def first_reaching(records: list[dict], threshold: float) -> tuple[float, int, int] | None:
    """(minutes, steps, epoch) at the first epoch whose attention_score >= threshold while
    its diagonality >= MIN_DIAGONALITY."""
    minutes = 0.0
    for record in records:
        minutes += record["epoch_seconds"] / 60.0
        if record["attention_score"] >= threshold and record["diagonality"] >= MIN_DIAGONALITY:
            return minutes, int(record["step"]), int(record["epoch"])
    return None


def report(run_dir: Path, label: str, console: Console) -> None:
    records = read_records(run_dir / "metrics.jsonl")
    table = Table(title=f"time to align: {label} (diagonality ≥ {MIN_DIAGONALITY})")
    for col in ("attention_score ≥", "minutes", "steps", "epoch"):
        table.add_column(col, justify="right")
    for threshold in THRESHOLDS:
        hit = first_reaching(records, threshold)
        if hit is None:
            table.add_row(f"{threshold}", "not reached", "", "")
        else:
            table.add_row(f"{threshold}", f"{hit[0]:.1f}", str(hit[1]), str(hit[2]))
    console.print(table)
    if records:
        last = records[-1]
        total = sum(r["epoch_seconds"] for r in records) / 60.0
        console.print(
            f"{len(records)} epochs, {int(last['step'])} steps, {total:.1f} min; final "
            f"attention_score {last['attention_score']:.3f}, diagonality "
            f"{last['diagonality']:.3f}, val_loss {last['val_loss']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--max-minutes", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--from-run", type=Path, default=None)
    args = parser.parse_args()
    console = Console(width=120)
    if args.from_run:
        report(args.from_run, str(args.from_run), console)
        return
    from smart_tuner.train.loop import train

    dataset = args.dataset or demo_corpus_path("en")
    out = args.out or Path(tempfile.mkdtemp(prefix="time-to-align-"))
    config = load_config(None, demo_overrides(args.max_minutes, None))
    train(config, dataset, out, console=console)
    report(out, f"{dataset.name} (run folder {out})", console)


if __name__ == "__main__":
    main()

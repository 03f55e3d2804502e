"""What watching the model costs: controller + alignment metrics vs the epoch they watch, and
the quality monitor (free-running synthesis scored by MCD and DNSMOS) vs the training between
two progress analyses.

    python benchmarks/monitoring_overhead.py [--dataset DIR]
        [--epochs 3] [--checkpoint TRAINED.pt]

Trains the `small` preset for a few epochs on the demo corpus (or --dataset) and, in the same
run, times what monitoring adds per epoch: the alignment metrics (attention_score,
diagonality, gate_accuracy) on every validation batch, the BatchNorm re-measurement before
validation, and `TrainingController.observe`. Prints seconds and the share of the epoch.
Then it times one quality measurement (`evaluate.monitor.measure`, the default number of
validation sentences) on the run's own checkpoint (a young model that does not stop: the
capped decoder only) and on --checkpoint (a model that speaks: vocoder, MCD, DNSMOS too), and
prints its share of the training between two progress analyses, and the shortest training
time at which the 2 % budget lets the monitor measure at all.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.cli import demo_corpus_path  # noqa: E402
from smart_tuner.config import load_config  # noqa: E402
from smart_tuner.runtime.alignment_metrics import (  # noqa: E402
    attention_score,
    diagonality,
    gate_accuracy,
)
from smart_tuner.train.loop import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="a trained model for the quality part")
    args = parser.parse_args()
    console = Console(width=120)
    config = load_config(None, {"model.preset": "small", "training.epochs": 1000})
    trainer = Trainer(
        config,
        args.dataset or demo_corpus_path("en"),
        Path(tempfile.mkdtemp(prefix="monitoring-")),
        console=Console(quiet=True),
    )
    r = config.model.n_frames_per_step
    rows = []
    with Progress(disable=True) as progress:
        for _ in range(args.epochs):
            started = time.perf_counter()
            trainer.train_epoch(progress)
            t_train = time.perf_counter() - started
            started = time.perf_counter()
            trainer._calibrate_batchnorm(
                trainer.model, max(1, min(4, len(trainer.data.train_loader) // 8))
            )
            t_bn = time.perf_counter() - started
            started = time.perf_counter()
            metrics, _ = trainer.validate()
            t_val = time.perf_counter() - started - t_bn  # validate() re-measures BN too
            # The metrics alone, on the same validation batches:
            t_metrics = 0.0
            trainer.model.eval()
            with torch.no_grad():
                for batch in trainer.data.val_loader:
                    out = trainer.model(
                        batch.text_padded,
                        batch.input_lengths,
                        batch.mel_padded,
                        batch.output_lengths,
                    )
                    dec = torch.div(batch.output_lengths + r - 1, r, rounding_mode="floor")
                    t0 = time.perf_counter()
                    attention_score(out.alignments, batch.input_lengths, dec)
                    diagonality(out.alignments, batch.input_lengths, dec)
                    gate_accuracy(out.gate_outputs, batch.gate_padded, batch.output_lengths)
                    t_metrics += time.perf_counter() - t0
            trainer.epoch += 1
            trainer.batch_in_epoch = 0
            record = {"epoch": trainer.epoch, **metrics, "epoch_seconds": t_train + t_val}
            t0 = time.perf_counter()
            trainer.controller.observe(record, t_train + t_val)
            t_controller = time.perf_counter() - t0
            rows.append((t_train, t_val, t_bn, t_metrics, t_controller))
    table = Table(title="monitoring overhead per epoch (small preset, demo corpus, this machine)")
    for col in (
        "epoch",
        "train s",
        "validation s",
        "BN re-measure s",
        "metrics s",
        "controller s",
        "monitoring share",
    ):
        table.add_column(col, justify="right")
    for i, (tr, va, bn, me, co) in enumerate(rows, 1):
        total = tr + va + bn
        table.add_row(
            str(i),
            f"{tr:.2f}",
            f"{va:.2f}",
            f"{bn:.2f}",
            f"{me:.4f}",
            f"{co:.5f}",
            f"{100 * (bn + me + co) / total:.2f} %",
        )
    console.print(table)
    import numpy as np

    from smart_tuner.control import fit_learning_curve

    t = np.arange(1, 5000)
    y = 0.4 + np.exp(-t / 500.0)
    started = time.perf_counter()
    for _ in range(50):
        fit_learning_curve(t, y)
    fit_ms = 1000 * (time.perf_counter() - started) / 50
    console.print(f"learning-curve fit on a 5000-epoch history: {fit_ms:.1f} ms per analysis")
    epoch_seconds = float(np.mean([tr + va + bn for tr, va, bn, _, _ in rows]))
    trainer.save(False)
    quality_table(console, trainer, epoch_seconds, args.checkpoint)


def quality_table(console: Console, trainer: Trainer, epoch_seconds: float, trained: Path | None):
    """One quality measurement (cold: models loaded; warm: again), and its share of training."""
    from smart_tuner.control.plan import Horizon
    from smart_tuner.evaluate.monitor import fixed_subset, measure

    config = trainer.config.evaluation
    sentences = fixed_subset(trainer.data.val_items, config.monitor_sentences)
    epochs = trainer.controller.plan.max_epochs
    interval = Horizon.build(trainer.config, 0, epochs).report_interval
    table = Table(
        title=f"quality monitor: {len(sentences)} sentences per measurement, a progress "
        f"analysis every {interval} epochs of {epoch_seconds:.1f} s"
    )
    for col in ("checkpoint", "stopped", "cold s", "warm s", "share of the interval", "2 % from"):
        table.add_column(col, justify="right")
    checkpoints = [("this run's (young)", trainer.last_path)]
    if trained is not None:
        checkpoints.append((f"{trained} (trained)", trained))
    with tempfile.TemporaryDirectory() as out:
        for name, path in checkpoints:
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                metrics = measure(path, sentences, Path(out))
                timings.append(time.perf_counter() - started)
            table.add_row(
                name,
                f"{metrics['quality_stopped']:.0%}",
                f"{timings[0]:.1f}",
                f"{timings[1]:.1f}",
                f"{100 * timings[1] / (interval * epoch_seconds):.2f} %",
                f"{timings[1] / config.monitor_budget / 60:.1f} min",
            )
    console.print(table)
    console.print(
        "'2 % from': the training time after which the budget (evaluation.monitor_budget) lets "
        "a measurement of this cost happen; shorter runs skip it."
    )


if __name__ == "__main__":
    main()

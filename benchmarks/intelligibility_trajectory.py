"""Where intelligibility comes from on this CPU: one long demo-recipe run, scored as it learns.

    # train (resumable: run the same command again to continue), then score every snapshot
    nohup .venv/bin/python benchmarks/intelligibility_trajectory.py runs/trajectory \\
        --total-minutes 120 > runs/trajectory.log 2>&1 &
    # score the snapshots so far (also while training runs elsewhere), table + plot
    .venv/bin/python benchmarks/intelligibility_trajectory.py runs/trajectory --score-only

Training is the demo's recipe (`small` preset, embedded English corpus) with early stopping
and the over-fitting stop off, so the run lasts --total-minutes of training time; a copy of
the checkpoint is kept every --every-minutes (RUN_DIR/snapshots/minute_NNNN.pt). Each
snapshot is scored through HiFi-GAN (benchmarks/intelligibility.py): teacher-forced mels of
corpus items beside free-running unseen sentences, WER and DNSMOS overall. The table,
RUN_DIR/trajectory.json and RUN_DIR/trajectory.png say how many training minutes it takes to
reach an unseen WER of 0.5, and whether what limits it is the spectra (teacher-forced bad
too) or the alignment / generalisation (teacher-forced good, free-running bad).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from intelligibility import UNSEEN, make_vocoders, score_checkpoint  # noqa: E402

from smart_tuner.cli import default_config_path, demo_corpus_path, demo_overrides  # noqa: E402
from smart_tuner.config import load_config  # noqa: E402
from smart_tuner.data import load_corpus  # noqa: E402
from smart_tuner.events import EpochEnded, Event  # noqa: E402
from smart_tuner.runtime.checkpoint import load_checkpoint  # noqa: E402
from smart_tuner.synthesize import load_model  # noqa: E402

TARGET_WER = 0.5


class Snapshotter:
    """Event-bus listener: after the epoch that crosses each --every-minutes mark of total
    training time, copy the just-saved last.pt to snapshots/minute_NNNN.pt."""

    def __init__(self, run_dir: Path, every_minutes: float, prior_seconds: float) -> None:
        self.run_dir = run_dir
        self.every = every_minutes * 60.0
        self.prior = prior_seconds
        self.next_mark = (int(prior_seconds // self.every) + 1) * self.every

    def __call__(self, event: Event) -> None:
        if not isinstance(event, EpochEnded):
            return
        total = self.prior + float(event.metrics.get("elapsed_seconds", 0.0))
        if total < self.next_mark:
            return
        # Named by the training minutes it holds (an epoch may run past the mark).
        target = self.run_dir / "snapshots" / f"minute_{round(total / 60):04d}.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.run_dir / "checkpoints" / "last.pt", target)
        while self.next_mark <= total:
            self.next_mark += self.every


def trained_seconds(run_dir: Path) -> float:
    last = run_dir / "checkpoints" / "last.pt"
    return float(load_checkpoint(last).get("wall_seconds", 0.0)) if last.is_file() else 0.0


def train_phase(
    run_dir: Path, total_minutes: float, every_minutes: float, console: Console
) -> None:
    from smart_tuner.train.loop import train

    prior = trained_seconds(run_dir)
    left = total_minutes - prior / 60.0
    if left <= 0.5:
        console.print(f"{run_dir}: {prior / 60:.1f} min trained already; nothing left to train.")
        return
    # Neither stop may end it: the question is whether speech keeps improving after the
    # teacher-forced validation loss stopped (on the small demo corpus it over-fits after
    # ~40 minutes).
    overrides = {
        **demo_overrides(left, 1_000_000),
        "early_stopping.enabled": False,
        "overfitting_detection.enabled": False,
    }
    config = load_config(default_config_path(None), overrides)
    console.print(f"Training {left:.1f} more minutes (of {total_minutes:g}) in {run_dir}.")
    train(
        config,
        demo_corpus_path("en"),
        run_dir,
        resume=prior > 0,
        console=console,
        track=False,
        listeners=[Snapshotter(run_dir, every_minutes, prior)],
    )


def score_phase(
    run_dir: Path, seeds: int, n_teacher_forced: int, console: Console
) -> list[dict[str, Any]]:
    """Score every snapshot not scored yet (results kept in RUN_DIR/trajectory/*.json)."""
    rows = []
    for snapshot in coarse_first(sorted((run_dir / "snapshots").glob("minute_*.pt"))):
        minutes = int(snapshot.stem.split("_")[1])
        cached = run_dir / "trajectory" / f"{snapshot.stem}.json"
        if not cached.is_file():
            loaded = load_model(snapshot, device="cpu")
            corpus = load_corpus(demo_corpus_path("en"), loaded.config.data)
            vocoders = make_vocoders(loaded.config.audio, ["hifigan"], "universal")
            scores = score_checkpoint(
                loaded,
                corpus,
                vocoders,
                run_dir / "trajectory" / snapshot.stem,
                seeds=range(seeds),
                n_teacher_forced=n_teacher_forced,
                n_copy=n_teacher_forced if minutes == min_minutes(run_dir) else 0,
                groups={"unseen": UNSEEN},
            )
            cached.write_text(json.dumps({"epoch": loaded.epoch, "scores": scores}, indent=2))
            console.print(f"scored {snapshot.name}")
        rows.append({"minutes": minutes, **json.loads(cached.read_text())})
    return sorted(rows, key=lambda row: row["minutes"])


def coarse_first(items: list[Path]) -> list[Path]:
    """First, last, then ever finer halvings: scoring stopped half way (it takes minutes per
    snapshot) still leaves a trajectory spanning the whole run."""
    if len(items) <= 2:
        return list(items)
    order = [0, len(items) - 1]
    step = 1 << (len(items) - 1).bit_length()
    while step >= 1:
        order += [i for i in range(0, len(items), step) if i not in order]
        step //= 2
    return [items[i] for i in order]


def min_minutes(run_dir: Path) -> int:
    return min(int(p.stem.split("_")[1]) for p in (run_dir / "snapshots").glob("minute_*.pt"))


def report(rows: list[dict[str, Any]], run_dir: Path, console: Console) -> None:
    table = Table(title=f"{run_dir}: intelligibility through HiFi-GAN against training minutes")
    for column in (
        "minutes",
        "epoch",
        "teacher-forced WER",
        "teacher-forced MOS",
        "unseen WER",
        "unseen MOS",
        "unseen no audio",
    ):
        table.add_column(column)

    def get(row: dict[str, Any], condition: str, key: str) -> float | None:
        value = row["scores"].get(condition, {}).get("hifigan", {}).get(key)
        return None if value is None else float(value)

    def cell(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for row in rows:
        table.add_row(
            str(row["minutes"]),
            str(row["epoch"]),
            cell(get(row, "teacher-forced", "wer")),
            cell(get(row, "teacher-forced", "mos_overall")),
            cell(get(row, "unseen", "wer")),
            cell(get(row, "unseen", "mos_overall")),
            str(row["scores"].get("unseen", {}).get("hifigan", {}).get("no_audio", "-")),
        )
    console.print(table)
    for row in rows:
        if "copy-synthesis" in row["scores"]:
            rec = row["scores"]["recordings"]["recording"]
            copy = row["scores"]["copy-synthesis"]["hifigan"]
            console.print(
                f"ceiling: recordings WER {rec['wer']:.2f} MOS {rec['mos_overall']:.2f}; "
                f"through HiFi-GAN WER {copy['wer']:.2f} MOS {copy['mos_overall']:.2f}"
            )
    reached = [r["minutes"] for r in rows if (get(r, "unseen", "wer") or 1.0) <= TARGET_WER]
    last = rows[-1]["minutes"] if rows else 0
    console.print(
        f"unseen WER <= {TARGET_WER} first at {reached[0]} training minutes"
        if reached
        else f"unseen WER {TARGET_WER} not reached in the {last} minutes scored"
    )
    if rows:
        console.print(diagnosis(rows, get))
    (run_dir / "trajectory.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    plot(rows, run_dir / "trajectory.png", get)


def diagnosis(rows: list[dict[str, Any]], get: Any) -> str:
    """Where the last snapshot's unseen WER is lost: the spectra themselves (teacher-forced
    speech is as hard to follow), or free-running inference on new text (it is not)."""
    last = rows[-1]
    teacher, unseen = get(last, "teacher-forced", "wer"), get(last, "unseen", "wer")
    if teacher is None or unseen is None:
        return "not enough scores for a diagnosis"
    head = f"at {last['minutes']} min: teacher-forced WER {teacher:.2f}, unseen {unseen:.2f}: "
    if unseen <= TARGET_WER:
        return head + "the target is reached"
    if teacher > TARGET_WER:
        return head + (
            "the spectra limit it (even with the recording's timing the words are not "
            "heard): more training or a larger model"
        )
    gap = unseen - teacher
    return head + (
        f"free-running speech of new sentences loses {gap:.2f} WER that the same model's "
        "teacher-forced spectra do not: generalisation to new text and inference (attention, "
        "prenet dropout, stop), not the spectra, limit it"
    )


def plot(rows: list[dict[str, Any]], path: Path, get: Any) -> None:
    minutes = [r["minutes"] for r in rows]
    fig, (wer_ax, mos_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for condition, style in (("teacher-forced", "o--"), ("unseen", "o-")):
        wer_ax.plot(minutes, [get(r, condition, "wer") for r in rows], style, label=condition)
        mos_ax.plot(
            minutes, [get(r, condition, "mos_overall") for r in rows], style, label=condition
        )
    wer_ax.axhline(TARGET_WER, color="grey", lw=0.8, ls=":")
    for row in rows[:1]:  # the recordings' MOS, scored with the first snapshot
        recorded = row["scores"].get("recordings", {}).get("recording", {}).get("mos_overall")
        if recorded is not None:
            mos_ax.axhline(recorded, color="grey", lw=0.8, ls=":", label="recordings")
    wer_ax.set(xlabel="training minutes", ylabel="WER (PocketSphinx)", ylim=(0, 1.2))
    mos_ax.set(xlabel="training minutes", ylabel="DNSMOS overall", ylim=(1, 4))
    for ax in (wer_ax, mos_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("Demo recipe through HiFi-GAN: teacher-forced beside free-running")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--total-minutes", type=float, default=120.0)
    parser.add_argument("--every-minutes", type=float, default=10.0)
    parser.add_argument("--score-only", action="store_true", help="skip training")
    parser.add_argument("--train-only", action="store_true", help="skip scoring")
    parser.add_argument("--seeds", type=int, default=2, help="prenet seeds per unseen sentence")
    parser.add_argument("--teacher-forced", type=int, default=6, metavar="N")
    args = parser.parse_args()
    console = Console(width=150)
    if not args.score_only:
        train_phase(args.run_dir, args.total_minutes, args.every_minutes, console)
    if args.train_only:
        return 0
    if not (args.run_dir / "snapshots").is_dir():
        console.print(f"{args.run_dir} holds no snapshots yet.")
        return 1
    report(
        score_phase(args.run_dir, args.seeds, args.teacher_forced, console), args.run_dir, console
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

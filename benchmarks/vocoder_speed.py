"""Real-time factor of each vocoder: seconds of compute per second of audio (below 1 = faster
than real time), on 1 and 2 CPU threads, and on CUDA when present.

    .venv/bin/python benchmarks/vocoder_speed.py [--items 4] [--repeats 2]

The input is the log-mel of demo-corpus recordings (what a 3-second sentence costs). For
HiFi-GAN it also prints where the time goes: the input convolution, each of the four
upsampling stages (transposed convolution + its three residual blocks) and the output
convolution, so a miss of the real-time target says which stage to shrink.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smart_tuner.cli import demo_corpus_path  # noqa: E402
from smart_tuner.config import AudioConfig  # noqa: E402
from smart_tuner.data.audio import load_audio  # noqa: E402
from smart_tuner.data.features import MelSpectrogram  # noqa: E402
from smart_tuner.model.hifigan import SLOPE, HifiGan, HifiGanGenerator  # noqa: E402
from smart_tuner.model.vocoder import GriffinLim  # noqa: E402


def best_seconds(run: Callable[[], object], repeats: int, sync: bool = False) -> float:
    """Fastest of `repeats` runs after one warm-up (the machine is shared: the minimum is the
    least disturbed)."""
    run()
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def stage_seconds(generator: HifiGanGenerator, mel: torch.Tensor) -> dict[str, float]:
    """Wall time of each part of one forward pass (same arithmetic as forward())."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    x = generator.conv_pre(mel[None])
    out["input conv"] = time.perf_counter() - start
    n = len(generator.settings.block_kernels)
    for i, up in enumerate(generator.ups):
        start = time.perf_counter()
        x = up(F.leaky_relu(x, SLOPE))
        x = sum(b(x) for b in generator.resblocks[i * n : (i + 1) * n]) / n
        out[f"stage {i + 1} ({x.shape[1]} ch, x{generator.settings.upsample_rates[i]})"] = (
            time.perf_counter() - start
        )
    start = time.perf_counter()
    torch.tanh(generator.conv_post(F.leaky_relu(x)))
    out["output conv"] = time.perf_counter() - start
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=4, help="demo recordings to vocode")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    console = Console(width=120)
    cfg = AudioConfig()
    paths = sorted((demo_corpus_path("en") / "wavs").glob("*.flac"))[: args.items]
    meter = MelSpectrogram(cfg)
    mels = [meter(torch.from_numpy(load_audio(p, cfg.sampling_rate))) for p in paths]
    audio_seconds = sum(m.shape[1] for m in mels) * cfg.hop_length / cfg.sampling_rate

    targets: list[tuple[str, int | None]] = [("cpu", 1), ("cpu", 2)]
    if torch.cuda.is_available():
        targets.append(("cuda", None))
    table = Table(title=f"real-time factor on {audio_seconds:.1f} s of speech ({len(mels)} items)")
    for column in ("vocoder", "device", "threads", "seconds", "RTF", "x real time"):
        table.add_column(column)
    breakdown: dict[str, float] = {}
    for device, threads in targets:
        if threads is not None:
            torch.set_num_threads(threads)
        on_device = [m.to(device) for m in mels]
        vocoders = {
            "Griffin-Lim (60 iterations)": GriffinLim(cfg),
            "HiFi-GAN V1 (universal)": HifiGan("universal", device),
        }
        for name, vocoder in vocoders.items():
            seconds = best_seconds(
                lambda v=vocoder, ms=on_device: [v(m) for m in ms],
                args.repeats,
                sync=device == "cuda",
            )
            rtf = seconds / audio_seconds
            table.add_row(
                name, device, str(threads or "-"), f"{seconds:.2f}", f"{rtf:.3f}", f"{1 / rtf:.1f}"
            )
        if device == "cpu" and threads == 2:
            generator = vocoders["HiFi-GAN V1 (universal)"].generator  # type: ignore[attr-defined]
            stage_seconds(generator, mels[0])  # warm-up
            for m in mels:
                for stage, s in stage_seconds(generator, m).items():
                    breakdown[stage] = breakdown.get(stage, 0.0) + s
    console.print(table)
    total = sum(breakdown.values())
    parts = Table(title="HiFi-GAN on 2 CPU threads: where the time goes")
    for column in ("part", "seconds", "share"):
        parts.add_column(column)
    for stage, s in breakdown.items():
        parts.add_row(stage, f"{s:.2f}", f"{s / total:.0%}")
    console.print(parts)
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads at the end")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())

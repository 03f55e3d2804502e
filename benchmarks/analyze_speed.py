"""How fast `smart-tuner analyze` is: audio seconds analysed per wall second, cold and warm.

    .venv/bin/python benchmarks/analyze_speed.py [DATASET] [--copies 4] [--workers 2]

The corpus (default: the embedded English demo corpus) is copied `--copies` times into a
temporary folder, each copy at a slightly different gain so that the content-keyed cache sees
new files. The analysis then runs twice against a fresh cache: cold (everything measured) and
warm (everything cached). Per-file measuring scales with the corpus; DNSMOS and ASR run on
capped samples, so their cost is fixed and the line "24 h corpus" extrapolates from the two.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smart_tuner.analysis.pipeline import analyze_dataset  # noqa: E402
from smart_tuner.config import load_config  # noqa: E402
from smart_tuner.data.corpus import load_corpus  # noqa: E402

WALL_STAGES = (
    "load_corpus",
    "hash",
    "measure",
    "text",
    "problems",
    "dnsmos",
    "asr",
    "score",
    "total",
)
SCALING = ("load_corpus", "hash", "measure", "text", "problems", "score")


def replicate(source: Path, target: Path, copies: int) -> float:
    corpus = load_corpus(source)
    (target / "wavs").mkdir(parents=True)
    lines = []
    seconds = 0.0
    for copy in range(copies):
        gain = 1.0 - 0.02 * copy
        for e in corpus.entries:
            wav, sr = sf.read(e.audio_path, dtype="float32")
            name = f"{e.id}_{copy}"
            sf.write(target / "wavs" / f"{name}.flac", wav * gain, sr)
            lines.append(f"{name}|{e.text}")
            seconds += len(wav) / sr
    (target / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default=str(ROOT / "smart_tuner/demo_corpus/en"))
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--config", help="config.yaml (default: built-in defaults)")
    args = parser.parse_args()
    config = load_config(args.config)

    with tempfile.TemporaryDirectory(prefix="analyze-speed-") as tmp:
        corpus = Path(tmp) / "corpus"
        audio = replicate(Path(args.dataset), corpus, args.copies)
        cache = Path(tmp) / "cache"
        runs = {}
        for name in ("cold", "warm"):
            start = time.perf_counter()
            profile = analyze_dataset(corpus, config, workers=args.workers, cache_dir=cache)
            runs[name] = (time.perf_counter() - start, profile)

    cold_wall, cold = runs["cold"]
    warm_wall, warm = runs["warm"]
    print(
        f"corpus: {args.dataset} x{args.copies} = {cold.n_utterances} files, "
        f"{audio / 60:.1f} min of audio; {args.workers} worker processes, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'stage':<34}{'cold s':>9}{'cold x RT':>11}{'warm s':>9}{'warm x RT':>11}")
    stages = list(WALL_STAGES) + sorted(k for k in cold.timings if k not in WALL_STAGES)
    for stage in stages:
        c = cold.timings.get(stage, 0.0)
        w = warm.timings.get(stage, 0.0)
        rate_c = f"{audio / c:,.0f}" if c > 1e-4 else "-"
        rate_w = f"{audio / w:,.0f}" if w > 1e-4 else "-"
        print(f"{stage:<34}{c:>9.2f}{rate_c:>11}{w:>9.3f}{rate_w:>11}")
    print(
        f"{'wall (analyze_dataset call)':<34}{cold_wall:>9.2f}{audio / cold_wall:>11,.0f}"
        f"{warm_wall:>9.3f}{audio / warm_wall:>11,.0f}"
    )
    scaling_cold = sum(cold.timings.get(s, 0.0) for s in SCALING)
    fixed_cold = cold.timings.get("dnsmos", 0.0) + cold.timings.get("asr", 0.0)
    scaling_warm = sum(warm.timings.get(s, 0.0) for s in SCALING)
    day = 24 * 3600.0
    print(
        f"per-file stages: {audio / scaling_cold:,.0f}x real time cold, "
        f"{audio / max(scaling_warm, 1e-6):,.0f}x warm; "
        f"sampled model steps (DNSMOS + ASR) {fixed_cold:.1f} s, fixed"
    )
    print(
        f"24 h corpus, extrapolated: cold {day / (audio / scaling_cold) + fixed_cold:.0f} s, "
        f"warm {day / (audio / max(scaling_warm, 1e-6)):.1f} s"
    )
    print(f"cache: cold {cold.cache}\n       warm {warm.cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`smart-tuner evaluate`: is the voice good? Held-out sentences spoken free-running, scored."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from smart_tuner.config import Config

if TYPE_CHECKING:  # the command line imports this module; torch loads only when it runs
    from smart_tuner.evaluate.evaluation import Evaluation
    from smart_tuner.synthesize import LoadedModel

DEFAULT_N = 10


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a Smart Tuner checkpoint (.pt)")
    parser.add_argument(
        "--dataset",
        help="corpus (default: the run's own, as its analysis.json or config names it, else "
        "the embedded demo corpus of the model's language)",
    )
    parser.add_argument(
        "--n", type=_positive, default=DEFAULT_N, help=f"sentences to speak (default {DEFAULT_N})"
    )
    parser.add_argument("--json", help="results as JSON (default OUT/evaluation.json)")
    parser.add_argument("--out", help="folder for WAVs and JSON (default RUN_DIR/evaluation)")
    parser.add_argument("--vocoder", choices=["auto", "hifigan", "griffin_lim"])
    parser.add_argument(
        "--split",
        choices=["validation", "all"],
        default="validation",
        help="validation: the run's held-out split (default); all: any sentence (another corpus)",
    )
    parser.add_argument("--seed", type=int, default=0, help="selection and prenet-dropout seed")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])


def default_out(checkpoint: Path) -> Path:
    """RUN_DIR/evaluation for a checkpoint inside RUN_DIR/checkpoints/, else beside it."""
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent / "evaluation"
    return checkpoint.parent / f"evaluation-{checkpoint.stem}"


def resolve_dataset(given: str | None, config: Config, language: str, checkpoint: Path) -> Path:
    """--dataset; else the run's corpus (RUN_DIR/analysis.json, then the config's
    dataset_path); else the embedded corpus of the model's language (what `demo` trains on)."""
    if given:
        return Path(given)
    analysis = checkpoint.parent.parent / "analysis.json"
    if checkpoint.parent.name == "checkpoints" and analysis.is_file():
        import json

        try:
            recorded = json.loads(analysis.read_text(encoding="utf-8"))["profile"]["dataset"]
        except (ValueError, KeyError, TypeError):
            recorded = None
        if recorded and Path(recorded).exists():
            return Path(recorded)
    if config.data.dataset_path:
        return Path(config.data.dataset_path)
    from smart_tuner.resolve import demo_corpus_path

    return demo_corpus_path(language)


def choose_vocoder(loaded: LoadedModel, wanted: str | None) -> Any:
    """One vocoder for every sentence (the config's `synthesis` choice, or --vocoder)."""
    from smart_tuner.model.vocoder import VocoderError
    from smart_tuner.model.vocoder import choose_vocoder as choose
    from smart_tuner.synthesize import SynthesisError

    synthesis = loaded.config.synthesis
    if wanted:
        synthesis = synthesis.model_copy(update={"vocoder": wanted})
    try:
        return choose(loaded.config.audio, synthesis)
    except VocoderError as exc:
        raise SynthesisError(str(exc)) from exc


def evaluate_checkpoint(
    checkpoint: Path,
    dataset: str | None,
    console: Console,
    *,
    n: int = DEFAULT_N,
    out: Path | None = None,
    json_path: Path | None = None,
    vocoder: str | None = None,
    split: str = "validation",
    seed: int = 0,
    device: str = "auto",
) -> Evaluation:
    """Evaluate, print the tables and write the JSON; the building block for `auto`/reports."""
    from smart_tuner.evaluate.evaluation import evaluate
    from smart_tuner.evaluate.report import print_evaluation, write_json
    from smart_tuner.evaluate.selection import held_out
    from smart_tuner.synthesize import SynthesisError, load_model

    loaded = load_model(checkpoint, device)
    corpus = resolve_dataset(dataset, loaded.config, loaded.frontend.language, checkpoint)
    selection = held_out(corpus, loaded.config, n, seed, split)
    if not selection.utterances:
        raise SynthesisError(f"{corpus}: no {split} utterances to evaluate")
    out = out or default_out(checkpoint)
    console.print(
        f"Evaluating {checkpoint} (epoch {loaded.epoch}) on {len(selection.utterances)} "
        f"{split} sentences of {corpus} (seed {seed}); audio in {out / 'audio'}"
    )
    evaluation = evaluate(
        loaded,
        selection,
        out / "audio",
        vocoder=choose_vocoder(loaded, vocoder),
        seed=seed,
        checkpoint=str(checkpoint),
        progress=lambda line: console.print(f"  {line}", highlight=False),
    )
    print_evaluation(evaluation, console)
    written = write_json(evaluation, json_path or out / "evaluation.json")
    console.print(f"Wrote {written}")
    return evaluation


def evaluate_run(run_dir: Path, dataset: str | None, console: Console, n: int = DEFAULT_N) -> dict:
    """RUN_DIR/evaluation/evaluation.json for the run's best (else last) checkpoint."""
    checkpoints = Path(run_dir) / "checkpoints"
    best = checkpoints / "best.pt"
    checkpoint = best if best.exists() else checkpoints / "last.pt"
    return evaluate_checkpoint(checkpoint, dataset, console, n=n).to_dict()


def run(args: argparse.Namespace, console: Console) -> int:
    evaluate_checkpoint(
        Path(args.checkpoint),
        args.dataset,
        console,
        n=args.n,
        out=Path(args.out) if args.out else None,
        json_path=Path(args.json) if args.json else None,
        vocoder=args.vocoder,
        split=args.split,
        seed=args.seed,
        device=args.device,
    )
    return 0

"""Command line: thin parsing, then one pipeline function per command."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from smart_tuner import __version__
from smart_tuner.config import Config, ConfigError, load_config
from smart_tuner.events import StopReason
from smart_tuner.exit_codes import ExitCode, UserError
from smart_tuner.resolve import dataset_for, default_config_path, demo_corpus_path
from smart_tuner.run_lock import RunFolderLocked, RunLock

console = Console(highlight=False)

DEMO_MAX_MINUTES = 20.0
# Unseen, and as long as the demo corpus's sentences (35-59 characters, 2-4 s): a model
# trained for minutes on 11 minutes of speech does not carry over to sentences longer than
# any it heard (word error rate 0.9-1.4 on 70-81 characters, 0.5-1.0 within the range).
DEMO_SENTENCES = (
    "A gentle breeze carried the smell of fresh bread.",
    "Please water the tomatoes before the train leaves.",
    "Every student brought a yellow notebook to class.",
)
NOT_YET: dict[str, str] = {}


def resolve_config(
    args: argparse.Namespace, overrides: dict[str, Any], *, announce: bool = True
) -> Config:
    """The config file merged with the flags; `announce=False` keeps stdout machine-readable."""
    path = default_config_path(getattr(args, "config", None))
    config = load_config(path, overrides)
    if announce:
        console.print(f"Config: {path or 'built-in defaults'}")
    return config


def resolve_dataset(given: str | None, config: Config) -> Path:
    return dataset_for(given, config, console)


def demo_overrides(max_minutes: float | None, epochs: int | None) -> dict[str, Any]:
    """The demo recipe: the `small` preset and training settings that align fast on a CPU."""
    return {
        "model.preset": "small",
        "training.max_minutes": max_minutes if max_minutes is not None else DEMO_MAX_MINUTES,
        "training.epochs": epochs,
    }


def default_run_dir(prefix: str) -> Path:
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


# ---------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    from smart_tuner.train import distributed_command as multi
    from smart_tuner.train.loop import train

    if args.nproc and not multi.under_torchrun():  # --nproc N: torchrun, started for the user
        out = Path(args.out) if args.out else default_run_dir("train")
        return multi.launch(args.argv, args.nproc, out, console)
    overrides = {
        "training.epochs": args.epochs,
        "training.batch_size": args.batch_size,
        "training.max_minutes": args.max_minutes,
        "model.preset": args.preset,
    }
    main_rank = multi.Ranks.from_env().is_main
    config = resolve_config(args, overrides, announce=main_rank)
    if multi.Ranks.from_env().enabled:
        summary = multi.train_on_ranks(args, config, lambda c: prepare_run(args, c), console)
        if main_rank:
            from smart_tuner.report.command import report_after_run

            report_after_run(Path(summary["run_dir"]), console)
        return (
            ExitCode.INTERRUPTED
            if summary["stop_reason"] == StopReason.INTERRUPTED
            else ExitCode.OK
        )
    config, run_params, dataset, out = prepare_run(args, config)
    summary = train(
        config,
        dataset,
        out,
        resume=args.resume,
        warm_start_path=Path(args.warm_start) if args.warm_start else None,
        console=console,
        track=not args.no_track,
        run_params=run_params,
    )
    from smart_tuner.report.command import report_after_run

    report_after_run(out, console)
    return ExitCode.INTERRUPTED if summary["stop_reason"] == StopReason.INTERRUPTED else ExitCode.OK


def prepare_run(
    args: argparse.Namespace, config: Config
) -> tuple[Config, dict[str, Any], Path, Path]:
    """The dataset and run folder, the folder checked free, the epochs planned."""
    dataset = resolve_dataset(args.dataset, config)
    out = Path(args.out) if args.out else default_run_dir("train")
    RunLock(out).check()  # refuse a busy folder before the analysis, not after it
    config, run_params = plan_epochs(config, dataset, console, resumed=args.resume, save_to=out)
    return config, run_params, dataset, out


def plan_epochs(
    config: Config,
    dataset: Path,
    console: Console,
    resumed: bool = False,
    save_to: Path | None = None,
) -> tuple[Config, dict[str, Any]]:
    """S6/S7: analyse and recommend epochs unless --epochs (or config) fixes them; `save_to`
    (a run folder) keeps the analysis for the run's report."""
    from smart_tuner.analysis.report import format_summary
    from smart_tuner.data.hygiene import with_analysis_drops
    from smart_tuner.pipeline import recommend_for

    rec = recommend_for(dataset, config, console)
    console.print(format_summary(rec.profile, rec.plan))
    if save_to is not None:
        from smart_tuner.report import save_analysis

        save_analysis(save_to, rec, config)
    config = with_analysis_drops(config, rec.profile.problems)
    if config.data.analysis_drops:
        console.print(
            "Files the analysis gives a 'drop' verdict are left out of training, each listed "
            "below with its reason (data.apply_analysis: false keeps them)."
        )
    if config.training.epochs is not None or resumed:
        if config.training.epochs is not None:
            console.print(f"Epochs set by hand: {config.training.epochs} (S7).")
        return config, rec.run_params
    training = config.training.model_copy(update={"epochs": int(rec.plan.epochs)})
    return config.model_copy(update={"training": training}), rec.run_params


def cmd_synthesize(args: argparse.Namespace) -> int:
    from smart_tuner.synthesize import load_model, synthesize

    loaded = load_model(Path(args.checkpoint), args.device)
    if args.vocoder:
        synthesis = loaded.config.synthesis.model_copy(update={"vocoder": args.vocoder})
        loaded.config = loaded.config.model_copy(update={"synthesis": synthesis})
    result = synthesize(loaded, args.text, Path(args.out), seed=args.seed)
    return report_synthesis(result)


def report_synthesis(result: Any) -> int:
    console.print(f"Alignment: {result.alignment_png}   mel: {result.mel_png}")
    console.print(
        f"attention_score {result.attention_score:.3f}  diagonality {result.diagonality:.3f}  "
        f"decoder steps {result.decoder_steps}"
    )
    if not result.reached_stop:
        console.print(
            "[red]The decoder never predicted the end of the sentence "
            f"(stopped at the limit of {result.decoder_steps} steps), so no WAV was written: "
            "the model has not learned to align and stop yet. Train longer, or look at the "
            "alignment PNG above.[/red]"
        )
        return 3
    if result.stop_cause == "attention_end":
        console.print(
            "[yellow]The stop gate did not fire; the utterance was ended because attention "
            "rested on the last symbol. Training longer teaches the gate.[/yellow]"
        )
    console.print(f"Vocoder: {result.vocoder}")
    console.print(f"Wrote {result.wav_path} ({result.seconds:.2f} s; how: its .json).")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from smart_tuner.synthesize import load_model, synthesize
    from smart_tuner.train.loop import train

    max_minutes = args.max_minutes if args.max_minutes is not None else DEMO_MAX_MINUTES
    dataset = demo_corpus_path("en")
    out = Path(args.out) if args.out else default_run_dir("demo")
    config = resolve_config(args, demo_overrides(max_minutes, args.epochs))
    config, run_params = plan_epochs(config, dataset, console, resumed=args.resume, save_to=out)
    console.print(
        f"[bold]Smart Tuner demo[/bold]: training the `small` Tacotron2 on the embedded "
        f"English corpus for at most {max_minutes:g} minutes (--max-minutes to change), "
        f"then synthesizing a sentence it never saw. Run folder: {out}"
    )
    summary = train(
        config,
        dataset,
        out,
        resume=args.resume,
        console=console,
        track=True,
        run_params=run_params,
    )
    if summary["stop_reason"] == StopReason.INTERRUPTED:
        return 130
    loaded = load_model(Path(summary["checkpoint"]))
    corpus_text = (dataset / "metadata.csv").read_text(encoding="utf-8").lower()
    sentence = next(s for s in DEMO_SENTENCES if s.lower().rstrip(".") not in corpus_text)
    console.print(f"Synthesizing an unseen sentence: {sentence!r}")
    result = synthesize(loaded, sentence, out / "demo_unseen.wav")
    code = report_synthesis(result)
    if code == 0 and result.wav_path is not None:
        report_listening(sentence, result.wav_path, dataset)
    from smart_tuner.report.command import report_after_run

    report_after_run(out, console)
    return code


def report_listening(sentence: str, wav_path: Path, corpus: Path | None = None) -> None:
    """Listen by numbers: what an offline English recogniser hears in the synthesized WAV,
    and DNSMOS's estimate of how natural it sounds (beside the corpus's own recordings')."""
    import soundfile as sf

    from smart_tuner.listen import listen_to, mos_of

    wav, rate = sf.read(wav_path, dtype="float32")
    heard = listen_to(wav, rate, sentence)
    console.print(f"Listening: {heard.describe()} (0% WER = every word right)")
    recordings = sorted((corpus / "wavs").glob("*"))[:3] if corpus else []
    scores = [mos_of(*sf.read(p, dtype="float32"))[0] for p in recordings]
    if heard.mos_overall is not None and scores and None not in scores:
        console.print(
            f"The corpus's own recordings: DNSMOS overall {sum(scores) / len(scores):.2f} "
            f"(first {len(scores)}); benchmarks/intelligibility.py compares in depth."
        )


def cmd_history(args: argparse.Namespace) -> int:
    from smart_tuner.track._util import resolve_path
    from smart_tuner.track.history_command import print_history

    config = resolve_config(args, {}, announce=not args.json)
    return print_history(resolve_path(config.tracking.history.path), console, as_json=args.json)


def cmd_ui(args: argparse.Namespace) -> int:
    from smart_tuner.track.ui import launch_ui

    config = resolve_config(args, {})
    return launch_ui(config, Path(args.runs), console=console)


def cmd_replay(args: argparse.Namespace) -> int:
    from smart_tuner.control import replay_run

    run_dir = Path(args.run_dir)
    if not (run_dir / "metrics.jsonl").is_file():
        raise UserError(f"{run_dir} holds no metrics.jsonl to replay")
    console.print(replay_run(run_dir, Path(args.config) if args.config else None), highlight=False)
    return 0


def cmd_not_yet(args: argparse.Namespace) -> int:
    console.print(
        f"[yellow]`smart-tuner {args.command}` ({NOT_YET[args.command]}) is not available yet "
        f"in this version.[/yellow] Available now: {args.available}."
    )
    return ExitCode.BAD_INPUT


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smart-tuner",
        description="An autopilot for training Tacotron2 text-to-speech models.",
    )
    parser.add_argument("--version", action="version", version=f"smart-tuner {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="train on the embedded demo corpus, then speak")
    demo.add_argument("--out", help="run folder (default runs/demo-TIMESTAMP)")
    demo.add_argument("--max-minutes", type=float, help=f"default {DEMO_MAX_MINUTES:g}")
    demo.add_argument("--epochs", type=int, help="stop after this many epochs")
    demo.add_argument("--config", help="config.yaml (default ./config.yaml if present)")
    demo.add_argument("--resume", action="store_true", help="continue the run in --out")
    demo.set_defaults(func=cmd_demo)

    tr = sub.add_parser("train", help="train Tacotron2 on a corpus")
    tr.add_argument("dataset", nargs="?", help="LJSpeech-style folder or path|text filelist")
    tr.add_argument("--out", help="run folder (default runs/train-TIMESTAMP)")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--preset", choices=["small", "base"])
    tr.add_argument("--config", help="config.yaml (default ./config.yaml if present)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.add_argument("--warm-start", help="initialise from a checkpoint (NVIDIA's or ours)")
    tr.add_argument("--max-minutes", type=float, help="stop gracefully after this wall time")
    tr.add_argument("--no-track", action="store_true", help="no MLflow/TensorBoard/history")
    tr.add_argument(
        "--nproc",
        "--gpus",
        type=int,
        metavar="N",
        help="train with N processes on this machine (one per GPU; torchrun, started for you)",
    )
    tr.set_defaults(func=cmd_train)

    from smart_tuner import analyze_command

    an = sub.add_parser("analyze", help="dataset analysis and epoch recommendation")
    analyze_command.add_arguments(an)
    an.set_defaults(func=lambda args: analyze_command.run(args, console))

    from smart_tuner.evaluate import command as evaluate_command

    ev = sub.add_parser("evaluate", help="is the voice good? held-out sentences, scored")
    evaluate_command.add_arguments(ev)
    ev.set_defaults(func=lambda args: evaluate_command.run(args, console))

    from smart_tuner.search import command as optimize_command

    opt = sub.add_parser("optimize", help="hyperparameter search (Optuna), on many machines")
    optimize_command.add_arguments(opt)
    opt.set_defaults(func=lambda args: optimize_command.run(args, console))

    from smart_tuner.report import command as report_command

    rep = sub.add_parser("report", help="one self-contained HTML page about a run")
    report_command.add_arguments(rep)
    rep.set_defaults(func=lambda args: report_command.run(args, console))

    from smart_tuner.auto import command as auto_command

    auto = sub.add_parser("auto", help="analyse, search, train, evaluate, report: all in one")
    auto_command.add_arguments(auto)
    auto.set_defaults(func=lambda args: auto_command.run(args, console))

    rp = sub.add_parser("replay", help="what the controller decides on a recorded run")
    rp.add_argument("run_dir", help="a run folder (its metrics.jsonl is replayed)")
    rp.add_argument("--config", help="thresholds to try (default: the run's own config.yaml)")
    rp.set_defaults(func=cmd_replay)

    hist = sub.add_parser("history", help="past runs and what they taught the recommendation")
    hist.add_argument("--json", action="store_true", help="print JSON instead of a table")
    hist.add_argument("--config", help="config.yaml (default ./config.yaml if present)")
    hist.set_defaults(func=cmd_history)

    ui = sub.add_parser("ui", help="start MLflow UI and TensorBoard on 127.0.0.1")
    ui.add_argument("--runs", default="runs", help="folder holding run folders (TensorBoard)")
    ui.add_argument("--config", help="config.yaml (default ./config.yaml if present)")
    ui.set_defaults(func=cmd_ui)

    syn = sub.add_parser("synthesize", help="text to WAV with a trained checkpoint")
    syn.add_argument("--checkpoint", required=True)
    syn.add_argument("--text", required=True)
    syn.add_argument("--out", required=True, help="output WAV; PNGs are written beside it")
    syn.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--vocoder", choices=["auto", "hifigan", "griffin_lim"])
    syn.set_defaults(func=cmd_synthesize)

    from smart_tuner import vocode

    voc = sub.add_parser("vocode", help="copy-synthesis: recordings -> mel -> vocoder -> WAVs")
    vocode.add_arguments(voc)
    voc.set_defaults(
        func=lambda a: vocode.run(a, resolve_config(a, vocode.synthesis_overrides(a)), console)
    )

    available = ", ".join(n for n in sub.choices if n not in NOT_YET)
    for name, what in NOT_YET.items():
        p = sub.add_parser(
            name,
            help=f"{what} (not available yet)",
            description=f"{what}: not available in this version yet. Available now: {available}.",
        )
        p.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
        for flag, kind in (
            ("--trials", int),
            ("--dataset", str),
            ("--epochs", int),
            ("--batch-size", int),
            ("--config", str),
            ("--out", str),
            ("--max-minutes", float),
        ):
            p.add_argument(flag, type=kind, help=argparse.SUPPRESS)
        p.set_defaults(func=cmd_not_yet, available=available)
    return parser


def run_command(func: Any, args: argparse.Namespace) -> int:
    """Run one command, turning every expected failure into a clear message and exit code."""
    from smart_tuner.data import CorpusError
    from smart_tuner.runtime.checkpoint import CheckpointError
    from smart_tuner.runtime.distributed import RanksLost
    from smart_tuner.synthesize import SynthesisError
    from smart_tuner.train.loop import TrainingError

    previous = _sigterm_as_interrupt()
    try:
        return int(func(args))
    except ConfigError as exc:
        console.print(f"[red]Configuration error[/red]\n{escape(str(exc))}")
        return ExitCode.BAD_INPUT
    except (CorpusError, TrainingError, CheckpointError, SynthesisError, UserError) as exc:
        console.print(f"[red]Error:[/red] {escape(str(exc))}")
        return ExitCode.BAD_INPUT
    except RanksLost as exc:
        console.print(f"[red]Error:[/red] {escape(str(exc))}")
        return ExitCode.FAILED
    except RunFolderLocked as exc:
        console.print(f"[red]Error:[/red] {escape(str(exc))}")
        return ExitCode.FOLDER_IN_USE
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/yellow]")
        return ExitCode.INTERRUPTED
    except OSError as exc:  # disk full, permissions, a vanished folder: say which file
        console.print(f"[red]Error:[/red] {escape(describe_os_error(exc))}")
        return ExitCode.FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _sigterm_as_interrupt() -> Any:
    """SIGTERM (docker stop, a job scheduler, `kill`) stops a command the way Ctrl-C does:
    a training run saves its checkpoint and exits 130. Returns the handler it replaced."""
    try:
        return signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: leave signals alone
        return None


def describe_os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return (
            f"the disk is full{where}: nothing was left half-written (checkpoints are replaced "
            "atomically, the previous one is intact); free some space and run again "
            "(--resume continues a training run)"
        )
    return f"{exc.strerror or exc}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())

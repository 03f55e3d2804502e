"""An interrupted evaluation continues: sentences measured before the interruption are kept,
only for the same checkpoint and setting, and the result equals an uninterrupted one."""

import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from smart_tuner.evaluate.command import evaluate_checkpoint
from smart_tuner.runtime.checkpoint import load_checkpoint, save_checkpoint
from smart_tuner.train.loop import train
from tests.helpers import make_corpus, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate_resume")
    corpus = make_corpus(root / "corpus", n=12)
    run = root / "run"
    train(tiny_config(root / "cache", epochs=1), corpus, run)
    # an untrained decoder never stops (no WAV); one whose stop gate fires at once speaks
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    state["model"]["decoder.gate_layer.linear_layer.bias"].fill_(100.0)
    save_checkpoint(state, root / "speaks.pt")
    return corpus, root / "speaks.pt"


class Interrupt(BaseException):
    """Stands for Ctrl-C or a kill arriving while the third sentence is being spoken."""


def run(checkpoint: Path, corpus: Path, out: Path, seed: int = 0, stop_at: int = 0) -> tuple:
    console = Console(record=True, width=200)
    lines: list[str] = []
    original = console.print

    def spy(*args, **kwargs):
        text = " ".join(str(a) for a in args)
        lines.append(text)
        if stop_at and text.strip().startswith(f"[{stop_at}/"):
            raise Interrupt
        original(*args, **kwargs)

    console.print = spy  # type: ignore[method-assign]
    evaluation = evaluate_checkpoint(
        checkpoint,
        str(corpus),
        console,
        n=4,
        out=out,
        vocoder="griffin_lim",
        seed=seed,
        split="all",
    )
    return evaluation, lines


def test_an_interrupted_evaluation_continues_and_matches_an_uninterrupted_one(trained, tmp_path):
    corpus, checkpoint = trained
    out = tmp_path / "ev"
    with pytest.raises(Interrupt):
        run(checkpoint, corpus, out, stop_at=3)
    first_wav = sorted(out.glob("audio/*.wav"))[0]
    spoken_at = first_wav.stat().st_mtime_ns

    resumed, lines = run(checkpoint, corpus, out)
    kept = [line for line in lines if "earlier, interrupted run" in line]
    assert len(kept) == 2  # sentences 1 and 2 finished before the interruption
    assert first_wav.stat().st_mtime_ns == spoken_at  # not spoken again

    fresh, _ = run(checkpoint, corpus, tmp_path / "fresh")
    assert len(resumed.sentences) == len(fresh.sentences) == 4
    for a, b in zip(resumed.sentences, fresh.sentences, strict=True):
        numbers = {k: v for k, v in a.items() if isinstance(v, float)}
        assert numbers == pytest.approx({k: b[k] for k in numbers}, rel=1e-5, abs=1e-6)
    written = json.loads((out / "evaluation.json").read_text())
    assert [s["id"] for s in written["sentences"]] == [s["id"] for s in fresh.sentences]


def test_kept_sentences_count_only_for_the_same_checkpoint_and_seed(trained, tmp_path):
    corpus, checkpoint = trained
    out = tmp_path / "ev"

    def kept(seed: int) -> int:
        _, lines = run(checkpoint, corpus, out, seed=seed)
        return sum("earlier, interrupted run" in line for line in lines)

    assert kept(1) == 0
    assert kept(1) == 4
    stat = checkpoint.stat()  # the same file written again by more training
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert kept(1) == 0
    assert kept(1) == 4
    assert kept(2) == 0

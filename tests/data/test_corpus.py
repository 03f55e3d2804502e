"""Corpus discovery: broken entries are skipped with reasons, the rest is used."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from smart_tuner.config import AudioConfig, DataConfig
from smart_tuner.data import (
    AudioError,
    CorpusError,
    MelCache,
    Utterance,
    load_audio,
    load_corpus,
    split_train_val,
)


def tone(seconds: float, sr: int, channels: int = 1, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    wav = 0.3 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([wav] * channels, axis=1) if channels > 1 else wav


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with its size and mtime: proves nothing was written there."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """An LJSpeech folder with every kind of problem next to three good utterances."""
    root = tmp_path / "ds"
    wavs = root / "wavs"
    wavs.mkdir(parents=True)
    sf.write(wavs / "good1.wav", tone(0.5, 22050), 22050)
    sf.write(wavs / "good2.flac", tone(0.6, 16000), 16000)  # found through the .flac fallback
    sf.write(wavs / "stereo.wav", tone(0.5, 44100, channels=2), 44100)
    sf.write(wavs / "empty_text.wav", tone(0.5, 22050), 22050)
    (wavs / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200))
    sf.write(tmp_path / "outside.wav", tone(0.5, 22050), 22050)
    lines = [
        "good1|Hello there.|Hello there, normalized.",
        "good2|Second one.|",
        "stereo|Stereo file.",
        "missing|This file does not exist.",
        "empty_text|   ",
        "../../outside|Escapes the dataset.",  # wavs/../../outside.wav
        "corrupt|Broken audio.",
        "no pipe on this line",
        "good1|Duplicate id.",
    ]
    body = "\n".join(lines).encode() + b"\nbadenc|caf\xe9 in latin-1\n"
    (root / "metadata.csv").write_bytes(b"\xef\xbb\xbf" + body)  # with a BOM
    return root


def test_messy_corpus_keeps_usable_and_reports_each_problem(messy: Path, tmp_path: Path) -> None:
    before = listing(messy)
    corpus = load_corpus(messy)
    assert corpus.layout == "ljspeech"
    assert [e.id for e in corpus.entries] == ["good1", "good2", "stereo"]
    assert corpus.entries[0].text == "Hello there, normalized."  # normalized column wins
    assert corpus.entries[1].text == "Second one."  # empty normalized column: raw text
    assert corpus.entries[1].audio_path.suffix == ".flac"

    reasons = {s.item.split(" ")[0]: s.reason for s in corpus.skipped}
    assert "audio file not found" in reasons["metadata.csv:4"]
    assert reasons["metadata.csv:5"] == "empty text"
    assert "path leaves the dataset folder" in reasons["metadata.csv:6"]
    assert "unreadable or not audio" in reasons["metadata.csv:7"]
    assert "malformed line" in reasons["metadata.csv:8"]
    assert "duplicate id" in reasons["metadata.csv:9"]
    assert "not valid UTF-8" in reasons["metadata.csv:10"]
    assert len(corpus.skipped) == 7

    report = corpus.report()
    assert "3 usable" in report and "7 skipped" in report
    for skipped in corpus.skipped:
        assert skipped.reason in report
    as_dict = corpus.to_dict()
    assert as_dict["n_entries"] == 3 and len(as_dict["skipped"]) == 7

    # The stereo 44.1 kHz file loads as mono at 22.05 kHz.
    stereo = load_audio(corpus.entries[2].audio_path, 22050)
    assert stereo.ndim == 1 and stereo.dtype == np.float32
    assert abs(stereo.size - 0.5 * 22050) <= 2
    assert np.max(np.abs(stereo)) <= 1.0

    cache = MelCache(AudioConfig(), tmp_path / "cache")
    frames = cache.precompute(corpus.entries, progress=False)
    assert set(frames) == {"good1", "good2", "stereo"}
    assert listing(messy) == before  # loading and caching wrote nothing in the dataset


def test_duration_limits_apply_with_a_data_config(messy: Path) -> None:
    cfg = DataConfig(min_seconds=0.55, max_seconds=20.0)
    corpus = load_corpus(messy, cfg)
    assert [e.id for e in corpus.entries] == ["good2"]
    reasons = [s.reason for s in corpus.skipped]
    assert sum(r.startswith("too short") for r in reasons) == 2
    corpus = load_corpus(messy, DataConfig(min_seconds=0.0, max_seconds=0.55))
    assert [e.id for e in corpus.entries] == ["good1", "stereo"]
    assert any(r.startswith("too long") for r in (s.reason for s in corpus.skipped))


def test_filelist_file_and_folder(tmp_path: Path) -> None:
    root = tmp_path / "fl"
    (root / "audio").mkdir(parents=True)
    sf.write(root / "audio" / "a.wav", tone(0.4, 16000), 16000)
    sf.write(root / "audio" / "b.flac", tone(0.4, 16000), 16000)
    sf.write(tmp_path / "secret.wav", tone(0.4, 16000), 16000)
    absolute = (root / "audio" / "b.flac").resolve()
    (root / "filelist.txt").write_text(
        "audio/a.wav|First sentence.\n"
        f"{absolute}|Second sentence.|speaker7\n"
        "../secret.wav|Outside.\n"
        f"{(tmp_path / 'secret.wav').resolve()}|Absolute but outside.\n"
        "audio/none.wav|Missing.\n",
        encoding="utf-8",
    )
    for target in (root / "filelist.txt", root):
        corpus = load_corpus(target)
        assert corpus.layout == "filelist"
        assert corpus.root == root.resolve()
        assert [e.text for e in corpus.entries] == ["First sentence.", "Second sentence."]
        reasons = [s.reason for s in corpus.skipped]
        assert sum("path leaves the dataset folder" in r for r in reasons) == 2
        assert any("audio file not found" in r for r in reasons)


def test_symlink_leaving_the_dataset_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    (root / "wavs").mkdir(parents=True)
    sf.write(root / "wavs" / "ok.wav", tone(0.4, 16000), 16000)
    sf.write(tmp_path / "elsewhere.wav", tone(0.4, 16000), 16000)
    (root / "wavs" / "link.wav").symlink_to(tmp_path / "elsewhere.wav")
    (root / "metadata.csv").write_text("ok|fine\nlink|linked out\n", encoding="utf-8")
    corpus = load_corpus(root)
    assert [e.id for e in corpus.entries] == ["ok"]
    assert "path leaves the dataset folder" in corpus.skipped[0].reason


def test_errors_name_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file or folder.*metadata.csv"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no metadata.csv"):
        load_corpus(tmp_path / "empty")
    bad = tmp_path / "bad"
    (bad / "wavs").mkdir(parents=True)
    (bad / "metadata.csv").write_text("x|missing audio\ny|\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no usable utterances") as err:
        load_corpus(bad)
    assert "audio file not found" in str(err.value) and "empty text" in str(err.value)


def test_load_audio_errors_are_audio_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "none.wav", 16000)
    with pytest.raises(AudioError, match="not audio"):
        load_audio(tmp_path / "junk.wav", 16000)
    with pytest.raises(AudioError, match="empty"):
        load_audio(tmp_path / "empty.wav", 16000)


def utterances(n: int) -> list[Utterance]:
    return [Utterance(f"utt{i:04d}", Path(f"/x/{i}.wav"), f"text {i}") for i in range(n)]


def test_split_is_deterministic_and_order_independent() -> None:
    items = utterances(200)
    train, val = split_train_val(items, 0.05, 4, seed=1)
    assert len(val) == 10 and len(train) == 190
    assert {e.id for e in train}.isdisjoint({e.id for e in val})
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)
    train2, val2 = split_train_val(shuffled, 0.05, 4, seed=1)
    assert [e.id for e in val2] == [e.id for e in val]
    assert [e.id for e in train2] == [e.id for e in train]
    _, val3 = split_train_val(items, 0.05, 4, seed=2)
    assert {e.id for e in val3} != {e.id for e in val}


def test_split_minimum_validation_items() -> None:
    train, val = split_train_val(utterances(20), 0.05, 4, seed=0)
    assert len(val) == 4 and len(train) == 16
    train, val = split_train_val(utterances(6), 0.05, 4, seed=0)  # too small for 4
    assert len(val) == 1 and len(train) == 5
    train, val = split_train_val(utterances(1), 0.05, 4, seed=0)
    assert len(val) == 0 and len(train) == 1

"""Metadata lines the layout does not allow, text the front-end cannot speak, empty audio, and
the analysis's drop verdicts applied by the corpus loader; property tests for line parsing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smart_tuner.analysis.profile import Problem
from smart_tuner.config import Config, DataConfig
from smart_tuner.data import AudioError, audio_info, load_corpus
from smart_tuner.data.hygiene import drop_reasons, with_analysis_drops


def tone(seconds: float = 0.6, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def ljspeech(root: Path, lines: list[str], ids: list[str]) -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    for uid in ids:
        sf.write(root / "wavs" / f"{uid}.wav", tone(), 16000)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def reasons(corpus) -> dict[str, str]:
    return {s.item: s.reason for s in corpus.skipped}


def test_more_columns_than_the_layout_allows_is_an_error_for_that_line(tmp_path):
    root = ljspeech(
        tmp_path / "ds",
        ["a|The cat.|the cat.", "b|The cat|extra|more", "c|Trailing bar.|", "d|Two bars.||"],
        ["a", "b", "c", "d"],
    )
    corpus = load_corpus(root)
    assert [e.id for e in corpus.entries] == ["a", "c", "d"]
    assert [e.text for e in corpus.entries] == ["the cat.", "Trailing bar.", "Two bars."]
    ((item, reason),) = reasons(corpus).items()
    assert item.startswith("metadata.csv:2")
    assert "4 columns" in reason and "at most 3 (id|text|normalized text)" in reason


def test_filelist_takes_a_speaker_column_but_not_a_fourth(tmp_path):
    sf.write(tmp_path / "a.wav", tone(), 16000)
    sf.write(tmp_path / "b.wav", tone(), 16000)
    (tmp_path / "list.txt").write_text("a.wav|Hello.|3\nb.wav|Hi|4|x\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "list.txt")
    assert [e.text for e in corpus.entries] == ["Hello."]
    assert "at most 3 (path|text|speaker id)" in corpus.skipped[0].reason


def test_text_with_no_speakable_symbol_is_skipped_with_its_reason(tmp_path):
    root = ljspeech(
        tmp_path / "ds",
        ["a|Fine text.", "b|😀😀 🎉", "c|你好世界", "d|!!! ...", "e|42"],
        list("abcde"),
    )
    corpus = load_corpus(root)
    assert [e.id for e in corpus.entries] == ["a", "e"]  # digits are spoken as words
    found = reasons(corpus)
    assert len(found) == 3
    assert all("empty text after the text front-end" in r for r in found.values())


def test_zero_byte_audio_is_an_empty_file(tmp_path):
    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty file \(0 bytes\)"):
        audio_info(tmp_path / "zero.wav")
    root = ljspeech(tmp_path / "ds", ["a|One.", "zero|Two."], ["a"])
    (root / "wavs" / "zero.wav").write_bytes(b"")
    assert "empty file (0 bytes)" in load_corpus(root).skipped[0].reason


def test_analysis_drop_verdicts_leave_files_out_with_their_reason(tmp_path):
    root = ljspeech(tmp_path / "ds", ["a|One.", "b|Two.", "c|Three."], ["a", "b", "c"])
    problems = [
        Problem("b", "silent", "no speech found (level -90 dBFS)", "drop"),
        Problem("b", "clipped", "3% of samples at full scale", "drop"),
        Problem("c", "stereo", "2 channels", "fix"),
    ]
    config = with_analysis_drops(Config(), problems)
    corpus = load_corpus(root, config.data)
    assert [e.id for e in corpus.entries] == ["a", "c"]
    reason = reasons(corpus)["metadata.csv:2 (b)"]
    assert "silent: no speech found" in reason and "clipped: 3%" in reason
    assert "data.apply_analysis" in reason
    # switched off: trained on; and the list never goes into a written config
    off = Config.model_validate({"data": {"apply_analysis": False}})
    assert with_analysis_drops(off, problems).data.analysis_drops == {}
    assert "analysis_drops" not in config.model_dump()["data"]
    assert len(load_corpus(root, DataConfig()).entries) == 3


def test_drop_reasons_keep_only_drop_verdicts():
    problems = [Problem("x", "dc_offset", "DC +0.05", "fix"), Problem("y", "noisy", "SNR", "keep")]
    assert drop_reasons(problems) == {}


# ---------------------------------------------------------------- property tests

# Any Unicode but the separators of the format itself ('|', and the newlines that bytes split).
field_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="|\r\n"),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(field_text, st.text(max_size=40)), st.sampled_from(["en", "ru"]))
def test_a_kept_text_always_gives_the_model_a_symbol(text, language):
    """The loader's 'nothing speakable' rule agrees with the front-end: a text it keeps
    encodes to at least one symbol besides end-of-sentence, a text it skips to none."""
    from smart_tuner.data import TextFrontend
    from smart_tuner.data.corpus import _speakable

    frontend = TextFrontend.from_texts([text], language)
    letters = [ch for ch in frontend.normalize(text) if ch.isalnum()]
    assert _speakable(text) == bool(letters)
    if _speakable(text):
        assert len(frontend(text)) >= 2


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(field_text, min_size=1, max_size=5),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    trailing_bar=st.booleans(),
    extra=st.integers(min_value=0, max_value=3),
)
def test_any_metadata_parses_to_entries_or_reasons(
    tmp_path_factory, texts, newline, bom, trailing_bar, extra
):
    """Whatever the Unicode, line endings, BOM or trailing '|': no exception, every line is
    either an entry with its own text or skipped with a reason, and nothing is invented."""
    root = tmp_path_factory.mktemp("prop")
    (root / "wavs").mkdir()
    lines = []
    for i, text in enumerate(texts):
        sf.write(root / "wavs" / f"u{i}.wav", tone(), 16000)
        lines.append(f"u{i}|{text}" + "|x" * extra + ("|" if trailing_bar else ""))
    raw = newline.join(lines).encode("utf-8")
    (root / "metadata.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    try:
        corpus = load_corpus(root)
    except Exception as exc:  # only the documented "nothing usable" error is allowed
        assert type(exc).__name__ == "CorpusError" and "no usable utterances" in str(exc)
        return
    assert len(corpus.entries) + len(corpus.skipped) == len(texts)
    for entry in corpus.entries:
        i = int(entry.id[1:])
        if extra >= 2:
            raise AssertionError("a line with 4+ columns must not be trained on")
        expected = "x" if extra == 1 else texts[i].strip()
        assert entry.text == expected
        assert "\ufeff" not in entry.id
    for skipped in corpus.skipped:
        assert skipped.reason


# ---------------------------------------------------------------- the rest of the catalogue


def test_nan_samples_and_unsupported_formats_are_skipped_with_their_reason(tmp_path):
    from smart_tuner.config import AudioConfig
    from smart_tuner.data import MelCache

    root = ljspeech(tmp_path / "ds", ["a|One.", "nan|Two.", "mp3|Three."], ["a"])
    wav = tone()
    wav[100] = np.nan
    sf.write(root / "wavs" / "nan.wav", wav, 16000, subtype="FLOAT")
    (root / "wavs" / "mp3.wav").write_bytes(b"ID3\x03\x00\x00\x00" + bytes(300))  # not WAV
    corpus = load_corpus(root)
    assert "unreadable or not audio" in reasons(corpus)["metadata.csv:3 (mp3)"]
    cache = MelCache(AudioConfig(sampling_rate=16000), tmp_path / "cache")
    frames = cache.precompute(corpus.entries, progress=False, skip_errors=True)
    assert set(frames) == {"a"}
    assert any("NaN or infinite" in s.reason for s in cache.failed)


def test_empty_or_missing_metadata_is_a_clear_error_with_exit_2(tmp_path, capsys):
    from smart_tuner.cli import main
    from smart_tuner.data import CorpusError

    root = ljspeech(tmp_path / "ds", [], [])
    (root / "metadata.csv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no utterances found"):
        load_corpus(root)
    assert main(["analyze", str(root)]) == 2
    (root / "metadata.csv").unlink()
    assert main(["train", str(root), "--out", str(tmp_path / "run")]) == 2
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "no metadata.csv and no 'path|text' filelist" in out and "Traceback" not in out

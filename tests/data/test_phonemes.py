"""eSpeak NG phonemes as model input: IPA out, punctuation kept, clear failure without it."""

from __future__ import annotations

import functools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.data import phonemes as ph
from smart_tuner.data.text import TextFrontend, normalize_text

pytestmark = pytest.mark.skipif(
    not ph.resolve_phonemes("auto")[0], reason="eSpeak NG not loadable here"
)


def test_english_sentence_becomes_ipa_with_its_punctuation() -> None:
    ipa = ph.phonemize(normalize_text("The dog barked, then it ran!", "en"), "en")
    assert "ð" in ipa  # "the" is read, not spelled
    assert "," in ipa and ipa.endswith("!")
    assert "ˈ" in ipa  # stress marks survive
    assert not set("thedogbarked") <= set(ipa.replace(" ", ""))  # not the letters back


def test_russian_gets_stress_and_no_cyrillic() -> None:
    ipa = ph.phonemize(normalize_text("Хорошо, спасибо.", "ru"), "ru")
    assert "ˈ" in ipa
    assert not any("\u0400" <= ch <= "\u04ff" for ch in ipa)
    assert ipa.endswith(".") and "," in ipa


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="no phonemizer voice"):
        ph.phonemize("hola", "es")


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyz абвгдеёжзиклмнопрстуфхцчшщыьэюя,.!?-'", max_size=80
    )
)
def test_any_normalised_text_phonemizes_to_one_line(text: str) -> None:
    language = "ru" if any("а" <= ch <= "я" or ch == "ё" for ch in text) else "en"
    ipa = ph.phonemize(normalize_text(text, language), language)
    assert "\n" not in ipa and ipa == ipa.strip()
    assert "  " not in ipa


def test_concurrent_calls_agree_with_serial_ones() -> None:
    texts = [f"number {w} is here, and there." for w in ("one", "two", "three", "four")]
    expected = [ph.phonemize(t, "en") for t in texts]
    ph.phonemize.cache_clear()
    results: dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = ph.phonemize(texts[i % 4], "en")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(4)] == expected


def test_frontend_reads_phonemes_and_round_trips() -> None:
    texts = ["The cat sat.", "A dog ran home, fast."]
    frontend = TextFrontend.from_texts(texts, phonemes=True)
    assert frontend.phonemes and "ð" in "".join(frontend.symbols.symbols)
    assert frontend.unknown_chars(texts[0]) == set()
    again = TextFrontend.from_dict(frontend.to_dict())
    assert again == frontend and again("The cat sat.") == frontend("The cat sat.")
    letters = TextFrontend.from_texts(texts)
    assert letters.symbols != frontend.symbols and "ð" not in "".join(letters.symbols.symbols)


def test_old_checkpoints_without_the_key_read_letters() -> None:
    data = TextFrontend.from_texts(["abc."]).to_dict()
    del data["phonemes"]
    assert TextFrontend.from_dict(data).phonemes is False


def test_missing_library_auto_falls_back_and_on_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> tuple[str, str | None]:
        raise ph.PhonemizerUnavailable("eSpeak NG is not available: pip install espeakng-loader")

    # a fresh engine cache for this test; the process's loaded engine comes back after it
    monkeypatch.setattr(ph, "_loaded_engine", functools.lru_cache(maxsize=1)(ph._Espeak))
    monkeypatch.setattr(ph, "_locate", missing)
    use, note = ph.resolve_phonemes("auto")
    assert use is False and note is not None and "espeakng-loader" in note
    with pytest.raises(ph.PhonemizerUnavailable, match="espeakng-loader"):
        ph.resolve_phonemes("on")
    assert ph.resolve_phonemes("off") == (False, None)


def test_a_phoneme_run_saves_its_frontend_and_speaks(corpus, cache_dir, tmp_path) -> None:
    from smart_tuner.synthesize import load_model, synthesize
    from smart_tuner.train.loop import train
    from tests.helpers import tiny_config

    config = tiny_config(cache_dir, epochs=1)
    config.data.phonemes = "on"
    train(config, corpus, tmp_path / "run")
    loaded = load_model(tmp_path / "run" / "checkpoints" / "last.pt")
    assert loaded.frontend.phonemes
    assert "ˈ" in "".join(loaded.frontend.symbols.symbols)
    result = synthesize(loaded, "The cat sat.", tmp_path / "cat.wav")
    assert result.alignment_png.exists()

"""Text front-end: normalisation, number expansion, symbol table, serialisation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.data import (
    SymbolTable,
    TextFrontend,
    detect_language,
    is_allowed_char,
    normalize_text,
)

CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
MESSY = " \t\n.,!?;:'\"-()«»“”„—–…%$&#/@0123456789"

# Realistic transcripts (letters, digits, punctuation) plus arbitrary Unicode for robustness.
corpus_like = st.text(alphabet=st.sampled_from(CYRILLIC + LATIN + MESSY), max_size=80)
any_text = st.text(max_size=60)
texts = st.one_of(corpus_like, any_text)
languages = st.sampled_from(["en", "ru"])

SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(texts, languages, st.booleans(), st.booleans())
def test_normalize_is_idempotent_and_outputs_allowed_chars(
    text: str, language: str, fold_yo: bool, expand: bool
) -> None:
    once = normalize_text(text, language, fold_yo, expand)
    assert normalize_text(once, language, fold_yo, expand) == once
    assert all(is_allowed_char(ch) for ch in once)
    assert once == once.strip() and "  " not in once
    if expand:
        assert not any(ch.isdigit() for ch in once)  # every ordinary number is spoken
    if fold_yo:
        assert "ё" not in once


@SETTINGS
@given(st.text(alphabet=st.sampled_from(CYRILLIC + " "), min_size=1, max_size=40), languages)
def test_cyrillic_letters_survive_in_any_language(text: str, language: str) -> None:
    out = normalize_text(text, language)
    assert out.replace(" ", "") == text.lower().replace(" ", "")


@SETTINGS
@given(texts, languages, st.booleans())
def test_encode_decode_round_trip(text: str, language: str, fold_yo: bool) -> None:
    normalized = normalize_text(text, language, fold_yo)
    table = SymbolTable.from_texts([normalized])
    ids = table.encode(normalized)
    assert ids[-1] == table.eos_id and table.pad_id not in ids
    assert table.decode(ids) == normalized
    assert table.unknown_chars(normalized) == set()


@SETTINGS
@given(st.text(alphabet=st.sampled_from("ёЁеЕжик "), max_size=30))
def test_yo_handling_is_consistent(text: str) -> None:
    kept = normalize_text(text, "ru", fold_yo=False)
    folded = normalize_text(text, "ru", fold_yo=True)
    assert kept.count("ё") == text.lower().count("ё")
    assert "ё" not in folded
    assert folded == kept.replace("ё", "е")
    frontend = TextFrontend.from_texts([text], "ru", fold_yo=True)
    assert "ё" not in frontend.symbols.symbols
    assert frontend.symbols.decode(frontend(text)) == folded


@pytest.mark.parametrize(
    ("raw", "language", "expected"),
    [
        ("I have 3 cats", "en", "i have three cats"),
        ("5 кошек", "ru", "пять кошек"),
        ("It costs 3.5 dollars.", "en", "it costs three point five dollars."),
        ("The 1st and 2nd place, 23rd!", "en", "the first and second place, twenty-third!"),
        (
            "In 1999 there were 1,234 of us",
            "en",
            "in nineteen ninety-nine there were one thousand, two hundred and thirty-four of us",
        ),
        (
            "Mr. Smith met Dr. Who on St. James st.",
            "en",
            "mister smith met doctor who on saint james saint",
        ),
        ("He said “hi” — then left…", "en", "he said hi - then left..."),
        (
            "Ёлка: 21 шар, 3,5 метра!",
            "ru",
            "ёлка: двадцать один шар, три целых пять десятых метра!",
        ),
        ("50% of it", "en", "fifty percent of it"),
        ("Tom & Jerry", "en", "tom and jerry"),
        ("a/b  #tag", "en", "a b tag"),
        ("Привет, World!", "en", "привет, world!"),
    ],
)
def test_examples(raw: str, language: str, expected: str) -> None:
    assert normalize_text(raw, language) == expected


def test_numbers_can_be_left_alone() -> None:
    assert normalize_text("I have 3 cats", "en", expand_numbers=False) == "i have 3 cats"


def test_detect_language() -> None:
    assert detect_language(["Привет, как дела?", "Hi"]) == "ru"
    assert detect_language(["Hello there", "да"]) == "en"
    assert detect_language([]) == "en"


def test_symbol_table_layout_and_unknowns() -> None:
    table = SymbolTable.from_texts(["ba c", "a!"])
    assert table.symbols == ["_", "~", " ", "!", "a", "b", "c"]
    assert len(table) == 7
    assert table.encode("abz") == [4, 5, 1]  # z dropped, EOS appended
    assert table.unknown_chars("abz?") == {"z", "?"}
    assert table.decode([4, 5, 1, 0, 0]) == "ab"
    with pytest.raises(ValueError):
        SymbolTable(["a", "b"])


def test_frontend_serialises_for_checkpoints() -> None:
    frontend = TextFrontend.from_texts(["Ёжик видел 2 звезды.", "Ещё!"], "auto", fold_yo=True)
    assert frontend.language == "ru"
    restored = TextFrontend.from_dict(json.loads(json.dumps(frontend.to_dict())))
    assert restored == frontend
    assert restored("Ёжик видел 2 звезды.") == frontend("Ёжик видел 2 звезды.")
    assert frontend.unknown_chars("qz") == {"q", "z"}
    with pytest.raises(ValueError):
        TextFrontend("de", False, True, frontend.symbols)

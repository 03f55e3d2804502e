"""The embedded demo corpora are complete, usable and small enough to ship."""

from smart_tuner.cli import demo_corpus_path
from smart_tuner.data import detect_language, load_corpus


def test_english_demo_corpus_has_ten_minutes_of_one_voice():
    corpus = load_corpus(demo_corpus_path("en"))
    assert not corpus.skipped
    assert corpus.total_seconds >= 600
    assert detect_language(u.text for u in corpus.entries) == "en"


def test_russian_demo_corpus_is_cyrillic():
    corpus = load_corpus(demo_corpus_path("ru"))
    assert not corpus.skipped and len(corpus.entries) >= 50
    assert detect_language(u.text for u in corpus.entries) == "ru"
    assert any("ё" in u.text.lower() for u in corpus.entries)


def test_corpora_ship_under_20_mb():
    root = demo_corpus_path("en").parent
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert size < 20 * 1024 * 1024

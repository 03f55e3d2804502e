"""Text front-end: raw transcript -> normalised characters -> symbol ids.

The symbol table is learned from the corpus rather than fixed, so an English, a Russian or a
mixed corpus all work without configuration. The table and the normalisation switches are saved
in checkpoints (:meth:`TextFrontend.to_dict`) because synthesis must turn text into exactly the
ids the model was trained on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from num2words import num2words

LANGUAGES = ("en", "ru")
PUNCTUATION = "!'(),.:;? -"
PAD = "_"
EOS = "~"

_QUOTES_SINGLE = "\u2018\u2019\u201a\u201b\u2032\u0060\u00b4"  # ‘ ’ ‚ ‛ ′ ` ´
_QUOTES_DOUBLE = '"\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033'  # " “ ” „ ‟ « » ″
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043"  # ‐ ‑ ‒ – — ― − ⁃
_TRANSLATE = str.maketrans(
    {
        **dict.fromkeys(_QUOTES_SINGLE, "'"),
        **dict.fromkeys(_QUOTES_DOUBLE, ""),
        **dict.fromkeys(_DASHES, "-"),
        "\u2026": "...",  # …
    }
)

_EN_ABBREVIATIONS: dict[str, str] = {
    "mrs": "missus",
    "mr": "mister",
    "ms": "miss",
    "dr": "doctor",
    "drs": "doctors",
    "st": "saint",
    "co": "company",
    "jr": "junior",
    "sr": "senior",
    "maj": "major",
    "gen": "general",
    "rev": "reverend",
    "lt": "lieutenant",
    "hon": "honorable",
    "sgt": "sergeant",
    "capt": "captain",
    "esq": "esquire",
    "ltd": "limited",
    "col": "colonel",
    "ft": "fort",
    "vs": "versus",
    "etc": "et cetera",
}
_EN_ABBREVIATION_RE = re.compile(
    r"\b(" + "|".join(sorted(_EN_ABBREVIATIONS, key=len, reverse=True)) + r")\."
)

_SPACE_BEFORE_PUNCT_RE = re.compile(r" +([!,.:;?])")
_WHITESPACE_RE = re.compile(r"\s+")


def _is_letter(ch: str) -> bool:
    """Latin or Cyrillic lowercase letters, whatever the corpus language."""
    if not ch.isalpha():
        return False
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return False
    return name.startswith(("LATIN SMALL LETTER", "CYRILLIC SMALL LETTER"))


def is_allowed_char(ch: str) -> bool:
    """What normalize_text may output: letters, ASCII digits and a little punctuation."""
    return ch in PUNCTUATION or "0" <= ch <= "9" or _is_letter(ch)


def detect_language(texts: Iterable[str]) -> str:
    """'ru' when Cyrillic letters outnumber Latin ones across the texts, else 'en'."""
    cyrillic = latin = 0
    for text in texts:
        for ch in text:
            if not ch.isalpha():
                continue
            name = unicodedata.name(ch, "")
            if name.startswith("CYRILLIC"):
                cyrillic += 1
            elif name.startswith("LATIN"):
                latin += 1
    return "ru" if cyrillic > latin else "en"


# ---------------------------------------------------------------- numbers


def _words(value: int | str, language: str, to: str = "cardinal") -> str | None:
    """num2words, or None when it cannot say the number (e.g. absurdly large values)."""
    try:
        return str(num2words(value, lang=language, to=to))
    except Exception:  # num2words raises KeyError/IndexError/... on values it cannot say
        return None


def _spaced(match: re.Match[str], words: str | None) -> str:
    """Replacement for a number: spaces only where it touches a letter or digit ('3cats')."""
    if words is None:
        return match.group(0)
    text = match.string
    before = " " if match.start() > 0 and text[match.start() - 1].isalnum() else ""
    after = " " if match.end() < len(text) and text[match.end()].isalnum() else ""
    return f"{before}{words}{after}"


def _decimal_words(whole: str, frac: str, language: str) -> str | None:
    if language == "en":
        # "3.5" -> "three point five"; digits after the point are read one by one.
        head = _words(int(whole), language)
        tail = [_words(int(d), language) for d in frac]
        if head is None or None in tail:
            return None
        return f"{head} point {' '.join(t for t in tail if t)}"
    return _words(f"{whole}.{frac}", language)  # "3,5" -> "три целых пять десятых"


def _integer_words(digits: str, language: str) -> str | None:
    value = int(digits)
    if len(digits) > 15:  # an id or phone number, not a quantity: say the digits
        said = [_words(int(d), language) for d in digits]
        return None if None in said else " ".join(w for w in said if w)
    if language == "en" and len(digits) == 4 and 1000 < value < 3000:
        return _words(value, language, to="year")  # 1999 -> nineteen ninety-nine
    return _words(value, language)


def _plural(words: str | None) -> str | None:
    """'nineteen ninety' -> 'nineteen nineties' (for decades like 1990s)."""
    if not words:
        return words
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _ru_plural(value: int, one: str, few: str, many: str) -> str:
    if value % 10 == 1 and value % 100 != 11:
        return one
    if 2 <= value % 10 <= 4 and not 12 <= value % 100 <= 14:
        return few
    return many


def _percent(match: re.Match[str], language: str) -> str:
    digits = match.group(1)
    if language == "en":
        return f"{digits} percent"
    word = _ru_plural(int(digits[-2:]), "процент", "процента", "процентов")
    return f"{digits} {word}"


_GROUPED_RE = {
    # 1,234,567.89 (commas or thin/no-break spaces group thousands)
    "en": re.compile(r"(?<![\d.,])(\d{1,3}(?:[,\u00a0\u202f\u2009]\d{3})+)(?:\.(\d+))?(?!\d|,\d)"),
    # 1 234 567,89 (a comma is the decimal mark in Russian, so spaces group, plain ones too)
    "ru": re.compile(r"(?<![\d.,])(\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+)(?:[.,](\d+))?(?!\d)"),
}
_ORDINAL_EN_RE = re.compile(r"(?<!\d)(\d+)(st|nd|rd|th)\b")
_DECIMAL_RE = {
    "en": re.compile(r"(?<![\d.])(\d+)\.(\d+)(?!\d)"),
    "ru": re.compile(r"(?<![\d.,])(\d+)[.,](\d+)(?!\d)"),
}
_DECADES_EN_RE = re.compile(r"(?<![\d.,])(\d{2,4})'?s\b")  # 1990s, 90's
_DOLLARS_RE = re.compile(r"\$\s*(\d+(?:[.,]\d+)*)")
_PERCENT_RE = re.compile(r"(\d+)\s*%")
_INTEGER_RE = re.compile(r"\d+")


def spell_numbers(text: str, language: str) -> str:
    """Numbers to words in `language`; what num2words cannot say stays as digits.

    English also gets ordinals ("2nd") and years ("1999"); Russian gets cardinals only, since
    case agreement would need a parser.
    """

    def grouped(m: re.Match[str]) -> str:
        whole = re.sub(r"\D", "", m.group(1))
        frac = m.group(2)
        words = _decimal_words(whole, frac, language) if frac else _words(int(whole), language)
        return _spaced(m, words)

    if language == "en":
        text = _DOLLARS_RE.sub(
            lambda m: f"{m.group(1)} {'dollar' if m.group(1) == '1' else 'dollars'}", text
        )
    text = _GROUPED_RE[language].sub(grouped, text)
    if language == "en":
        text = _DECADES_EN_RE.sub(
            lambda m: _spaced(m, _plural(_integer_words(m.group(1), "en"))), text
        )
    text = _PERCENT_RE.sub(lambda m: _percent(m, language), text)
    if language == "en":
        text = _ORDINAL_EN_RE.sub(
            lambda m: _spaced(m, _words(int(m.group(1)), "en", "ordinal")), text
        )
    text = _DECIMAL_RE[language].sub(
        lambda m: _spaced(m, _decimal_words(m.group(1), m.group(2), language)), text
    )
    return _INTEGER_RE.sub(lambda m: _spaced(m, _integer_words(m.group(0), language)), text)


# ---------------------------------------------------------------- normalisation


def _ascii_digits(text: str) -> str:
    """Full-width forms (ＡＢＣ１２３) become ASCII and other scripts' decimal digits become ASCII
    digits, so they can be kept or spoken instead of dropped."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        elif ch.isdecimal() and not ch.isascii():
            ch = str(unicodedata.decimal(ch))
        out.append(ch)
    return "".join(out)


def _drop_disallowed(text: str) -> str:
    """Combining marks vanish (stress marks, the dot of a lowercased 'İ'); other symbols become
    spaces so 'a/b' reads as two words rather than 'ab'."""
    out = []
    for ch in text:
        if is_allowed_char(ch):
            out.append(ch)
        elif not unicodedata.category(ch).startswith("M"):
            out.append(" ")
    return "".join(out)


def _tidy(text: str) -> str:
    text = _WHITESPACE_RE.sub(" ", text).strip()
    return _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)


def _abbreviation(match: re.Match[str]) -> str:
    word = _EN_ABBREVIATIONS[match.group(1)]
    text = match.string
    return word + (" " if match.end() < len(text) and text[match.end()].isalnum() else "")


def normalize_text(
    text: str, language: str, fold_yo: bool = False, expand_numbers: bool = True
) -> str:
    """Turn a transcript into the characters the model sees.

    Numbers are expanded before unknown symbols are dropped (so '%' and '1,000' can still be
    read); abbreviations are expanded after, so "mr#." cannot turn into "mr." on a second pass.
    The function is idempotent (tested): already-normalised text may be passed again.
    """
    if language == "auto":
        language = detect_language([text])
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES} or 'auto', got {language!r}")
    text = unicodedata.normalize("NFC", text).lower()
    text = _ascii_digits(text.translate(_TRANSLATE))
    if expand_numbers:
        text = spell_numbers(text, language)
    text = text.replace("&", " and " if language == "en" else " и ")
    text = _tidy(_drop_disallowed(text))
    if language == "en":
        text = _tidy(_EN_ABBREVIATION_RE.sub(_abbreviation, text))
    if fold_yo:
        text = text.replace("ё", "е")
    return text


# ---------------------------------------------------------------- symbols


class SymbolTable:
    """Characters <-> ids. Index 0 is padding, 1 is end-of-sentence, then sorted characters."""

    def __init__(self, symbols: Sequence[str]) -> None:
        symbols = list(symbols)
        if symbols[:2] != [PAD, EOS]:
            raise ValueError(f"a symbol table must start with {PAD!r} (pad) and {EOS!r} (eos)")
        if len(set(symbols)) != len(symbols) or any(len(s) != 1 for s in symbols):
            raise ValueError("symbols must be distinct single characters")
        self.symbols: list[str] = symbols
        self._ids: dict[str, int] = {s: i for i, s in enumerate(symbols)}

    pad_id = 0
    eos_id = 1

    @classmethod
    def from_texts(cls, normalized_texts: Iterable[str]) -> SymbolTable:
        chars: set[str] = set()
        for text in normalized_texts:
            chars.update(text)
        chars -= {PAD, EOS}
        return cls([PAD, EOS, *sorted(chars)])

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymbolTable) and other.symbols == self.symbols

    def __repr__(self) -> str:
        return f"SymbolTable({''.join(self.symbols)!r})"

    def unknown_chars(self, text: str) -> set[str]:
        """Characters encode() would drop (so the caller can warn about them)."""
        return {ch for ch in text if ch not in self._ids or ch in (PAD, EOS)}

    def encode(self, text: str) -> list[int]:
        """Ids of the known characters followed by EOS; unknown characters are dropped."""
        ids = [self._ids[ch] for ch in text if ch in self._ids and ch not in (PAD, EOS)]
        ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Inverse of encode for in-table text: padding and EOS are not characters."""
        out = []
        for i in ids:
            i = int(i)
            if i in (self.pad_id, self.eos_id):
                continue
            out.append(self.symbols[i])
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"symbols": "".join(self.symbols)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SymbolTable:
        symbols = data["symbols"]
        return cls(list(symbols) if isinstance(symbols, str) else symbols)


@dataclass
class TextFrontend:
    """Everything that turns raw text into model input; saved in checkpoints as to_dict()."""

    language: str
    fold_yo: bool
    expand_numbers: bool
    symbols: SymbolTable
    phonemes: bool = False  # symbols are eSpeak NG IPA, not letters (data/phonemes.py)

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {self.language!r}")

    @classmethod
    def from_texts(
        cls,
        raw_texts: Sequence[str],
        language: str = "auto",
        fold_yo: bool = False,
        expand_numbers: bool = True,
        phonemes: bool = False,
    ) -> TextFrontend:
        """Build the front-end for a corpus: pick the language, learn the symbol table."""
        if language == "auto":
            language = detect_language(raw_texts)
        unlearned = cls(language, fold_yo, expand_numbers, SymbolTable([PAD, EOS]), phonemes)
        normalized = [unlearned.normalize(t) for t in raw_texts]
        return cls(language, fold_yo, expand_numbers, SymbolTable.from_texts(normalized), phonemes)

    def normalize(self, raw_text: str) -> str:
        """The symbol string the model reads: normalised letters, or their IPA phonemes."""
        text = normalize_text(raw_text, self.language, self.fold_yo, self.expand_numbers)
        if self.phonemes:
            from smart_tuner.data.phonemes import phonemize

            text = phonemize(text, self.language)
        return text

    def unknown_chars(self, raw_text: str) -> set[str]:
        return self.symbols.unknown_chars(self.normalize(raw_text))

    def __call__(self, raw_text: str) -> list[int]:
        return self.symbols.encode(self.normalize(raw_text))

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "fold_yo": self.fold_yo,
            "expand_numbers": self.expand_numbers,
            "symbols": self.symbols.to_dict(),
            "phonemes": self.phonemes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextFrontend:
        return cls(
            language=str(data["language"]),
            fold_yo=bool(data["fold_yo"]),
            expand_numbers=bool(data["expand_numbers"]),
            symbols=SymbolTable.from_dict(data["symbols"]),
            phonemes=bool(data.get("phonemes", False)),  # older checkpoints: characters
        )

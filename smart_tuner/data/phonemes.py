"""Normalised text -> IPA phonemes with eSpeak NG, for models that read sounds, not spelling.

Why: with minutes of speech a character model must learn English spelling (or Russian stress)
from a few thousand words before it can align and speak; phonemes remove most of that work.
The library and its data come from the ``espeakng-loader`` wheel (no system package needed);
a system ``libespeak-ng`` is the fallback. eSpeak NG is not thread-safe, so calls are
serialised with a lock, and results are memoised because a corpus is phonemised every run.

Punctuation is kept: the text is split at ``!,.:;?``, each chunk is phonemised and the marks
are put back, so the model still sees where the pauses are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading
from functools import lru_cache
from pathlib import Path

ESPEAK_VOICES = {"en": "en-us", "ru": "ru"}
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02
_PUNCT_SPLIT_RE = re.compile(r"([!,.:;?]+)")
_SPACES_RE = re.compile(r"\s+")


class PhonemizerUnavailable(RuntimeError):
    """eSpeak NG could not be loaded; the message says how to get it."""


class _Espeak:
    """The few libespeak-ng calls we need, bound once per process."""

    def __init__(self) -> None:
        lib_path, data_parent = _locate()
        try:
            self.lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise PhonemizerUnavailable(f"cannot load {lib_path}: {exc}") from exc
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        path = data_parent.encode() if data_parent else None
        if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, 0) <= 0:
            raise PhonemizerUnavailable(f"espeak_Initialize failed (data folder {data_parent})")
        self.voice: str | None = None
        self.lock = threading.Lock()

    def phonemize_chunk(self, text: str, voice: str) -> str:
        """IPA for punctuation-free text; eSpeak returns one clause per call."""
        with self.lock:
            if voice != self.voice:
                if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise PhonemizerUnavailable(f"eSpeak NG has no voice {voice!r}")
                self.voice = voice
            buffer = ctypes.create_string_buffer(text.encode("utf-8"))
            pointer = ctypes.c_char_p(ctypes.addressof(buffer))
            parts: list[str] = []
            while pointer.value:
                out = self.lib.espeak_TextToPhonemes(
                    ctypes.byref(pointer), _CHARS_UTF8, _PHONEMES_IPA
                )
                if out:
                    parts.append(out.decode("utf-8", errors="replace"))
        return _SPACES_RE.sub(" ", " ".join(parts)).strip()


def _locate() -> tuple[str, str | None]:
    """(library path, folder holding espeak-ng-data or None for the library's default)."""
    try:
        import espeakng_loader  # type: ignore[import-untyped]

        lib = espeakng_loader.get_library_path()
        data = Path(espeakng_loader.get_data_path()).parent
        if Path(lib).exists():
            return lib, str(data)
    except (ImportError, RuntimeError):
        pass
    found = ctypes.util.find_library("espeak-ng")
    if found:
        return found, None
    raise PhonemizerUnavailable(
        "eSpeak NG is not available: `pip install espeakng-loader` (bundles the library), "
        "or install the system package (Debian: apt-get install espeak-ng), "
        "or set data.phonemes: off to train on characters"
    )


_ENGINE_LOCK = threading.Lock()  # eSpeak NG is one C library state per process


def _engine() -> _Espeak:
    """The process's eSpeak NG, loaded once (a failure is not kept: the next call retries)."""
    with _ENGINE_LOCK:
        return _loaded_engine()


@lru_cache(maxsize=1)
def _loaded_engine() -> _Espeak:
    return _Espeak()


def resolve_phonemes(setting: str) -> tuple[bool, str | None]:
    """(use phonemes?, a note for the user). 'on' insists (raises PhonemizerUnavailable),
    'off' reads letters, 'auto' uses phonemes when eSpeak NG loads and says so when not."""
    if setting == "off":
        return False, None
    try:
        _engine()
    except PhonemizerUnavailable as exc:
        if setting == "on":
            raise
        return False, f"training on characters, not phonemes: {exc}"
    return True, None


@lru_cache(maxsize=65536)
def phonemize(normalized_text: str, language: str) -> str:
    """IPA for text already passed through ``normalize_text`` (lower-case, numbers spelled).

    Raises PhonemizerUnavailable when eSpeak NG cannot be loaded.
    """
    if language not in ESPEAK_VOICES:
        raise ValueError(f"no phonemizer voice for language {language!r}")
    engine = _engine()
    out: list[str] = []
    for piece in _PUNCT_SPLIT_RE.split(normalized_text):
        if not piece.strip():
            continue
        if _PUNCT_SPLIT_RE.fullmatch(piece):
            if out:
                out[-1] = out[-1] + piece
            continue
        ipa = engine.phonemize_chunk(piece.strip(), ESPEAK_VOICES[language])
        if ipa:
            out.append(ipa)
    return " ".join(out)

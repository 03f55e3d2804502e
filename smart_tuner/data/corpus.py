"""Finding the utterances of a dataset and weeding out the ones that cannot be trained on.

Real corpora always have a few broken lines: a WAV that was deleted, a transcript left empty, a
file saved in another encoding. Each such entry is skipped *with its reason* and the rest is
used, so one bad line never costs a user the whole run. Nothing is ever written inside the
dataset folder (it may be read-only or shared).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from smart_tuner.data.audio import AUDIO_EXTENSIONS, AudioError, audio_info
from smart_tuner.data.text import normalize_text

if TYPE_CHECKING:
    from smart_tuner.config import DataConfig

# Names tried, in this order, when a folder has no metadata.csv.
FILELIST_NAMES: tuple[str, ...] = (
    "filelist.txt",
    "filelist.csv",
    "metadata.txt",
    "train.txt",
    "train.csv",
    "transcripts.txt",
    "list.txt",
)
FILELIST_SUFFIXES: tuple[str, ...] = (".txt", ".csv")

LAYOUT_LJSPEECH = "ljspeech"
LAYOUT_FILELIST = "filelist"

EXPECTED = (
    "expected an LJSpeech-style folder (metadata.csv with 'id|text' lines and wavs/ID.wav), "
    "a 'path|text' filelist (.txt or .csv), or a folder holding one such filelist"
)


class CorpusError(ValueError):
    """The dataset as a whole cannot be used (nothing usable, or not a dataset at all)."""


@dataclass
class Utterance:
    """One training pair. `duration` (seconds) is filled from the audio header when known."""

    id: str
    audio_path: Path
    text: str
    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "audio_path": str(self.audio_path),
            "text": self.text,
            "duration": self.duration,
        }


@dataclass
class SkippedItem:
    """An entry left out, and why (shown to the user as is)."""

    item: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"item": self.item, "reason": self.reason}


@dataclass
class Corpus:
    root: Path
    entries: list[Utterance]
    skipped: list[SkippedItem] = field(default_factory=list)
    layout: str = LAYOUT_LJSPEECH

    @property
    def total_seconds(self) -> float:
        return float(sum(e.duration or 0.0 for e in self.entries))

    def report(self) -> str:
        """Short human summary: how much is usable and every skipped entry with its reason."""
        seconds = self.total_seconds
        amount = f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60.0:.1f} min"
        lines = [
            f"{self.root} ({self.layout} layout): {len(self.entries)} usable utterances "
            f"({amount} of audio), {len(self.skipped)} skipped"
        ]
        lines += [f"  - {s.item}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "layout": self.layout,
            "n_entries": len(self.entries),
            "n_skipped": len(self.skipped),
            "total_seconds": round(self.total_seconds, 3),
            "entries": [e.to_dict() for e in self.entries],
            "skipped": [s.to_dict() for s in self.skipped],
        }


# ---------------------------------------------------------------- reading lines


@dataclass
class _Line:
    number: int
    text: str | None  # None: not valid UTF-8
    error: str = ""


def _read_lines(path: Path) -> list[_Line]:
    """Decode line by line so one badly encoded line is reported instead of failing the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw.startswith(b"\xef\xbb\xbf"):  # utf-8-sig: editors on Windows add a BOM
        raw = raw[3:]
    lines: list[_Line] = []
    for number, chunk in enumerate(raw.splitlines(), start=1):
        try:
            lines.append(_Line(number, chunk.decode("utf-8")))
        except UnicodeDecodeError as exc:
            bad = chunk[exc.start : exc.start + 1].hex()
            lines.append(
                _Line(
                    number,
                    None,
                    f"line is not valid UTF-8 (byte 0x{bad} at column {exc.start + 1}); "
                    "re-save the file as UTF-8",
                )
            )
    return lines


def _inside(path: Path, root: Path) -> bool:
    """True when `path`, after following symlinks, stays within `root` (already resolved)."""
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


class _Collector:
    """Shared checks for both layouts: duplicates, text, containment, audio header, duration."""

    def __init__(self, root: Path, data_cfg: DataConfig | None) -> None:
        self.root = root
        self.cfg = data_cfg
        self.entries: list[Utterance] = []
        self.skipped: list[SkippedItem] = []
        self.seen_ids: dict[str, str] = {}
        self.seen_files: dict[Path, str] = {}

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append(SkippedItem(item, reason))

    def add(self, where: str, uid: str, audio: Path | None, text: str, shown: str) -> None:
        item = f"{where} ({uid})" if uid else where
        if not uid:
            self.skip(item, "empty id/path field")
            return
        if uid in self.seen_ids:
            self.skip(item, f"duplicate id (first seen at {self.seen_ids[uid]})")
            return
        self.seen_ids[uid] = where
        if not text.strip():
            self.skip(item, "empty text")
            return
        if not _speakable(text):
            self.skip(
                item,
                f"empty text after the text front-end: {_snippet(text)} holds no Latin or "
                "Cyrillic letter and no digit",
            )
            return
        dropped = self.cfg.analysis_drops.get(uid) if self.cfg is not None else None
        if dropped:
            self.skip(item, f"dropped by the analysis ({dropped}; data.apply_analysis)")
            return
        if audio is None or not _inside(audio, self.root):
            self.skip(item, f"path leaves the dataset folder: {shown}")
            return
        if not audio.exists():
            self.skip(item, f"audio file not found: {shown}")
            return
        try:
            info = audio_info(audio)
        except AudioError as exc:
            reason = str(exc).removeprefix(f"{audio}: ")
            self.skip(item, f"{reason}: {shown}")
            return
        resolved = audio.resolve()
        if resolved in self.seen_files:
            self.skip(item, f"same audio file as {self.seen_files[resolved]}: {shown}")
            return
        self.seen_files[resolved] = item
        if self.cfg is not None:
            if info.duration < self.cfg.min_seconds:
                self.skip(
                    item,
                    f"too short: {info.duration:.2f} s < min_seconds {self.cfg.min_seconds:g}",
                )
                return
            if info.duration > self.cfg.max_seconds:
                self.skip(
                    item, f"too long: {info.duration:.2f} s > max_seconds {self.cfg.max_seconds:g}"
                )
                return
        self.entries.append(Utterance(uid, audio, text.strip(), info.duration))


def _speakable(text: str) -> bool:
    """True when the front-end leaves at least one letter or digit to speak (emoji or CJK-only
    text would otherwise train as a bare end-of-sentence symbol)."""
    return any(ch.isalnum() for ch in normalize_text(text, "en", expand_numbers=False))


def _ljspeech_audio(wavs: Path, uid: str) -> Path:
    """wavs/ID.wav, else wavs/ID.flac, else any wavs/ID.<known audio extension>.

    An id that already names a file ('wavs/a.wav', as in a filelist saved as metadata.csv) is
    taken as a path relative to the dataset folder.
    """
    if uid.lower().endswith(AUDIO_EXTENSIONS):
        for candidate in (wavs.parent / uid, wavs / uid):
            if candidate.exists():
                return candidate
    first = wavs / f"{uid}.wav"
    if first.exists():
        return first
    flac = wavs / f"{uid}.flac"
    if flac.exists():
        return flac
    for ext in AUDIO_EXTENSIONS:
        for candidate in (wavs / f"{uid}{ext}", wavs / f"{uid}{ext.upper()}"):
            if candidate.exists():
                return candidate
    return first


@dataclass(frozen=True)
class _Layout:
    """How one line of a layout reads: its columns and how the first one names the audio."""

    name: str
    title: str
    columns: tuple[str, ...]  # what each allowed column holds; the first two are required

    @property
    def expected(self) -> str:
        return f"'{self.columns[0]}|text'"

    def too_many(self, n: int) -> str:
        return (
            f"malformed line: {n} columns, but a line of {self.title} has at most "
            f"{len(self.columns)} ({'|'.join(self.columns)})"
        )


LJSPEECH = _Layout(LAYOUT_LJSPEECH, "LJSpeech metadata", ("id", "text", "normalized text"))
# The third column of NVIDIA's multi-speaker lists (a speaker id) is accepted and ignored.
FILELIST = _Layout(LAYOUT_FILELIST, "a filelist", ("path", "text", "speaker id"))


def _columns(text: str) -> list[str]:
    """The line's '|' columns; empty trailing columns ('id|text|') do not count."""
    parts = text.rstrip("\r\n").split("|")
    while len(parts) > 2 and not parts[-1].strip():
        parts.pop()
    return parts


def _load(source: Path, root: Path, layout: _Layout, data_cfg: DataConfig | None) -> Corpus:
    """One reader for both layouts; only how a line names its audio differs."""
    collector = _Collector(root, data_cfg)
    for line in _read_lines(source):
        where = f"{source.name}:{line.number}"
        if line.text is None:
            collector.skip(where, line.error)
            continue
        if not line.text.strip():
            continue
        parts = _columns(line.text)
        if len(parts) < 2:
            collector.skip(
                f"{where} ({_snippet(line.text)})",
                f"malformed line: expected {layout.expected} (no '|' found)",
            )
            continue
        if len(parts) > len(layout.columns):
            collector.skip(f"{where} ({_snippet(line.text)})", layout.too_many(len(parts)))
            continue
        key = parts[0].strip()
        if layout is LJSPEECH:
            text = parts[2] if len(parts) >= 3 and parts[2].strip() else parts[1]
            audio = _ljspeech_audio(root / "wavs", key) if key else None
            shown = f"wavs/{key}.wav" if audio is None else _shown(audio, root)
            uid = key
        else:
            text = parts[1]
            audio = (Path(key) if os.path.isabs(key) else root / key) if key else None
            uid = Path(os.path.normpath(key)).as_posix() if key else ""
            shown = key
        collector.add(where, uid, audio, text, shown)
    return _finish(root, collector, layout.name, source)


def _snippet(text: str, width: int = 40) -> str:
    text = text.strip()
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _shown(path: Path, root: Path) -> str:
    """The path as the user would recognise it: relative to the dataset when possible."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _finish(root: Path, collector: _Collector, layout: str, source: Path) -> Corpus:
    corpus = Corpus(root, collector.entries, collector.skipped, layout)
    if not corpus.entries:
        details = "\n".join(f"  - {s.item}: {s.reason}" for s in corpus.skipped[:20])
        more = len(corpus.skipped) - 20
        if more > 0:
            details += f"\n  ... and {more} more"
        if corpus.skipped:
            raise CorpusError(
                f"{source}: no usable utterances; all {len(corpus.skipped)} entries were "
                f"skipped:\n{details}"
            )
        raise CorpusError(f"{source}: no utterances found (the file has no 'id|text' lines)")
    return corpus


def _looks_like_filelist(path: Path) -> bool:
    """First non-empty line contains a '|' (cheap sniff; reads at most 64 KiB)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    for chunk in head.splitlines():
        if chunk.strip():
            return b"|" in chunk
    return False


def _find_filelist(folder: Path) -> Path:
    named = [folder / n for n in FILELIST_NAMES if (folder / n).is_file()]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        listed = ", ".join(p.name for p in named)
        raise CorpusError(
            f"{folder}: several filelists found ({listed}); pass the one to train on directly"
        )
    sniffed = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in FILELIST_SUFFIXES and _looks_like_filelist(p)
    )
    if len(sniffed) == 1:
        return sniffed[0]
    if len(sniffed) > 1:
        listed = ", ".join(p.name for p in sniffed)
        raise CorpusError(
            f"{folder}: several possible filelists ({listed}); pass the one to train on directly"
        )
    raise CorpusError(f"{folder}: no metadata.csv and no 'path|text' filelist found; {EXPECTED}")


def load_corpus(path: str | Path, data_cfg: DataConfig | None = None) -> Corpus:
    """Read a dataset in any supported layout; unusable entries are skipped with reasons.

    With `data_cfg`, utterances shorter than min_seconds or longer than max_seconds are skipped
    too (durations come from the audio headers, so this stays cheap).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder; {EXPECTED}")
    if path.is_dir():
        root = path.resolve()
        metadata = root / "metadata.csv"
        if metadata.is_file():
            return _load(metadata, root, LJSPEECH, data_cfg)
        filelist = _find_filelist(root)
        return _load(filelist, filelist.parent.resolve(), FILELIST, data_cfg)
    if path.name == "metadata.csv" and (path.parent / "wavs").is_dir():
        # metadata.csv passed directly: LJSpeech ids, not paths.
        return _load(path.resolve(), path.parent.resolve(), LJSPEECH, data_cfg)
    if path.suffix.lower() in FILELIST_SUFFIXES:
        return _load(path, path.parent.resolve(), FILELIST, data_cfg)
    raise CorpusError(f"{path}: not a folder or a .txt/.csv filelist; {EXPECTED}")


# ---------------------------------------------------------------- train / validation split

T = TypeVar("T", bound=Utterance)


def _split_key(uid: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}\x00{uid}".encode()).hexdigest()


def split_train_val(
    entries: Iterable[T], fraction: float, min_items: int, seed: int
) -> tuple[list[T], list[T]]:
    """Deterministic split: an utterance's side depends only on (its id, seed), never on order.

    The validation set is the `round(fraction * n)` entries with the smallest hash, raised to
    `min_items` when the corpus has more than `2 * min_items` entries (so the validation loss is
    not an average over one or two sentences), and to at least one item when n >= 2. Both lists
    are returned sorted by id.
    """
    items: Sequence[T] = list(entries)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    n = len(items)
    n_val = round(fraction * n)
    if n > 2 * min_items:
        n_val = max(n_val, min_items)
    elif n >= 2:
        n_val = max(n_val, 1)
    n_val = max(0, min(n_val, n - 1))
    ranked = sorted(items, key=lambda e: (_split_key(e.id, seed), e.id))
    val = sorted(ranked[:n_val], key=lambda e: e.id)
    train = sorted(ranked[n_val:], key=lambda e: e.id)
    return train, val

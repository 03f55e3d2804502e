"""Log-mel features and their on-disk cache.

Features follow NVIDIA/tacotron2 exactly (magnitude STFT, Slaney mel filterbank, natural log of
values clamped at 1e-5) so its pretrained checkpoints and vocoders work with our mels.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from smart_tuner.config import AudioConfig
from smart_tuner.data.audio import AudioError, load_audio
from smart_tuner.data.corpus import SkippedItem, Utterance
from smart_tuner.runtime.melbank import mel_filterbank

LOG_FLOOR = 1e-5
# Bump when the feature computation changes so old cache entries are never reused.
FEATURE_VERSION = 1
INDEX_NAME = "index.json"
# Files modified this recently may change again within the same mtime tick ("racy git"), so
# their cached content hash is not trusted until they are older than this.
_RACY_NS = 2_000_000_000


class MelSpectrogram(torch.nn.Module):
    """wav [..., N] in [-1, 1] -> log-mel [..., n_mels, frames], frames = N // hop + 1.

    The filterbank and window are buffers so `.to(device)` moves them with the module.
    """

    def __init__(self, audio_cfg: AudioConfig) -> None:
        super().__init__()
        if audio_cfg.win_length > audio_cfg.filter_length:
            raise ValueError(
                f"win_length ({audio_cfg.win_length}) must not exceed filter_length "
                f"({audio_cfg.filter_length})"
            )
        self.n_fft = audio_cfg.filter_length
        self.hop_length = audio_cfg.hop_length
        self.win_length = audio_cfg.win_length
        self.n_mels = audio_cfg.n_mel_channels
        basis = mel_filterbank(
            audio_cfg.sampling_rate,
            audio_cfg.filter_length,
            audio_cfg.n_mel_channels,
            audio_cfg.mel_fmin,
            audio_cfg.mel_fmax,
        )
        self.register_buffer("mel_basis", torch.from_numpy(np.asarray(basis, dtype=np.float32)))
        # Periodic Hann, like scipy.signal.get_window('hann', fftbins=True) in NVIDIA's code.
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True))

    def forward(self, wav: Tensor) -> Tensor:
        lead, n_samples = wav.shape[:-1], wav.shape[-1]
        x = wav.reshape(-1, n_samples).to(self.mel_basis.dtype)
        pad = self.n_fft // 2
        if n_samples <= pad:
            # Reflect padding needs more samples than the pad; a few zeros are harmless here.
            x = torch.nn.functional.pad(x, (0, pad + 1 - x.shape[-1]))
        spec = torch.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        ).abs()
        mel = torch.matmul(self.mel_basis, spec)
        out = torch.log(torch.clamp(mel, min=LOG_FLOOR))[..., : n_samples // self.hop_length + 1]
        return out.reshape(*lead, self.n_mels, out.shape[-1])


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smart_tuner" / "mels"


def audio_config_hash(audio_cfg: AudioConfig) -> str:
    """Names the cache subfolder: any change to the feature parameters gives new files."""
    params = {"feature_version": FEATURE_VERSION, **audio_cfg.model_dump(mode="json")}
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def file_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(target: Path, write: Any, suffix: str) -> None:
    """Write through a temp file in the same folder then os.replace: readers (and a Ctrl-C)
    only ever see a complete file or none."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class MelCache:
    """Mels on disk, keyed by the audio file's content (sha1) and the audio parameters.

    Keying by content rather than path means a moved or copied dataset reuses its mels, and an
    edited file never gets a stale one. Hashing every file on each run would be slow, so a
    (path, size, mtime_ns) -> sha1 index is kept in memory and in `index.json`.
    """

    def __init__(
        self,
        audio_cfg: AudioConfig,
        cache_dir: str | Path | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.audio_cfg = audio_cfg
        self.root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.dir = self.root / audio_config_hash(audio_cfg)
        self.device = torch.device(device)
        self._mel: MelSpectrogram | None = None
        self.hits = 0
        self.misses = 0
        self.hashed = 0  # files whose bytes were read to compute a sha1
        self.failed: list[SkippedItem] = []
        self._index: dict[str, dict[str, int | str]] = self._read_index()
        self._dirty = 0

    # ------------------------------------------------------------ content-hash index

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def _read_index(self) -> dict[str, dict[str, int | str]]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def flush(self) -> None:
        """Save the content-hash index (merging with what other processes saved meanwhile)."""
        if not self._dirty:
            return
        merged = {**self._read_index(), **self._index}
        payload = json.dumps(merged, sort_keys=True).encode()
        try:
            _atomic_write(self.index_path, lambda fh: fh.write(payload), ".tmp")
        except OSError:
            return  # the index is only a speed-up; a read-only cache still works
        self._index = merged
        self._dirty = 0

    def content_hash(self, path: str | Path) -> str:
        path = Path(path).resolve()
        st = path.stat()
        key = str(path)
        entry = self._index.get(key)
        if (
            entry is not None
            and entry.get("size") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns
            and int(entry.get("checked_ns", 0)) - st.st_mtime_ns > _RACY_NS
        ):
            return str(entry["sha1"])
        checked = time.time_ns()
        sha1 = file_sha1(path)
        self.hashed += 1
        self._index[key] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "checked_ns": checked,
            "sha1": sha1,
        }
        self._dirty += 1
        if self._dirty >= 500:
            self.flush()
        return sha1

    # ------------------------------------------------------------ mels

    @property
    def mel(self) -> MelSpectrogram:
        if self._mel is None:
            self._mel = MelSpectrogram(self.audio_cfg).to(self.device)
        return self._mel

    def compute(self, path: str | Path) -> np.ndarray:
        """Log-mel [n_mels, frames] of an audio file, float32, without touching the cache."""
        wav = load_audio(path, self.audio_cfg.sampling_rate)
        with torch.no_grad():
            mel = self.mel(torch.from_numpy(wav).to(self.device))
        return mel.cpu().numpy().astype(np.float32, copy=False)

    def path_for(self, item: Utterance | str | Path) -> Path:
        sha1 = self.content_hash(_audio_path(item))
        return self.dir / sha1[:2] / f"{sha1}.npy"

    def _load(self, target: Path, mmap: bool = False) -> np.ndarray | None:
        if not target.exists():
            return None
        try:
            arr = np.load(target, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # damaged entry (e.g. a disk filled up): recompute it
        if arr.ndim != 2 or arr.shape[0] != self.audio_cfg.n_mel_channels:
            return None
        return arr

    def _store(self, target: Path, mel: np.ndarray) -> None:
        # An unwritable cache (full disk, read-only) must not stop training: the mel is returned.
        with contextlib.suppress(OSError):
            _atomic_write(target, lambda fh: np.save(fh, mel, allow_pickle=False), ".tmp")

    def get(self, item: Utterance | str | Path) -> np.ndarray:
        """The cached mel [n_mels, frames], computed and stored on a miss."""
        target = self.path_for(item)
        mel = self._load(target)
        if mel is not None:
            self.hits += 1
            return mel
        self.misses += 1
        mel = self.compute(_audio_path(item))
        self._store(target, mel)
        return mel

    def n_frames(self, item: Utterance | str | Path) -> int:
        """Frame count, reading only the .npy header on a hit."""
        target = self.path_for(item)
        mel = self._load(target, mmap=True)
        if mel is not None:
            self.hits += 1
            return int(mel.shape[1])
        return int(self.get(item).shape[1])

    def precompute(
        self,
        utterances: Iterable[Utterance],
        progress: bool = True,
        skip_errors: bool = False,
    ) -> dict[str, int]:
        """Fill the cache; returns {utterance id: mel frames}.

        Each mel is written as soon as it is computed, so an interrupted run (Ctrl-C) keeps all
        finished work and the next run only computes the rest. With `skip_errors`, files that
        fail to decode are left out of the result and listed in `self.failed`; otherwise the
        AudioError propagates.
        """
        items = list(utterances)
        frames: dict[str, int] = {}
        try:
            for utt in _progress(items, progress, "Computing mel spectrograms"):
                try:
                    frames[utt.id] = self.n_frames(utt)
                except (AudioError, OSError) as exc:
                    if not skip_errors:
                        if isinstance(exc, AudioError):
                            raise
                        raise AudioError(f"{utt.audio_path}: cannot read ({exc})") from None
                    self.failed.append(SkippedItem(utt.id, str(exc)))
        finally:
            self.flush()
        return frames

    def stats(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "hits": self.hits, "misses": self.misses}

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get a copy; they rebuild the (cheap) module lazily.
        state = self.__dict__.copy()
        state["_mel"] = None
        return state


def _audio_path(item: Utterance | str | Path) -> Path:
    return item.audio_path if isinstance(item, Utterance) else Path(item)


def _progress(items: list[Utterance], enabled: bool, label: str) -> Iterator[Utterance]:
    if not enabled or not items:
        yield from items
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            yield item
            bar.advance(task)

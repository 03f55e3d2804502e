"""Finished sentences of an evaluation, kept so that an interrupted one continues where it
stopped instead of speaking and scoring every sentence again (`auto`'s evaluate stage, or
`evaluate` killed half way through a long list on a CPU).

One JSON per sentence in OUT/.sentences/, valid only for the same checkpoint file (path, size
and modification time), epoch, seed, vocoder and text; anything else is measured afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def checkpoint_identity(checkpoint: str) -> str:
    """Path, size and modification time: a checkpoint overwritten by more training differs."""
    try:
        stat = os.stat(checkpoint)
    except OSError:
        return checkpoint
    return f"{Path(checkpoint).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


class SentenceCache:
    """Per-sentence rows and speaker embeddings of one evaluation setting."""

    def __init__(self, out_dir: Path, setting: dict[str, Any]) -> None:
        self.folder = out_dir / ".sentences"
        self.setting = json.dumps(setting, sort_keys=True, default=str)

    def _key(self, utterance_id: str, text: str) -> str:
        return hashlib.sha256(f"{self.setting}\n{utterance_id}\n{text}".encode()).hexdigest()

    def _path(self, utterance_id: str) -> Path:
        return self.folder / f"{hashlib.sha1(utterance_id.encode()).hexdigest()[:16]}.json"

    def get(
        self, utterance_id: str, text: str
    ) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None] | None:
        """(row, recording embedding, synthesis embedding), or None if not measured yet here."""
        try:
            data = json.loads(self._path(utterance_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent, or torn by a kill
            return None
        if data.get("key") != self._key(utterance_id, text):
            return None
        row = data["row"]
        if row.get("synthesis") and not Path(row["synthesis"]).is_file():
            return None  # its WAV was deleted: speak it again
        return row, _array(data.get("recording_embedding")), _array(data.get("synthesis_embedding"))

    def put(
        self,
        utterance_id: str,
        text: str,
        row: dict[str, Any],
        recording_embedding: np.ndarray | None,
        synthesis_embedding: np.ndarray | None,
    ) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "key": self._key(utterance_id, text),
            "row": row,
            "recording_embedding": _list(recording_embedding),
            "synthesis_embedding": _list(synthesis_embedding),
        }
        path = self._path(utterance_id)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)


def _array(values: list[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float32)


def _list(values: np.ndarray | None) -> list[float] | None:
    return None if values is None else [float(x) for x in np.asarray(values).ravel()]

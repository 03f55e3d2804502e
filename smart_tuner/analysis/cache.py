"""Per-file analysis results on disk, keyed by the file's content hash and the analysis version.

One SQLite file holds two tables: `files` maps (path, size, mtime_ns) to the sha1 of the
content, so an unchanged file is never read again; `results` maps a key such as
``stats:<version>:<sha1>`` to a JSON document. Keying by content means a moved or copied corpus
reuses its results and an edited file never gets a stale one. Several analyses may share the
cache at once (WAL mode, a busy timeout); a cache that cannot be opened or written only makes
the analysis slower, never wrong.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

# A file modified within this window of being hashed may change again within the same mtime
# tick; such entries are re-hashed next time (as git does with its racy-clean check).
_RACY_NS = 2_000_000_000


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smart_tuner" / "analysis"


class AnalysisCache:
    def __init__(self, directory: str | Path | None = None, enabled: bool = True) -> None:
        self.dir = Path(directory).expanduser() if directory else default_cache_dir()
        self.db: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        if not enabled:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.dir / "analysis.sqlite", timeout=30.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, checked_ns INTEGER, sha1 TEXT)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT)")
            db.commit()
            self.db = db
        except (OSError, sqlite3.Error):
            self.db = None

    # ------------------------------------------------------------ content hashes

    def known_hashes(self, paths: list[Path]) -> dict[Path, str]:
        """sha1 of each path whose size and mtime are unchanged since it was hashed."""
        if self.db is None or not paths:
            return {}
        out: dict[Path, str] = {}
        rows: dict[str, tuple[int, int, int, str]] = {}
        try:
            for chunk in _chunks([str(p) for p in paths], 500):
                marks = ",".join("?" * len(chunk))
                for path, size, mtime, checked, sha1 in self.db.execute(
                    f"SELECT path, size, mtime_ns, checked_ns, sha1 FROM files "
                    f"WHERE path IN ({marks})",
                    chunk,
                ):
                    rows[path] = (size, mtime, checked, sha1)
        except sqlite3.Error:
            return {}
        for path in paths:
            row = rows.get(str(path))
            if row is None:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            size, mtime, checked, sha1 = row
            if size == st.st_size and mtime == st.st_mtime_ns and checked - mtime > _RACY_NS:
                out[path] = sha1
        return out

    def remember_hashes(self, items: list[tuple[Path, str, int, int, int]]) -> None:
        """(path, sha1, size, mtime_ns, checked_ns) of files just hashed."""
        if self.db is None or not items:
            return
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(str(p), size, mtime, checked, sha1) for p, sha1, size, mtime, checked in items],
            )
            self.db.commit()
        except sqlite3.Error:
            pass

    # ------------------------------------------------------------ results

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        if self.db is None or not keys:
            return {}
        found: dict[str, Any] = {}
        try:
            for chunk in _chunks(keys, 500):
                marks = ",".join("?" * len(chunk))
                for key, value in self.db.execute(
                    f"SELECT key, value FROM results WHERE key IN ({marks})", chunk
                ):
                    found[key] = json.loads(value)
        except (sqlite3.Error, ValueError):
            return {}
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        if self.db is None or not items:
            return
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in items.items()],
            )
            self.db.commit()
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]

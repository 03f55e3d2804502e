"""`analyze_dataset`: corpus in, `DatasetProfile` out (S1-S3, S23-S26).

Stages, each timed in ``profile.timings``:

1. read the corpus (entries the loader skips become problems, with its reason);
2. hash every file (a (path, size, mtime) index avoids re-reading unchanged files) and measure
   the files the cache does not know, in parallel worker processes, with a progress bar;
3. DNSMOS P.835 on a seeded sample capped at `analysis.sampling.dnsmos_max_seconds`;
4. PocketSphinx on a seeded sample of `analysis.sampling.asr_max_utterances` (English only, and
   only when the audio, by SNR and quality %, is clean enough to judge an accent);
5. scoring: quality %, complexity flags, per-file problems.

Nothing is written inside the dataset folder; per-file results go to the analysis cache.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from smart_tuner.analysis import accent, asr, dnsmos, expressiveness, scoring
from smart_tuner.analysis.cache import AnalysisCache
from smart_tuner.analysis.classes import classify_quality, classify_size, complexity_level
from smart_tuner.analysis.measures import MEASURES_VERSION, FileStats
from smart_tuner.analysis.profile import DatasetProfile, FileSummary, Problem
from smart_tuner.analysis.worker import dnsmos_window, measure_many, transcribe_file
from smart_tuner.config import Config

ANALYSIS_VERSION = f"m{MEASURES_VERSION}-a{asr.ASR_VERSION}-d1"


def sample_rank(uid: str, seed: int) -> str:
    """Seeded order that depends only on (id, seed): adding a file never reshuffles the rest."""
    return hashlib.sha1(f"{seed}\x00{uid}".encode()).hexdigest()


class _Executor:
    """Runs tasks inline (one worker, or one task) or in a process pool, with a progress bar."""

    def __init__(self, workers: int, console: Console | None) -> None:
        self.workers = max(1, workers)
        self.console = console
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            _warm_imports()
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @contextmanager
    def _progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        if self.console is None:
            yield lambda n: None
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        with progress:
            task = progress.add_task(label, total=total)
            yield lambda n: progress.advance(task, n)

    def run(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], label: str, sizes: Sequence[int]
    ) -> list[Any]:
        results: list[Any] = [None] * len(tasks)
        if not tasks:
            return results
        with self._progress(label, int(sum(sizes))) as advance:
            pending = list(range(len(tasks)))
            if self.workers > 1 and len(tasks) > 1:
                try:
                    pool = self._get_pool()
                    futures: dict[Future[Any], int] = {
                        pool.submit(fn, tasks[i]): i for i in pending
                    }
                    for future in as_completed(futures):
                        i = futures[future]
                        results[i] = future.result()
                        pending.remove(i)
                        advance(sizes[i])
                except BrokenProcessPool:
                    self._pool = None  # a worker died; finish the rest here
            for i in pending:
                results[i] = fn(tasks[i])
                advance(sizes[i])
        return results


def _warm_imports() -> None:
    """Import the model runtimes once here, so forked workers inherit them (~0.5 s each)."""
    import importlib

    for name in ("onnxruntime", "pocketsphinx"):
        with suppress(ImportError):
            importlib.import_module(name)


def _hash_file(path: Path) -> tuple[str, tuple[Path, str, int, int, int]] | None:
    try:
        st = path.stat()
        checked = time.time_ns()
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None
    return digest, (path, digest, st.st_size, st.st_mtime_ns, checked)


def analyze_dataset(
    path: str | Path,
    config: Config | None = None,
    console: Console | None = None,
    *,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> DatasetProfile:
    """Analyse a corpus (any layout `load_corpus` reads). Raises CorpusError when unusable."""
    from smart_tuner.data.corpus import load_corpus
    from smart_tuner.data.text import detect_language, normalize_text

    config = config or Config()
    acfg = config.analysis
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    started = time.perf_counter()

    t = time.perf_counter()
    corpus = load_corpus(path)  # no data_cfg: too short / too long files become problems
    language = config.data.language
    if language == "auto":
        language = detect_language(e.text for e in corpus.entries)
    timings["load_corpus"] = time.perf_counter() - t

    cache = AnalysisCache(cache_dir or acfg.cache_dir, enabled=use_cache)
    executor = _Executor(workers or acfg.workers or os.cpu_count() or 1, console)
    try:
        stats_by_path = _measure(corpus.entries, cache, executor, timings, counts)
        t = time.perf_counter()
        items = []
        for entry in corpus.entries:
            text = normalize_text(
                entry.text, language, config.data.fold_yo, config.data.expand_numbers
            )
            items.append(
                scoring.Item(
                    entry.id,
                    str(entry.audio_path.resolve()),
                    entry.text,
                    stats_by_path.get(entry.audio_path.resolve()),
                    scoring.letters(text),
                )
            )
        timings["text"] = time.perf_counter() - t
        t = time.perf_counter()
        problems = [
            Problem(s.item, scoring.classify_skip(s.reason), s.reason, "drop")
            for s in corpus.skipped
        ]
        problems += scoring.file_problems(items, language, config)
        dropped = {p.item for p in problems if p.action == "drop"}
        timings["problems"] = time.perf_counter() - t

        usable = [i for i in items if i.stats is not None and i.stats.error is None]
        candidates = sorted(
            (i for i in usable if i.stats and i.stats.speech_seconds > 0),
            key=lambda i: sample_rank(i.id, acfg.sampling.seed),
        )
        samples: dict[str, Any] = {"seed": acfg.sampling.seed}
        notes: list[str] = []

        t = time.perf_counter()
        dnsmos_summary, dnsmos_reason = _run_dnsmos(
            candidates, config, cache, executor, samples, counts
        )
        timings["dnsmos"] = time.perf_counter() - t
        stats = [i.stats for i in usable if i.stats is not None]
        components = scoring.quality_components(stats, dnsmos_summary, dnsmos_reason, config)
        percent = scoring.quality_percent(components)

        t = time.perf_counter()
        evidence, accent_reason = _run_asr(
            [i for i in candidates if i.id not in dropped and 1.0 <= i.stats.duration <= 20.0]
            if candidates
            else [],
            usable,
            percent,
            language,
            config,
            cache,
            executor,
            samples,
            counts,
        )
        timings["asr"] = time.perf_counter() - t
    finally:
        executor.close()
        cache.close()

    t = time.perf_counter()
    kept = [i for i in usable if i.id not in dropped]  # outliers to drop would skew the flags
    rates = [r for r in (i.rate for i in kept) if r is not None]
    voiced = [i.stats for i in kept if i.stats and i.stats.f0_median_st is not None]
    flags = [
        scoring.tempo_flag(rates, acfg),
        scoring.pitch_range_flag(
            [s.f0_median_st for s in voiced if s.f0_median_st is not None], acfg
        ),
        expressiveness.emotion_flag(voiced, rates, acfg),
        accent.accent_flag(evidence, accent_reason, acfg),
    ]
    n_set = sum(f.flagged for f in flags)
    total_seconds = float(sum(s.duration for s in stats))
    files = [_summary(i) for i in items]
    if dnsmos_summary is not None:
        notes.append(
            f"DNSMOS ran on a seeded sample: {dnsmos_summary.utterances} utterances, "
            f"{dnsmos_summary.seconds:.0f} s of {total_seconds:.0f} s "
            f"(analysis.sampling.dnsmos_max_seconds = {acfg.sampling.dnsmos_max_seconds:g})."
        )
    if evidence is not None:
        notes.append(
            f"ASR (PocketSphinx) ran on a seeded sample of {evidence.n_utterances} utterances "
            f"(analysis.sampling.asr_max_utterances = {acfg.sampling.asr_max_utterances})."
        )
    timings["score"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    return DatasetProfile(
        dataset=str(corpus.root),
        total_seconds=total_seconds,
        size_class=classify_size(total_seconds / 3600.0, acfg),
        quality_percent=percent,
        quality_class=classify_quality(percent, acfg),
        complexity_level=complexity_level(n_set, acfg),
        complexity=flags,
        quality_components=components,
        problems=problems,
        files=files,
        layout=corpus.layout,
        language=language,
        n_entries=len(corpus.entries) + len(corpus.skipped),
        n_utterances=len(usable),
        speech_seconds=float(sum(s.speech_seconds for s in stats)),
        samples=samples,
        notes=notes,
        analysis_version=ANALYSIS_VERSION,
        timings=timings,
        cache=counts,
    )


def _summary(item: scoring.Item) -> FileSummary:
    s = item.stats
    summary = FileSummary(item.id, item.path, s.duration if s else 0.0, text=item.text)
    if s is None or s.error:
        return summary
    summary.samplerate = s.samplerate
    summary.channels = s.channels
    summary.snr_db = None if s.snr_db is None else round(s.snr_db, 2)
    summary.f0_hz = (
        None if s.f0_median_st is None else round(100.0 * 2.0 ** (s.f0_median_st / 12.0), 1)
    )
    summary.f0_spread_st = None if s.f0_spread_st is None else round(s.f0_spread_st, 3)
    rate = item.rate
    summary.speaking_rate = None if rate is None else round(rate, 2)
    summary.speech_ratio = round(s.speech_ratio, 3)
    return summary


def _measure(
    entries: Sequence[Any],
    cache: AnalysisCache,
    executor: _Executor,
    timings: dict[str, float],
    counts: dict[str, int],
) -> dict[Path, FileStats]:
    t = time.perf_counter()
    paths = list(dict.fromkeys(e.audio_path.resolve() for e in entries))
    sha: dict[Path, str] = cache.known_hashes(paths)
    fresh = []
    unreadable: dict[Path, FileStats] = {}
    for p in paths:
        if p in sha:
            continue
        hashed = _hash_file(p)
        if hashed is None:
            unreadable[p] = FileStats(sha1="", error="cannot read the file")
            continue
        sha[p], entry = hashed
        fresh.append(entry)
    cache.remember_hashes(fresh)
    counts["files"] = len(paths)
    counts["files_hashed"] = len(fresh)
    timings["hash"] = time.perf_counter() - t

    t = time.perf_counter()
    key = {p: f"stats:{ANALYSIS_VERSION}:{digest}" for p, digest in sha.items()}
    found = cache.get_many(sorted(set(key.values())))
    by_key = {k: FileStats.from_dict(v) for k, v in found.items()}
    todo: dict[str, Path] = {}
    for p, k in key.items():
        if k not in by_key:
            todo.setdefault(k, p)
    counts["files_cached"] = sum(k in by_key for k in key.values())
    counts["files_measured"] = len(todo)
    todo_paths = list(todo.values())
    per_task = max(1, min(16, len(todo_paths) // (executor.workers * 4) or 1))
    chunks = [todo_paths[i : i + per_task] for i in range(0, len(todo_paths), per_task)]
    results = executor.run(
        measure_many,
        [[str(p) for p in chunk] for chunk in chunks],
        "Measuring audio",
        [len(c) for c in chunks],
    )
    new: dict[str, Any] = {}
    cpu: dict[str, float] = {}
    for chunk, result in zip(chunks, results, strict=True):
        for p, data in zip(chunk, result, strict=True):
            stats = FileStats.from_dict(data)
            by_key[key[p]] = stats
            if stats.sha1:
                new[f"stats:{ANALYSIS_VERSION}:{stats.sha1}"] = data
            for stage, seconds in stats.timings.items():
                cpu[stage] = cpu.get(stage, 0.0) + seconds
    cache.put_many(new)
    timings["measure"] = time.perf_counter() - t
    for stage, seconds in cpu.items():
        timings[f"measure.{stage} (cpu)"] = seconds
    out = {p: by_key[k] for p, k in key.items()}
    out.update(unreadable)
    return out


def _run_dnsmos(
    candidates: Sequence[scoring.Item],
    config: Config,
    cache: AnalysisCache,
    executor: _Executor,
    samples: dict[str, Any],
    counts: dict[str, int],
) -> tuple[scoring.DnsmosSummary | None, str]:
    max_seconds = config.analysis.sampling.dnsmos_max_seconds
    if max_seconds <= 0:
        return None, "disabled (analysis.sampling.dnsmos_max_seconds = 0)"
    reason = dnsmos.available()
    if reason:
        return None, reason
    if not candidates:
        return None, "no utterance with speech"
    groups = dnsmos.windows([i.stats.duration for i in candidates if i.stats], max_seconds)
    members = [[candidates[k] for k in group] for group in groups]
    keys = [
        "dnsmos:{}:{}".format(
            ANALYSIS_VERSION,
            hashlib.sha1("|".join(i.stats.sha1 for i in m if i.stats).encode()).hexdigest(),
        )
        for m in members
    ]
    found = cache.get_many(keys)
    todo = [k for k, key in enumerate(keys) if key not in found]
    counts["dnsmos_windows"] = len(keys)
    counts["dnsmos_windows_cached"] = len(keys) - len(todo)
    try:
        results = executor.run(
            dnsmos_window,
            [[i.path for i in members[k]] for k in todo],
            "DNSMOS sample",
            [len(members[k]) for k in todo],
        )
    except Exception as exc:  # onnxruntime errors: carry on without DNSMOS, say why
        return None, f"DNSMOS failed ({type(exc).__name__}: {exc})"
    cache.put_many({keys[k]: r for k, r in zip(todo, results, strict=True)})
    found.update({keys[k]: r for k, r in zip(todo, results, strict=True)})
    scores = [found[k] for k in keys]
    weights = np.array([max(s["seconds"], 1e-3) for s in scores])
    mean = {
        name: float(np.average([s[name] for s in scores], weights=weights))
        for name in ("sig", "bak", "ovrl")
    }
    used = sum(len(m) for m in members)
    seconds = float(sum(s["seconds"] for s in scores))
    samples["dnsmos"] = {
        "utterances": used,
        "seconds": round(seconds, 2),
        "windows": len(keys),
        "max_seconds": max_seconds,
        **{k: round(v, 3) for k, v in mean.items()},
    }
    return scoring.DnsmosSummary(
        mean["sig"], mean["bak"], mean["ovrl"], seconds, len(keys), used
    ), ""


def _run_asr(
    candidates: Sequence[scoring.Item],
    usable: Sequence[scoring.Item],
    quality_percent: float | None,
    language: str,
    config: Config,
    cache: AnalysisCache,
    executor: _Executor,
    samples: dict[str, Any],
    counts: dict[str, int],
) -> tuple[asr.AccentEvidence | None, str]:
    from smart_tuner.data.text import normalize_text

    a = config.analysis
    if a.sampling.asr_max_utterances <= 0:
        return None, "disabled (analysis.sampling.asr_max_utterances = 0)"
    reason = asr.available(language)
    if reason:
        return None, reason
    snrs = [i.stats.snr_db for i in usable if i.stats and i.stats.snr_db is not None]
    median_snr = float(np.median(snrs)) if snrs else None
    problem = accent.audio_problem(median_snr, quality_percent, a)
    if problem:
        return None, problem
    chosen = list(candidates[: a.sampling.asr_max_utterances])
    if len(chosen) < a.accent.min_utterances:
        return None, f"too few clean utterances to transcribe ({len(chosen)})"
    keys = [f"asr:{ANALYSIS_VERSION}:{i.stats.sha1 if i.stats else ''}" for i in chosen]
    found = cache.get_many(keys)
    todo = [k for k, key in enumerate(keys) if key not in found]
    counts["asr_utterances"] = len(keys)
    counts["asr_cached"] = len(keys) - len(todo)
    try:
        results = executor.run(
            transcribe_file, [chosen[k].path for k in todo], "ASR sample", [1] * len(todo)
        )
    except Exception as exc:  # a recogniser failure leaves the accent unassessed, says why
        return None, f"the recogniser failed ({type(exc).__name__}: {exc})"
    fresh = {keys[k]: r for k, r in zip(todo, results, strict=True)}
    cache.put_many(fresh)
    found.update(fresh)
    pairs = [
        (normalize_text(i.text, language), list(found[k]["words"]))
        for i, k in zip(chosen, keys, strict=True)
    ]
    evidence = asr.accent_evidence(
        pairs,
        a.accent.min_utterances,
        a.accent.min_rate,
        phones=[list(found[k].get("phones", [])) for k in keys],
        confidence=[list(found[k].get("confidence", [])) for k in keys],
    )
    samples["asr"] = {"utterances": len(chosen), **evidence.to_dict()}
    return evidence, ""

#!/usr/bin/env python3
"""ROC of the voice-complexity flags on the calibration corpora; thresholds are chosen here.

Usage::

    .venv/bin/python benchmarks/calibration_corpora.py /tmp/calib      # build once (minutes)
    .venv/bin/python benchmarks/complexity_calibration.py /tmp/calib

For each flag the negatives are the unmodified corpora (two per voice) and the positives the
corpora with that property planted at each strength (see calibration_corpora.py). A threshold
is chosen on the ``tune`` voices only: the lowest value that keeps the false-positive rate at
or under 10 %, moved half-way up to the nearest moderate positive. The table then shows true
and false positive rates at that threshold for the tune part and, separately, for the
``held_out`` voices, which the threshold never saw. It also prints the expressiveness
REFERENCE (neutral medians, tune part) that smart_tuner/analysis/expressiveness.py uses, and
how often each flag fires on the other properties' moderate corpora (cross-talk).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from smart_tuner.analysis import accent, asr, expressiveness, scoring  # noqa: E402
from smart_tuner.analysis.cache import AnalysisCache  # noqa: E402
from smart_tuner.analysis.measures import FileStats, measure_file  # noqa: E402
from smart_tuner.analysis.pipeline import ANALYSIS_VERSION  # noqa: E402
from smart_tuner.config import load_config  # noqa: E402

FLAGS = {
    "tempo": "variable_tempo",
    "pitch": "wide_pitch_range",
    "expressive": "emotional_speech",
    "accent": "accent",
}
MAX_FPR = 0.10


def measure_corpus(path: str) -> list[tuple[str, dict[str, Any]]]:
    rows = [line.split("|") for line in Path(path, "metadata.csv").read_text().splitlines()]
    return [(text, measure_file(Path(path, "wavs", f"{uid}.wav")).to_dict()) for uid, text in rows]


def prosody_values(entry: dict, measured: list[tuple[str, dict]]) -> dict[str, Any]:
    from smart_tuner.data.text import normalize_text

    cfg = load_config(None, {}).analysis
    stats = [FileStats.from_dict(d) for _, d in measured]
    rates = []
    for (text, _), s in zip(measured, stats, strict=True):
        n = scoring.letters(normalize_text(text, entry["language"]))
        if s.speech_seconds >= 0.5 and n >= 5:
            rates.append(n / s.speech_seconds)
    voiced = [s for s in stats if s.f0_median_st is not None]
    parts = expressiveness.components(voiced, rates)
    keep = ("f0_spread_st", "f0_range_st", "f0_slope_sd", "loudness_sd_db", "active_dbfs",
            "pause_ratio", "speech_seconds", "f0_median_st")  # fmt: skip
    return {
        "utterances": [{k: getattr(s, k) for k in keep} for s in stats],
        "rates": rates,
        "variable_tempo": scoring.tempo_flag(rates, cfg).value,
        "wide_pitch_range": scoring.pitch_range_flag([s.f0_median_st for s in voiced], cfg).value,
        "components": {c.name: c.value for c in parts},
    }


def accent_values(entry: dict, cache: str) -> dict[str, Any]:
    from smart_tuner.analysis import analyze_dataset

    cfg = load_config(
        None,
        {"analysis.sampling.dnsmos_max_seconds": 0.0, "analysis.sampling.asr_max_utterances": 10},
    )
    profile = analyze_dataset(entry["path"], cfg, workers=1, cache_dir=cache)
    flag = profile.flag("accent")
    asr = profile.samples.get("asr", {})
    heard = []  # what the recogniser heard, to try other evidence rules without re-decoding
    store = AnalysisCache(cache)
    try:
        for line in Path(entry["path"], "metadata.csv").read_text().splitlines():
            uid, text = line.split("|")[:2]
            sha = hashlib.sha1(Path(entry["path"], "wavs", f"{uid}.wav").read_bytes()).hexdigest()
            key = f"asr:{ANALYSIS_VERSION}:{sha}"
            got = store.get_many([key]).get(key)
            if got:
                heard.append({"text": text, **{k: got.get(k) for k in ("words", "phones")}})
    finally:
        store.close()
    return {
        "accent_assessed": bool(flag and flag.assessed),
        "accent_reason": flag.reason if flag else "",
        "accent": flag.value if flag and flag.assessed else None,
        "word_share": asr.get("share"),
        "phone_share": asr.get("phone_share"),
        "near_miss": asr.get("near_miss_share"),
        "wer": asr.get("wer"),
        "quality": profile.quality_percent,
        "accent_evidence": flag.evidence if flag else "",
        "heard": heard,
    }


def recogniser_habits(neutral: list[dict]) -> dict[str, dict[tuple[str, str], float]]:
    """Mean near-miss substitution rate per pair over unaccented corpora, per source."""
    sums: dict[str, dict[tuple[str, str], float]] = {"words": {}, "phones": {}}
    for r in neutral:
        pairs = [(h["text"], list(h["words"] or [])) for h in r["heard"]]
        expected, from_words, loop = asr.expected_and_heard(
            pairs, [list(h["phones"] or []) for h in r["heard"]]
        )
        for source, heard in (("words", from_words), ("phones", loop or [])):
            for pair, value in asr.substitution_rates(expected, heard).items():
                sums[source][pair] = sums[source].get(pair, 0.0) + value / len(neutral)
    return {k: {p: round(v, 4) for p, v in t.items() if v >= 0.02} for k, t in sums.items()}


def choose(neg: list[float], pos: list[float]) -> float:
    """Lowest threshold with FPR <= MAX_FPR on `neg`, half-way up to the next positive."""
    ordered = sorted(neg, reverse=True)
    allowed = int(math.floor(MAX_FPR * len(ordered) + 1e-9))
    floor = ordered[allowed] if allowed < len(ordered) else min(ordered)
    above = [p for p in pos if p > floor]
    return (floor + min(above)) / 2 if above else floor * 1.05 + 1e-6


def rate(values: list[float], threshold: float) -> str:
    if not values:
        return "   -   "
    hits = sum(v >= threshold for v in values)
    return f"{hits / len(values):5.0%} ({hits}/{len(values)})"


def british(r: dict) -> bool:
    """British voices speak a regional accent to the American recogniser: no accent negatives."""
    return str(r.get("arg", "")).startswith("en-gb")


def report(results: list[dict], key: str, prop: str, threshold: float | None = None) -> float:
    accent_key = prop == "accent"

    def values(split: str, property_: str, strength: str | None = None) -> list[float]:
        return [
            r[key]
            for r in results
            if r["split"] == split
            and r["property"] == property_
            and (strength is None or r["strength"] == strength)
            and r.get(key) is not None
            and not (accent_key and property_ == "neutral" and british(r))
        ]

    if threshold is None:
        threshold = choose(values("tune", "neutral"), values("tune", prop, "moderate"))
    print(f"\n{key} (planted: {prop}); threshold {threshold:.4g} chosen on the tune voices")
    print("| part | FPR (neutral) | TPR mild | TPR moderate | TPR strong |")
    print("|---|---|---|---|---|")
    for split in ("tune", "held_out"):
        cells = [rate(values(split, "neutral"), threshold)]
        cells += [rate(values(split, prop, s), threshold) for s in ("mild", "moderate", "strong")]
        print(f"| {split} | " + " | ".join(cells) + " |")
    if accent_key:
        gb = [
            r[key]
            for r in results
            if r["property"] == "neutral" and british(r) and r.get(key) is not None
        ]
        print(f"unmodified British voices (regional accent): flagged {rate(gb, threshold)}")
    others = [p for p in FLAGS if p != prop]
    cross = ", ".join(
        f"{p} {rate(values('tune', p, 'moderate') + values('held_out', p, 'moderate'), threshold)}"
        for p in others
    )
    print(f"fires on other properties' moderate corpora: {cross}")
    return threshold


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpora", type=Path, help="folder made by calibration_corpora.py")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/complexity_calibration_cache")
    ap.add_argument("--results", type=Path, help="JSON of the measured values (reused if present)")
    args = ap.parse_args(argv)
    manifest = args.corpora / "manifest.json"
    if not manifest.is_file():
        print(f"no {manifest}: build it with benchmarks/calibration_corpora.py", file=sys.stderr)
        return 2
    entries = json.loads(manifest.read_text())
    results_path = args.results or args.corpora / "calibration_values.json"
    prosody_path = results_path.with_name(results_path.stem + ".prosody.json")
    if results_path.is_file():
        results = json.loads(results_path.read_text())
    else:
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            if prosody_path.is_file():  # the measuring stage finished in an earlier run
                results = json.loads(prosody_path.read_text())
            else:
                measured = pool.map(measure_corpus, [e["path"] for e in entries])
                results = [
                    {**e, **prosody_values(e, m)} for e, m in zip(entries, measured, strict=True)
                ]
                prosody_path.write_text(json.dumps(results, indent=1) + "\n")
            asr_jobs = [
                k
                for k, e in enumerate(entries)
                if e["language"] == "en" and e["property"] in ("neutral", "accent")
            ]
            jobs = [entries[k] for k in asr_jobs]
            found = pool.map(accent_values, jobs, [args.cache] * len(jobs))
            for k, values in zip(asr_jobs, found, strict=True):
                results[k].update(values)
        results_path.write_text(json.dumps(results, indent=1) + "\n")

    neutral = [r for r in results if r["split"] == "tune" and r["property"] == "neutral"]
    reference = {}
    for name in expressiveness.REFERENCE:
        got = [r["components"][name] for r in neutral if name in r["components"]]
        reference[name] = round(float(np.median(got)), 3) if got else None
    print("expressiveness REFERENCE (median over the tune part's neutral corpora):", reference)
    expressiveness.REFERENCE.update({k: v for k, v in reference.items() if v})
    for r in results:
        parts = [
            expressiveness.Component(k, v, expressiveness.REFERENCE[k])
            for k, v in r["components"].items()
        ]
        r["emotional_speech"] = expressiveness.score(parts) if parts else None
        for name, ratio in ((c.name, c.log_ratio) for c in parts):
            r[f"log2 {name}"] = ratio

    heard = [r for r in results if r.get("heard")]
    habits = recogniser_habits([r for r in heard if r in neutral and not british(r)])
    print("recogniser HABITS (mean near-miss rates on the tune part's neutral corpora):")
    for source, table in habits.items():
        top = sorted(table.items(), key=lambda kv: -kv[1])[:12]
        print(f"  {source}: " + ", ".join(f"{a}->{b} {v:.3f}" for (a, b), v in top))
    asr.HABITS.update(habits)
    cfg = load_config(None, {}).analysis
    for r in heard:
        pairs = [(h["text"], list(h["words"] or [])) for h in r["heard"]]
        loop = [list(h["phones"] or []) for h in r["heard"]]
        ev = asr.accent_evidence(pairs, cfg.accent.min_utterances, cfg.accent.min_rate, loop)
        r["accent"] = accent.accent_value(ev) if r.get("accent_assessed") else None
        r["word_share"], r["phone_share"], r["near_miss"] = (
            ev.share,
            ev.phone_share,
            ev.near_miss_share,
        )
        r["top"] = [(x.ref, x.hyp, x.count) for x in (ev.systematic + ev.phone_systematic)][:4]

    print(f"\n{len(results)} corpora; {sum(r['split'] == 'held_out' for r in results)} held out")
    chosen = {}
    for prop, flag in FLAGS.items():
        chosen[flag] = report(results, flag, prop)
    print("\nexpressiveness components alone (log2 ratio to neutral):")
    for name in expressiveness.REFERENCE:
        report(results, f"log2 {name}", "expressive")
    print("\naccent evidence alone:")
    for key in ("word_share", "phone_share", "near_miss", "wer"):
        report(results, key, "accent")
    skipped = defaultdict(int)
    print("\ntop systematic substitutions per accent corpus (moderate, strong):")
    for r in results:
        if r["property"] == "accent" and r["strength"] != "mild" and r.get("top") is not None:
            print(f"  {r['voice']} {r['strength']}: {r['top']}")
    for r in results:
        if r.get("accent_assessed") is False:
            skipped[r["accent_reason"][:70]] += 1
    print("\naccent not assessed:", dict(skipped) or "never")
    print("\nchosen thresholds:", {k: round(v, 4) for k, v in chosen.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

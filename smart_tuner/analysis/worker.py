"""Functions run in the worker processes (top level, so they pickle). Light imports only."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def measure_many(paths: list[str]) -> list[dict[str, Any]]:
    from smart_tuner.analysis.measures import measure_file

    return [measure_file(p).to_dict() for p in paths]


def dnsmos_window(paths: list[str]) -> dict[str, Any]:
    from smart_tuner.analysis.dnsmos import score_window
    from smart_tuner.analysis.measures import load_16k

    t = time.perf_counter()
    wav = np.concatenate([load_16k(p) for p in paths])
    result = score_window(wav).to_dict()
    result["cpu_seconds"] = time.perf_counter() - t
    return result


def transcribe_file(path: str) -> dict[str, Any]:
    from smart_tuner.analysis.asr import phone_loop, transcribe_scored
    from smart_tuner.analysis.measures import load_16k

    t = time.perf_counter()
    wav = load_16k(path)
    hyp, confidence = transcribe_scored(wav)
    phones = phone_loop(wav)
    return {
        "words": hyp,
        "confidence": confidence,
        "phones": phones,
        "cpu_seconds": time.perf_counter() - t,
    }

"""Dataset analysis (S1-S3, S23-S26): size, audio quality %, voice complexity, per-file problems.

    profile = analyze_dataset("path/to/corpus", config, console)
    plan = smart_tuner.recommend.recommend(profile, config)
    print(format_summary(profile, plan))

Heavy modules (audio decoding, Praat, onnxruntime, PocketSphinx) load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smart_tuner.analysis.profile import (
    ComplexityFlag,
    DatasetProfile,
    FileSummary,
    Problem,
    QualityComponent,
)

if TYPE_CHECKING:
    from smart_tuner.analysis.pipeline import analyze_dataset
    from smart_tuner.analysis.report import format_summary, write_filelist

__all__ = [
    "ComplexityFlag",
    "DatasetProfile",
    "FileSummary",
    "Problem",
    "QualityComponent",
    "analyze_dataset",
    "format_summary",
    "write_filelist",
]

_LAZY = {
    "analyze_dataset": "smart_tuner.analysis.pipeline",
    "format_summary": "smart_tuner.analysis.report",
    "write_filelist": "smart_tuner.analysis.report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

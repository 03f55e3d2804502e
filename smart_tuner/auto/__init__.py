"""`auto`, the recommended way to train a voice: one command from a corpus to a report.

    run_auto(dataset, out, config, console, trials=10, max_minutes=60)

budget.py splits --max-minutes between the stages, record.py keeps what each stage chose in
the output folder (so a re-run resumes), stages.py holds the stages, pipeline.py chains them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_auto"]


def __getattr__(name: str) -> Any:
    if name == "run_auto":
        from smart_tuner.auto.pipeline import run_auto

        return run_auto
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

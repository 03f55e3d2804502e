"""One data-hygiene policy for `analyze` and `train`: what happens to each file problem.

The dataset analysis gives every problem it finds a verdict (analysis/scoring.py):

- ``drop``: the file would teach the model something wrong (silence, heavy clipping, a lower
  sample rate than the rest, a transcript that does not match the audio, mis-decoded text,
  duplicated audio). `analyze --write-filelist` leaves it out, and `train` leaves it out too
  (``data.apply_analysis: true``, the default), naming each file and its reason.
- ``fix``: usable as is, worth fixing at the source (stereo, DC offset, long edge silence,
  characters outside the alphabet, a higher sample rate); trained on.
- ``keep``: noted only (an unusual but plausible pace); trained on.

Plain Python over the analysis's problem records, so it is tested in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from smart_tuner.config import Config

VERDICTS = ("drop", "fix", "keep")


class ProblemRecord(Protocol):
    item: str
    problem: str
    detail: str
    action: str


def drop_reasons(problems: Iterable[ProblemRecord]) -> dict[str, str]:
    """Utterance id -> why it is dropped (several problems of one file joined)."""
    reasons: dict[str, list[str]] = {}
    for p in problems:
        if p.action == "drop":
            reasons.setdefault(p.item, []).append(f"{p.problem.replace('_', ' ')}: {p.detail}")
    return {item: "; ".join(found) for item, found in reasons.items()}


def with_analysis_drops(config: Config, problems: Iterable[ProblemRecord]) -> Config:
    """The config with the analysis's drop verdicts for the corpus loader to apply (a copy;
    unchanged when `data.apply_analysis` is off)."""
    if not config.data.apply_analysis:
        return config
    data = config.data.model_copy(update={"analysis_drops": drop_reasons(problems)})
    return config.model_copy(update={"data": data})

"""Is the free-running speech still getting better? The question the val-loss stops ask first.

Validation loss is teacher-forced: each decoder step is fed the recording's previous frame. On
a small corpus it turns up (the model starts to learn the recordings by heart) while the
speech the model makes on its own, for held-out sentences, keeps improving for a long time:
in the demo recipe's 120-minute trajectory the val_loss minimum came at ~38 minutes, yet the
recogniser's word error rate on new sentences fell from ~0.66 to 0.47 by 70 minutes, and the
quality monitor's mel_quality (MCD-DTW of free-running held-out sentences) fell with it
(5.13 -> 4.92 dB), then both levelled off. So the over-fitting and early stops wait while
mel_quality still improves, and go on once it has not improved for the phase's early-stopping
patience (the controller's own measure of how long to wait for a gain).

A measurement counts as an improvement when it beats the reference (the first measurement,
then the last improvement) by `quality_min_delta_db`; small creeping gains add up against the
same reference. Measurements of an earlier attempt (before a restart) are another model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Improvement:
    epoch: int  # the measurement that improved
    mel_quality: float
    previous_best: float  # the reference it beat


def still_improving(
    measurements: Sequence[Sequence[float]], min_delta: float, epoch: int, patience: int
) -> Improvement | None:
    """The last improvement among (epoch, mel_quality) measurements if it was measured fewer
    than `patience` epochs before `epoch`; None when quality has stopped improving (or is
    unknown). Patience in epochs, not measurements: how often the monitor measures depends on
    its time budget, not on how fast the model learns."""
    reference: float | None = None
    last: Improvement | None = None
    for measured, value in measurements:
        if reference is None:
            reference = value  # the first measurement sets the bar; it is no improvement
        elif value <= reference - min_delta:
            last = Improvement(int(measured), float(value), reference)
            reference = value
    return last if last is not None and epoch - last.epoch < patience else None

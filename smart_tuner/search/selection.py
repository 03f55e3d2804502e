"""Which trial is the best: the lowest objective among the trials whose attention formed.

Teacher-forced validation loss does not need attention: the decoder is fed the true previous
frames, so a model whose attention is a blurred band along the diagonal can still score a low
loss, and a smaller reduction factor makes that easier. In the search benchmark (random
search, seed 0) the lowest val_loss of the study, 3.34, came from such a trial (r 2,
guided-attention weight 18.8, attention_score 0.23 at its end, a diffuse diagonal in the
free-running plot, mel_quality 7.25 dB) while the next, 3.84, had a sharp alignment (0.75,
6.88 dB). A configuration whose attention did not form cannot speak a sentence it has not
heard, so it is never the search's answer while an aligned trial exists. The TTS pruning
rule prunes such trials as they train; this is the same judgement on what finished, whatever
the pruning mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState


@dataclass(frozen=True)
class Choice:
    best: FrozenTrial | None
    note: str | None = None  # said to the user when the choice is not simply the lowest value
    passed_over: tuple[int, ...] = ()  # lower-valued trials whose attention never formed


def attention_formed(trial: FrozenTrial, min_attention_score: float) -> bool | None:
    """Whether the trial's last epoch had formed attention; None where it was not recorded."""
    score = trial.user_attrs.get("attention_score")
    if not isinstance(score, int | float) or not math.isfinite(score):
        return None
    return score >= min_attention_score


def choose_best(trials: Iterable[FrozenTrial], min_attention_score: float) -> Choice:
    """The completed trial of the lowest value among those whose attention formed (or was not
    recorded); if none formed, the lowest of all, said so."""
    complete = sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and t.value is not None),
        key=lambda t: (t.value, t.number),
    )
    if not complete:
        return Choice(None)
    lowest = complete[0]
    aligned = [t for t in complete if attention_formed(t, min_attention_score) is not False]
    if not aligned:
        return Choice(
            lowest,
            f"no completed trial's attention formed (attention_score below "
            f"{min_attention_score:g} at its end): trial {lowest.number}, the lowest value, "
            "cannot be trusted to speak unseen text; train longer (search.trial_epochs) or "
            "widen the search",
        )
    best = aligned[0]
    if best is lowest:
        return Choice(best)
    passed = [t for t in complete if t.value < best.value]  # type: ignore[operator]
    listed = ", ".join(
        f"trial {t.number} ({t.value:.4g}, attention_score {t.user_attrs['attention_score']:.2f})"
        for t in passed
    )
    return Choice(
        best,
        f"passed over lower values whose attention never formed: {listed}; the best is "
        f"trial {best.number}, the lowest with attention_score >= {min_attention_score:g}",
        tuple(t.number for t in passed),
    )

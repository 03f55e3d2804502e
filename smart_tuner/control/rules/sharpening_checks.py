"""The sharpening rule's two checks once the entropy term is on: undo it when it made a clock,
release it when its work is done."""

from __future__ import annotations

from dataclasses import dataclass

from smart_tuner.config import Config
from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View

MIN_EPOCHS_BEFORE_SHARPENING = 3
SHARPEN_DIAGONALITY_LOSS = 0.25  # smoothed diagonality this far below the gate: a clock
SHARPEN_TRIES = 2
SHARPEN_RETRY_DIAGONALITY = 0.95
SHARPEN_RETRY_WEIGHT_FACTOR = 0.5


@dataclass
class SharpeningState:
    since: int | None = None  # epoch the term was switched on
    checkpoint: str | None = None  # the model kept just before it
    failed: bool = False  # it made a clock: off until the retry
    tries: int = 0  # times it was switched on in this attempt
    undone_at: int | None = None  # epoch of the rollback that undid it
    released_at: int | None = None  # epoch it was switched off, its work done


def release_when_sharp(
    mine: SharpeningState, config: Config, epoch: int, gate: float, now: EpochContext, view: View
) -> None:
    """The term is a means to an alignment, not a goal: a one-hot attention reads one
    symbol per step, where a little spread lets a frame hear its neighbours."""
    s = view.state
    release = config.training.attention_entropy_release_score
    if release <= 0.0 or mine.since is None:
        return
    if epoch - mine.since < MIN_EPOCHS_BEFORE_SHARPENING:
        return
    if s.att_ema is None or s.att_ema < release or s.diag_ema is None or s.diag_ema < gate:
        return
    mine.released_at = epoch
    now.info.append(
        Decision(
            Action.RELEASE_ATTENTION,
            f"attention is sharp (smoothed attention_score {s.att_ema:.2f} >= {release:g}) "
            f"and diagonal (smoothed diagonality {s.diag_ema:.2f}): attention-entropy "
            f"loss off, its work done since epoch {mine.since}",
            {"attention_score": s.att_ema, "since": mine.since},
        )
    )


def undo_a_clock(
    mine: SharpeningState,
    config: Config,
    epoch: int,
    gate: float,
    now: EpochContext,
    view: View,
    levers: Levers,
) -> None:
    """Undo the sharpening when it turned the alignment into a clock (sharp but off the
    diagonal); switching the term off does not unlock a clock, the earlier model does."""
    s, h = view.state, view.horizon
    if s.diag_ema is None or s.diag_ema >= gate - SHARPEN_DIAGONALITY_LOSS:
        return
    if s.att_ema is None or s.att_ema < h.attention_threshold["alignment"]:
        return  # not sharp but lost: a collapse, which the collapse rule answers
    mine.failed = True
    mine.undone_at = epoch
    levers.quiet_after_undo(epoch, h.cooldown)
    if mine.tries < SHARPEN_TRIES:
        later = (
            "term off until the diagonal is clean (smoothed diagonality >= "
            f"{max(gate, SHARPEN_RETRY_DIAGONALITY):g}), then once more at "
            f"{SHARPEN_RETRY_WEIGHT_FACTOR:g}x weight"
        )
    else:
        later = "term off for this attempt"
    now.actions.append(
        Decision(
            Action.ROLLBACK,
            f"sharpening made the attention a clock: smoothed diagonality {s.diag_ema:.2f} "
            f"fell below {gate - SHARPEN_DIAGONALITY_LOSS:.2f} after the attention-entropy "
            f"term came on at epoch {mine.since}; {later}, roll back "
            f"to the model kept then ({mine.checkpoint})",
            {
                "to_epoch": mine.since,
                "checkpoint": mine.checkpoint,
                "diagonality": s.diag_ema,
                "cause": "sharpening",
            },
        )
    )

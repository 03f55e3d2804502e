"""Sharpening: the attention-entropy term, on once the alignment is diagonal, rolled back when
it made a clock, retried once at half weight, released once the attention is sharp.

Measured on the demo corpus: diagonal attention stays a blur over ~3-5 symbols, and the term
from step 0 froze it on the first symbol; switched on at the diagonality gate it sharpened it
(attention_score 0.3 -> 0.8). On 5-7 s utterances it once made a clock (one symbol per step,
parked at the end); only the model from before it undoes that.
"""

from __future__ import annotations

from dataclasses import dataclass

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
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


class Sharpening(Rule):
    name = "sharpening"
    State = SharpeningState

    def weight(self) -> float:
        """The entropy term's weight for the next steps: held at 0 until the attention is
        diagonal (the configured weight from the start when there is no gate)."""
        t, mine = self.config.training, self.state
        if mine.failed or mine.released_at is not None:
            return 0.0
        if t.attention_entropy_min_diagonality <= 0.0:
            return t.attention_entropy_weight
        if mine.since is not None:
            return t.attention_entropy_weight * (
                SHARPEN_RETRY_WEIGHT_FACTOR if mine.tries > 1 else 1.0
            )
        return 0.0

    def decide(self, epoch: int, now: EpochContext, view: View, levers: Levers) -> bool:
        """Runs right after the attention signals, on every finite epoch."""
        s, t, mine = view.state, self.config.training, self.state
        gate = t.attention_entropy_min_diagonality
        if mine.released_at is not None:
            return False
        if mine.since is not None and not mine.failed:
            self._check(epoch, gate, now, view)
            if not mine.failed:
                self._maybe_release(epoch, gate, now, view)
                return False
        if t.attention_entropy_weight <= 0.0 or gate <= 0.0:
            return False
        if mine.failed:
            if not self._may_try_again(epoch, gate, view):
                return False
            mine.failed = False
        else:
            # The smoothed value: one lucky epoch at 0.89 between 0.55 and 0.67 switched the
            # term on too early in a demo run, and it locked into a one-symbol-per-step clock.
            if s.diag_ema is None or s.diag_ema < gate:
                return False
            # Not before the warm-up has ended: at epoch 1 DCA's prior alone draws a diagonal
            # (0.88 in a demo run) that nothing has learned yet; sharpening it made a clock.
            if epoch - s.attempt_start < max(view.horizon.warmup, MIN_EPOCHS_BEFORE_SHARPENING):
                return False
        mine.tries += 1
        mine.since = epoch
        checkpoint = levers.checkpoint(epoch, "before_sharpening")
        mine.checkpoint = checkpoint.params["tag"]
        now.actions.append(checkpoint)
        weight, m = self.weight(), now.metrics
        score = "n/a" if m.attention is None else f"{m.attention:.2f}"
        again = (
            f"again at {SHARPEN_RETRY_WEIGHT_FACTOR:g}x weight, the diagonal being clean now "
            if mine.tries > 1
            else ""
        )
        now.info.append(
            Decision(
                Action.SHARPEN_ATTENTION,
                f"attention follows the diagonal (smoothed diagonality {s.diag_ema:.2f}, "
                f"attention_score {score}): attention-entropy loss on {again}"
                f"(weight {weight:g}) so each decoder step reads one symbol",
                {
                    "weight": weight,
                    "diagonality": s.diag_ema,
                    "attention_score": m.attention,
                    "try": mine.tries,
                },
            )
        )
        return False  # an informational decision: the corrective rules still run

    def _maybe_release(self, epoch: int, gate: float, now: EpochContext, view: View) -> None:
        """The term is a means to an alignment, not a goal: a one-hot attention reads one
        symbol per step, where a little spread lets a frame hear its neighbours."""
        s, mine = view.state, self.state
        release = self.config.training.attention_entropy_release_score
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

    def _may_try_again(self, epoch: int, gate: float, view: View) -> bool:
        """Once more when the diagonal is clean (an alignment still settling is what the
        first try locked into a clock) and has been for a while."""
        mine, diag = self.state, view.state.diag_ema
        if mine.tries >= SHARPEN_TRIES:
            return False
        wait = max(view.horizon.cooldown, MIN_EPOCHS_BEFORE_SHARPENING)
        waited = mine.undone_at is None or epoch - mine.undone_at >= wait
        return waited and diag is not None and diag >= max(gate, SHARPEN_RETRY_DIAGONALITY)

    def _check(self, epoch: int, gate: float, now: EpochContext, view: View) -> None:
        """Undo the sharpening when it turned the alignment into a clock (sharp but off the
        diagonal); switching the term off does not unlock a clock, the earlier model does."""
        s, h, mine = view.state, view.horizon, self.state
        if s.diag_ema is None or s.diag_ema >= gate - SHARPEN_DIAGONALITY_LOSS:
            return
        if s.att_ema is None or s.att_ema < h.attention_threshold["alignment"]:
            return  # not sharp but lost: a collapse, which the collapse rule answers
        mine.failed = True
        mine.undone_at = epoch
        s.quiet_until = max(s.quiet_until, epoch + h.cooldown)
        s.collapse_epochs = 0
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

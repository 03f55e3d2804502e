"""Sharpening: the attention-entropy term, on once the alignment is diagonal, rolled back when
it made a clock, retried once at half weight, released once the attention is sharp.

Measured on the demo corpus: diagonal attention stays a blur over ~3-5 symbols, and the term
from step 0 froze it on the first symbol; switched on at the diagonality gate it sharpened it
(attention_score 0.3 -> 0.8). On 5-7 s utterances it once made a clock (one symbol per step,
parked at the end); only the model from before it undoes that.
"""

from __future__ import annotations

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.rules.base import Rule
from smart_tuner.control.rules.sharpening_checks import (
    MIN_EPOCHS_BEFORE_SHARPENING,
    SHARPEN_RETRY_DIAGONALITY,
    SHARPEN_RETRY_WEIGHT_FACTOR,
    SHARPEN_TRIES,
    SharpeningState,
    release_when_sharp,
    undo_a_clock,
)
from smart_tuner.control.state import EpochContext
from smart_tuner.control.view import View


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
            undo_a_clock(mine, self.config, epoch, gate, now, view, levers)
            if not mine.failed:
                release_when_sharp(mine, self.config, epoch, gate, now, view)
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

    def _may_try_again(self, epoch: int, gate: float, view: View) -> bool:
        """Once more when the diagonal is clean (an alignment still settling is what the
        first try locked into a clock) and has been for a while."""
        mine, diag = self.state, view.state.diag_ema
        if mine.tries >= SHARPEN_TRIES:
            return False
        wait = max(view.horizon.cooldown, MIN_EPOCHS_BEFORE_SHARPENING)
        waited = mine.undone_at is None or epoch - mine.undone_at >= wait
        return waited and diag is not None and diag >= max(gate, SHARPEN_RETRY_DIAGONALITY)

"""The levers rules pull: stop, keep a checkpoint, cut the LR, restart, enter a phase.

Each lever changes the controller's shared state in one place and writes the decision the
loop carries out, so two rules that both cut the learning rate do it the same way. The LR
schedule itself stays in the controller; levers only change its factors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.state import EpochContext
from smart_tuner.events import QUALITY_STOPS, StopReason

if TYPE_CHECKING:
    from smart_tuner.control.controller import TrainingController


class Levers:
    def __init__(self, controller: TrainingController) -> None:
        self._c = controller

    def stop(self, reason: StopReason, text: str) -> Decision:
        s = self._c.shared_state
        params: dict[str, Any] = {"stop_reason": reason, "best_epoch": s.best_epoch}
        params["best_val_loss"] = s.best_val
        if reason in QUALITY_STOPS:
            params["epochs_saved"] = max(0, self._c.plan.max_epochs - s.last_epoch)
        return Decision(Action.STOP, text, params)

    def hold_stop(self, rule: str, now: EpochContext) -> bool:
        """True when a val-loss stop (`rule`) must wait because free-running quality still
        improves (control/quality_guard.py); said once per quality measurement."""
        s, config = self._c.shared_state, self._c.config.overfitting_detection
        gain = self._c.view.free_running_gain()
        if gain is None:
            return False
        latest = s.quality[-1][0]
        if s.stop_held_at != latest:
            s.stop_held_at = latest
            now.info.append(
                Decision(
                    Action.HOLD_STOP,
                    f"{rule.replace('_', ' ')} stop held: the free-running speech of held-out "
                    f"sentences still improves (mel_quality {gain.mel_quality:.2f} dB at epoch "
                    f"{gain.epoch}, from {gain.previous_best:.2f}); the stop goes on after "
                    f"{self._c.horizon.patience[s.phase]} epochs without a gain of "
                    f"{config.quality_min_delta_db:g} dB",
                    {
                        "rule": rule,
                        "mel_quality": gain.mel_quality,
                        "quality_epoch": gain.epoch,
                        "previous_best": gain.previous_best,
                    },
                )
            )
        return True

    @staticmethod
    def checkpoint(epoch: int, what: str) -> Decision:
        tag = f"{what}_e{epoch:05d}"
        return Decision(
            Action.CHECKPOINT,
            f"keep the model as it is before a destructive action ({what.replace('_', ' ')})",
            {"tag": tag},
        )

    def capped(self, lr: float) -> str:
        ceiling = self._c.shared_state.lr_ceiling
        if ceiling is not None and lr >= ceiling * (1.0 - 1e-9):
            return f" (capped at {ceiling:.3g}, the rate that proved stable)"
        return ""

    def lower_lr(self, epoch: int, factor: float, unstable: bool) -> tuple[float, float]:
        """LR x factor from now on; `unstable`: the run was unstable at the old rate, so the
        new one becomes a ceiling for the rest of the attempt. (LR before, LR after.)"""
        c, s = self._c, self._c.shared_state
        before = c.learning_rate(epoch)
        s.lr_factor *= factor
        if unstable:
            s.lr_ceiling = max(before * factor, c.lr_bounds[0])
        s.last_lr_change = epoch
        return before, c.learning_rate(epoch)

    def reduce_lr(
        self, epoch: int, reason: str, cause: str, now: EpochContext, unstable: bool = True
    ) -> bool:
        """LR x factor. For an instability the reduced rate also becomes a ceiling, and at the
        floor the run restarts with gentler parameters instead."""
        c, s = self._c, self._c.shared_state
        strategy = c.config.training_recovery.recovery_strategies.reduce_lr
        before = c.learning_rate(epoch)
        if before <= strategy.min_lr * (1.0 + 1e-9):
            if unstable and c.view.can_restart(epoch):
                self.restart(
                    epoch, f"{reason}; the learning rate is at its floor {strategy.min_lr:g}", now
                )
                return True
            return False
        _, lr = self.lower_lr(epoch, strategy.factor, unstable)
        s.lr_reductions += 1
        now.actions.append(
            Decision(
                Action.SET_LR,
                f"{reason}: learning rate × {strategy.factor:g}: {before:.3g} → {lr:.3g} "
                f"(floor {strategy.min_lr:g})",
                {"lr": lr, "previous_lr": before, "factor": strategy.factor, "cause": cause},
            )
        )
        return True

    def restart(
        self, epoch: int, reason: str, now: EpochContext, stronger_guidance: bool = False
    ) -> None:
        """S6/S10: start over with fresh weights and gentler parameters, inside the same run."""
        c, s = self._c, self._c.shared_state
        control = c.config.control
        s.restarts += 1
        lr = s.lr_base * control.restart_lr_factor
        if stronger_guidance:
            s.guided_attention_factor *= control.restart_guided_attention_factor
        ga = c.guided_attention_weight()
        guidance = f", guided-attention weight {ga:g}" if stronger_guidance else ""
        now.actions.append(self.checkpoint(epoch, "before_restart"))
        now.actions.append(
            Decision(
                Action.RESTART,
                f"{reason}: restart {s.restarts}/{c.config.training_recovery.max_restarts} "
                f"with fresh weights, learning rate {s.lr_base:.3g} → {lr:.3g}{guidance}",
                {
                    "attempt": s.restarts,
                    "reinitialize": True,
                    "learning_rate": lr,
                    "guided_attention_weight": ga,
                    "batch_size": s.batch_size,
                },
            )
        )
        self.begin_attempt(epoch, lr)
        self.enter_phase(epoch, "alignment", f"restart {s.restarts}", now)

    def begin_attempt(self, epoch: int, lr: float) -> None:
        """Fresh weights: the schedule, the attention signals and every rule start over."""
        s = self._c.shared_state
        s.attempt_start = epoch
        s.lr_base, s.lr_factor, s.lr_ceiling = lr, 1.0, None
        s.restart_segment = s.rewarm = None
        s.last_lr_change = epoch
        s.aligned_once = s.diag_formed = False
        s.aligned_at = None
        s.gate_ema = s.gate_best = None
        s.grad_window = []
        s.high_grad_epochs = s.skipped_step_epochs = s.nonfinite_in_a_row = 0
        for rule in self._c.rules.values():
            rule.new_attempt(epoch)
        self.forget_curve(epoch, quiet=0)

    def hold_still(self, epoch: int, epochs: int) -> None:
        """After an intervention, no rule acts for `epochs` epochs and patience counts anew."""
        s = self._c.shared_state
        s.quiet_until = epoch + epochs
        s.patience_origin = epoch

    def rolled_back(self, epoch: int, cooldown: int) -> None:
        """A rollback to the last good checkpoint was decided."""
        self._c.shared_state.rollbacks += 1
        self.hold_still(epoch, cooldown)

    def attention_reset(self, epoch: int, rewarm_epochs: int | None) -> None:
        """The attention is re-initialised; with `rewarm_epochs` the LR warms up again too."""
        s = self._c.shared_state
        s.attention_resets += 1
        if rewarm_epochs is not None:
            s.rewarm = [epoch, rewarm_epochs]

    def lr_restart(self, epoch: int, warmup: int, peak_factor: float, origin: float) -> None:
        """A warm LR restart: a bump to `peak_factor` x over `warmup` epochs from the current
        point of the schedule (`origin`); the curve is fitted anew after the bump."""
        s = self._c.shared_state
        s.restart_segment = [float(epoch), float(warmup), origin, peak_factor]
        s.lr_restarts += 1
        s.plateau_armed = False
        s.last_lr_change = epoch
        self.hold_still(epoch, warmup)
        s.fit_start = epoch + warmup  # the bump is not part of the curve's shape

    def disarm_plateau(self, epoch: int) -> None:
        """The plateau was answered (an LR cut): the next one needs a fresh reference."""
        s = self._c.shared_state
        s.plateau_armed = False
        s.patience_origin = epoch

    def set_batch_size(self, size: int) -> None:
        """From the next epoch on; the training-loss window restarts with it."""
        s = self._c.shared_state
        s.batch_size = size
        s.batch_changes += 1
        s.train_window = []

    def quiet_after_undo(self, epoch: int, cooldown: int) -> None:
        """A sharpening was undone: give the earlier model `cooldown` epochs to settle."""
        s = self._c.shared_state
        s.quiet_until = max(s.quiet_until, epoch + cooldown)
        s.collapse_epochs = 0

    def realign(self, epoch: int) -> None:
        """The attention was re-initialised: it must form again (the rules hear it too)."""
        self._c.shared_state.aligned_once = False
        for rule in self._c.rules.values():
            rule.realign(epoch)

    def forget_curve(self, epoch: int, quiet: int) -> None:
        """After the model changed abruptly, judge it only on what it does from now on."""
        s = self._c.shared_state
        s.val_ema = s.train_ema = s.att_ema = s.diag_ema = None
        s.ref_val = s.min_val_ema = s.train_at_min = None
        s.ref_epoch = s.patience_origin = s.min_val_epoch = s.fit_start = epoch
        s.overfit_epochs = s.collapse_epochs = 0
        s.train_window = []
        s.plateau_armed = True
        s.quiet_until = epoch + quiet

    def enter_phase(self, epoch: int, phase: str, reason: str, now: EpochContext) -> None:
        s = self._c.shared_state
        previous = s.phase
        s.phase_history[-1]["end_epoch"] = epoch
        s.phase_history.append(
            {"phase": phase, "start_epoch": epoch, "end_epoch": None, "reason": reason}
        )
        s.phase = phase
        if phase == "alignment":
            s.alignment_since = epoch
        now.info.append(
            Decision(
                Action.PHASE,
                f"entering the {phase.replace('_', '-')} phase: {reason}",
                {"phase": phase, "previous": previous},
            )
        )

"""The training brain (S9-S15, S25): one record of metrics per epoch in, decisions out.

Why one class with a fixed priority order: the rules interact. An attention collapse makes the
validation loss rise while the teacher-forced training loss keeps falling, which also looks like
over-fitting; an LR restart makes the loss rise, which looks like a plateau ending. Deciding in
one place, in the order

    NaN/Inf > attention collapse > gradient explosion > over-fitting > plateau / patience
    > skipped steps > batch size,

gives every epoch one consistent set of decisions (at most one corrective action per epoch), and
cool-downs keep consecutive epochs from undoing each other. The plan's end and the time budget
override everything: the last epoch only stops.

Signals are smoothed (an exponential moving average over about 10 scaled epochs) and judged
relative to their own level, so a loss of 60 and a loss of 0.4 are treated alike and single noisy
epochs do not trigger anything. Pure Python over plain data (numpy only for the curve fit): the
same records always give the same decisions, which is what makes `replay` and resume exact.

The loop's side of the contract:
- every optimizer step: `lr = controller.learning_rate(epochs_done + batch_index / n_batches)`;
- after every epoch: `decisions = controller.observe(record, elapsed_seconds)` with the
  metrics.jsonl record (which should carry `elapsed_seconds` too, so replay sees the same clock),
  then carry out the decisions in order (see `Action`); keep a checkpoint of
  `controller.last_good_epoch` for ROLLBACK; store `controller.state_dict()` with each checkpoint;
- at the end: `summary.update(controller.summary_fields())`.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from smart_tuner.config import Config
from smart_tuner.control.analysis import ProgressAnalysis
from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.plan import Horizon, TrainingPlan
from smart_tuner.control.progress import ProgressReport
from smart_tuner.control.schedule import schedule_factor
from smart_tuner.control.state import (
    ControllerState,
    EpochContext,
    EpochMetrics,
    ema,
    finite,
    read_number,
    trend,
)

STATE_FORMAT = "smart_tuner.control/1"
ALLOWED_ACTIONS = {
    "gradient_explosion": {"reduce_lr", "none"},
    "loss_plateau": {"lr_restart", "reduce_lr", "none"},
    "attention_collapse": {"attention_reset", "restart", "none"},
}
MIN_EPOCHS_BEFORE_SHARPENING = 3
SHARPEN_DIAGONALITY_LOSS = 0.25  # smoothed diagonality this far below the gate: a clock
# After a clock was undone the term gets one more try, at half weight, once the alignment is
# clean. Measured on 5-7 s utterances (forward attention): switched on at smoothed
# diagonality 0.85 / attention_score 0.15 it made a clock; without it the attention, diagonal
# at 0.99-1.00 from then on, only crept from 0.2 to 0.68 in the remaining 20 minutes.
SHARPEN_TRIES = 2
SHARPEN_RETRY_DIAGONALITY = 0.95
SHARPEN_RETRY_WEIGHT_FACTOR = 0.5
QUALITY_STOPS = {"converged", "overfitting", "no_improvement"}
COLLAPSE_CONFIRM_EPOCHS = 2  # one bad validation batch is not a collapse
SKIPPED_STEPS_CONFIRM_EPOCHS = 2  # AMP skips a step now and then by design
HARD_NONFINITE_SHARE = 0.5  # half the steps NaN/Inf: the epoch did not really train
TREND_T = 2.0  # a regression slope this many standard errors below 0 is real improvement


class TrainingController(ProgressAnalysis):
    """Decides, epoch by epoch, how a Tacotron2 run should go on; owns the LR schedule.

    Call `learning_rate(epoch_progress)` before every optimizer step and `observe(record,
    elapsed_seconds)` after every epoch; carry out the returned decisions in order.
    """

    def __init__(self, config: Config, plan: TrainingPlan) -> None:
        self.config = config
        self.plan = plan
        problems = config.training_recovery.problem_detection
        for name, allowed in ALLOWED_ACTIONS.items():
            action = getattr(problems, name).action
            if action not in allowed:
                raise ValueError(
                    f"training_recovery.problem_detection.{name}.action = {action!r}: "
                    f"expected one of {sorted(allowed)}"
                )
        self._s = ControllerState(
            effective_end=plan.max_epochs,
            lr_base=plan.learning_rate,
            batch_size=plan.batch_size,
            phase_history=[
                {"phase": "alignment", "start_epoch": 0, "end_epoch": None, "reason": "start"}
            ],
        )
        self._horizon_key: tuple[int, int] | None = None
        self._horizon: Horizon | None = None
        self._bounds = self._lr_bounds()

    # ------------------------------------------------------------------ public state

    @property
    def horizon(self) -> Horizon:
        """The scaled epoch numbers for the current attempt and plan (cached)."""
        s = self._s
        key = (s.attempt_start, s.effective_end)
        if self._horizon is None or key != self._horizon_key:
            self._horizon = Horizon.build(self.config, s.attempt_start, s.effective_end)
            self._horizon_key = key
        return self._horizon

    @property
    def phase(self) -> str:
        """alignment | learning | fine_tuning."""
        return self._s.phase

    @property
    def batch_size(self) -> int:
        """The batch size the loop should be using now (after SET_BATCH_SIZE decisions)."""
        return self._s.batch_size

    @property
    def last_good_epoch(self) -> int:
        """Latest epoch whose record was finite: keep its checkpoint, ROLLBACK returns there."""
        return self._s.last_good_epoch

    @property
    def stopped(self) -> bool:
        """True once a STOP was decided; later `observe` calls change nothing."""
        return self._s.stop_epoch is not None

    @property
    def last_report(self) -> ProgressReport | None:
        """The latest progress analysis (also sent as a REPORT decision)."""
        return ProgressReport.from_dict(self._s.reports[-1]) if self._s.reports else None

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable; `load_state_dict` of it continues exactly where this left off."""
        return {"format": STATE_FORMAT, "plan": self.plan.to_dict(), "state": asdict(self._s)}

    def load_state_dict(self, data: Mapping[str, Any]) -> None:
        """Continue from `state_dict()`; its plan replaces the constructor's (it is the run's)."""
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a controller state ({data.get('format')!r} != {STATE_FORMAT})")
        self.plan = TrainingPlan.from_dict(dict(data["plan"]))
        self._s = ControllerState(**copy.deepcopy(dict(data["state"])))
        self._horizon = None
        self._bounds = self._lr_bounds()

    def attention_entropy_weight(self) -> float:
        """Weight of the attention-entropy loss term for the next training steps: the
        configured one, held at 0 until the attention is diagonal (see `_maybe_sharpen`)."""
        t, s = self.config.training, self._s
        if s.sharpen_failed or s.sharpen_released_at is not None:
            return 0.0
        if t.attention_entropy_min_diagonality <= 0.0:
            return t.attention_entropy_weight
        if s.sharpen_since is not None:
            retry = s.sharpen_tries > 1
            return t.attention_entropy_weight * (SHARPEN_RETRY_WEIGHT_FACTOR if retry else 1.0)
        return 0.0

    def extend(self, max_epochs: int, max_minutes: float | None = None) -> None:
        """A resumed run asked for another length or budget: the plan, its phases and the
        schedule follow, and a run that had stopped may go on."""
        self.plan = replace(self.plan, max_epochs=int(max_epochs), max_minutes=max_minutes)
        self._s.stop_epoch = None
        self._horizon = None
        self._bounds = self._lr_bounds()

    # ------------------------------------------------------------------ learning rate

    def learning_rate(self, epoch_progress: float) -> float:
        """LR for an optimizer step taken at `epoch_progress` epochs (e.g. 12.37).

        Cosine annealing with linear warm-up from min_lr_factor x peak (S12), scaled to the
        horizon; times the reductions (x0.5 each, S14), the batch-size scaling (square root of
        the batch ratio, the usual rule for Adam) and, after an optimizer reset, a short re-warm.
        After an instability (explosion, NaN) the reduced LR also becomes a ceiling for the rest
        of the attempt, so a later batch growth or LR restart cannot bring the instability back.
        Clamped to [reduce_lr.min_lr, peak_lr_factor x base x batch scaling at the largest batch].
        """
        s = self._s
        factor = self._shape(epoch_progress, self.horizon)
        if s.rewarm is not None:
            start, warm = s.rewarm
            if warm > 0 and epoch_progress >= start:
                low = self._warm_from or 0.1
                factor *= low + (1.0 - low) * min(1.0, (epoch_progress - start) / warm)
        lr = s.lr_base * s.lr_factor * math.sqrt(s.batch_size / self.plan.batch_size) * factor
        if s.lr_ceiling is not None:
            lr = min(lr, s.lr_ceiling)
        return min(self._bounds[1], max(self._bounds[0], lr))

    @property
    def lr_bounds(self) -> tuple[float, float]:
        """(floor, ceiling) every learning rate this controller hands out lies within."""
        return self._bounds

    def _lr_bounds(self) -> tuple[float, float]:
        strategies = self.config.training_recovery.recovery_strategies
        peak = max(1.0, strategies.lr_restart.peak_lr_factor)
        widest = math.sqrt(self.plan.max_batch_size / self.plan.batch_size)
        return strategies.reduce_lr.min_lr, self.plan.learning_rate * peak * widest

    @property
    def _scheduling(self) -> bool:
        adaptive = self.config.adaptive_learning
        return adaptive.enabled and adaptive.lr_scheduling.enabled

    @property
    def _warm_from(self) -> float:
        return self.config.adaptive_learning.lr_scheduling.min_lr_factor

    @property
    def _decay_to(self) -> float:
        sched = self.config.adaptive_learning.lr_scheduling
        cosine = self._scheduling and sched.scheduler_type == "cosine_annealing"
        return sched.min_lr_factor if cosine else 1.0

    def _shape(self, t: float, h: Horizon) -> float:
        """Schedule factor relative to the attempt's base LR, before reductions and clamps."""
        return schedule_factor(
            t,
            h,
            scheduling=self._scheduling,
            warm_from=self._warm_from,
            decay_to=self._decay_to,
            restart=self._s.restart_segment,
            decay_start=self._decay_start,
        )

    @property
    def _decay_start(self) -> float | None:
        """Annealing waits for the attention (see `LrScheduling.hold_until_aligned`)."""
        s = self._s
        if not self.config.adaptive_learning.lr_scheduling.hold_until_aligned:
            return None
        if s.att_ema is None:  # no attention measured (yet): nothing to wait for
            return None
        return math.inf if s.aligned_at is None else s.aligned_at

    # ------------------------------------------------------------------ the epoch

    def observe(self, record: Mapping[str, Any], elapsed_seconds: float) -> list[Decision]:
        """Take one epoch's record (metrics.jsonl keys) and the run's wall seconds so far."""
        s = self._s
        epoch = int(record["epoch"])
        if s.stop_epoch is not None:
            return [Decision(Action.CONTINUE, f"the run already stopped at epoch {s.stop_epoch}")]
        if epoch <= s.last_epoch:
            return [Decision(Action.CONTINUE, f"epoch {epoch} was already observed")]
        m = EpochMetrics.read(record, s.last_step, epoch)
        s.last_epoch = epoch
        step = finite(read_number(record, "step"))
        if step is not None:
            s.last_step = step
        now = EpochContext(m, float(elapsed_seconds))
        self._track_time(epoch, now)
        final = self._plan_stop(epoch, now)
        broken = self._nonfinite(epoch, m)
        if broken:
            s.nonfinite_in_a_row += 1
            if final is None:
                self._on_nonfinite(epoch, broken, now)
        else:
            s.nonfinite_in_a_row = 0
            s.last_good_epoch = epoch
            self._update(epoch, now)
            self._advance_phase(epoch, now)
            if final is None:
                self._intervene(epoch, now)
        if now.stop is None:
            now.stop = final
        self._maybe_report(epoch, now)
        return self._emit(epoch, now)

    def _emit(self, epoch: int, now: EpochContext) -> list[Decision]:
        s = self._s
        decisions = [*now.info, *now.actions]
        if now.report is not None:
            decisions.append(now.report)
        if now.stop is not None:
            decisions.append(now.stop)
            s.stop_reason = now.stop.stop_reason
            s.stop_epoch = epoch
        for d in decisions:
            if d.action is not Action.REPORT:
                s.decisions.append({"epoch": epoch, **d.to_dict()})
        return decisions or [Decision(Action.CONTINUE, "no action needed")]

    # ------------------------------------------------------------------ time and budget

    def _track_time(self, epoch: int, now: EpochContext) -> None:
        """Smoothed wall seconds per epoch; re-plan the horizon when the budget cuts it."""
        s = self._s
        delta = now.elapsed - s.last_elapsed if now.elapsed > s.last_elapsed else 0.0
        if delta <= 0.0:
            delta = now.metrics.epoch_seconds or 0.0
        s.last_elapsed = max(s.last_elapsed, now.elapsed)
        if delta > 0.0:
            s.last_epoch_cost = delta
            s.epoch_cost = delta if s.epoch_cost is None else 0.7 * s.epoch_cost + 0.3 * delta
        if self.plan.max_minutes is None or not s.epoch_cost:
            return
        left = self.plan.max_minutes * 60.0 - s.last_elapsed
        fits = epoch + max(0, int(left // s.epoch_cost))
        target = max(epoch + 1, min(self.plan.max_epochs, fits))
        current = s.effective_end
        if abs(target - current) > max(2, 0.1 * current) and epoch < 0.9 * current:
            s.effective_end = target
            now.info.append(
                Decision(
                    Action.REPLAN,
                    f"time budget {self.plan.max_minutes:g} min at ~{s.epoch_cost:.1f} s/epoch "
                    f"fits ~{target} epochs (planned {self.plan.max_epochs}): phases and the "
                    f"learning-rate schedule now span epochs {s.attempt_start}-{target}",
                    {"effective_epochs": target, "previous": current},
                )
            )

    def _plan_stop(self, epoch: int, now: EpochContext) -> Decision | None:
        s, plan = self._s, self.plan
        if epoch >= plan.max_epochs:
            return self._stop("epochs_completed", f"planned {plan.max_epochs} epochs completed")
        if plan.max_minutes is not None and s.epoch_cost:
            limit = plan.max_minutes * 60.0
            next_cost = max(s.epoch_cost, s.last_epoch_cost or 0.0)
            if now.elapsed + next_cost > limit:
                return self._stop(
                    "budget",
                    f"time budget of {plan.max_minutes:g} min would be exceeded by another epoch "
                    f"({now.elapsed / 60:.1f} min used, ~{next_cost:.0f} s/epoch)",
                )
        return None

    def _stop(self, reason: str, text: str) -> Decision:
        s = self._s
        params: dict[str, Any] = {"stop_reason": reason, "best_epoch": s.best_epoch}
        params["best_val_loss"] = s.best_val
        if reason in QUALITY_STOPS:
            params["epochs_saved"] = max(0, self.plan.max_epochs - s.last_epoch)
        return Decision(Action.STOP, text, params)

    # ------------------------------------------------------------------ signals

    def _nonfinite(self, epoch: int, m: EpochMetrics) -> str | None:
        """Why this epoch's record is broken (NaN/Inf), or None when it is usable."""
        bad = []
        if m.train_loss is not None and not math.isfinite(m.train_loss):
            bad.append(f"train_loss {m.train_loss}")
        if m.val_loss is not None and not math.isfinite(m.val_loss):
            bad.append(f"val_loss {m.val_loss}")
        share = m.nonfinite_share
        # The first epoch of an attempt is exempt: AMP's loss scaler calibrates there.
        if (
            share is not None
            and share >= HARD_NONFINITE_SHARE
            and epoch - self._s.attempt_start > 1
        ):
            bad.append(f"{m.nonfinite_steps:.0f} of {m.steps:.0f} steps NaN/Inf")
        return ", ".join(bad) or None

    def _update(self, epoch: int, now: EpochContext) -> None:
        s, h, m = self._s, self.horizon, now.metrics
        alpha = h.ema_alpha
        val = finite(m.val_loss)
        if val is not None:
            s.val_ema = ema(s.val_ema, val, alpha)
            s.last_val = val
            s.history.append([epoch, val])
            if s.best_val is None or val < s.best_val:
                s.best_val, s.best_epoch = val, epoch
        train = finite(m.train_loss)
        if train is not None:
            now.loss_rose = s.train_ema is None or train > s.train_ema
            s.train_ema = ema(s.train_ema, train, alpha)
            s.train_window.append(s.train_ema)
            del s.train_window[: -(h.stability_window + 1)]
        degradation = self.config.overfitting_detection.attention_degradation
        if m.diagonality is not None:
            s.diag_ema = ema(s.diag_ema, m.diagonality, alpha)
            s.diag_formed = s.diag_formed or s.diag_ema >= degradation.min_diagonality
        thresholds = h.attention_threshold
        if m.attention is not None:
            s.att_ema = ema(s.att_ema, m.attention, alpha)
            # Formed = sharp *and* on the diagonal: a sharp attention stuck on one symbol or
            # racing ahead (common in the first epochs of location-relative attention) is not.
            diagonal = s.diag_ema is None or s.diag_ema >= degradation.min_diagonality
            if s.att_ema >= thresholds["alignment"] and diagonal:
                if s.aligned_at is None:
                    s.aligned_at = float(epoch)
                s.aligned_once = True
            collapse = self.config.training_recovery.problem_detection.attention_collapse
            limit = 0.3 if collapse.threshold is None else collapse.threshold
            s.collapse_epochs = (
                s.collapse_epochs + 1 if s.aligned_once and m.attention < limit else 0
            )
        self._maybe_sharpen(epoch, m, now)
        if m.gate_accuracy is not None:
            s.gate_ema = ema(s.gate_ema, m.gate_accuracy, alpha)
            s.gate_best = max(s.gate_best or 0.0, s.gate_ema)
        if s.val_ema is not None:
            delta = h.min_improvement[s.phase]
            if s.ref_val is None or s.val_ema < s.ref_val * (1.0 - delta):
                s.ref_val, s.ref_epoch = s.val_ema, epoch
                s.plateau_armed = s.plateau_armed or epoch >= s.quiet_until
            if s.min_val_ema is None or s.val_ema < s.min_val_ema:
                s.min_val_ema, s.min_val_epoch, s.train_at_min = s.val_ema, epoch, s.train_ema
            s.overfit_epochs = s.overfit_epochs + 1 if self._overfitting_now(epoch) else 0
        g = m.grad_norm
        if g is not None:
            if len(s.grad_window) >= 3:
                now.grad_base = statistics.median(s.grad_window)
            s.grad_window.append(g)
            del s.grad_window[: -max(5, h.cooldown)]
            threshold = self._explosion_threshold
            s.high_grad_epochs = s.high_grad_epochs + 1 if g > threshold else 0
        share = m.nonfinite_share
        tolerance = self.config.control.nonfinite_step_tolerance
        if share is not None and share > tolerance and epoch - s.attempt_start > 1:
            s.skipped_step_epochs += 1
        else:
            s.skipped_step_epochs = 0

    @property
    def _explosion_threshold(self) -> float:
        t = self.config.training_recovery.problem_detection.gradient_explosion.threshold
        return 10.0 if t is None else t

    def _val_gap(self) -> tuple[float, bool]:
        """(smoothed val_loss above its minimum, relative; train loss fell meanwhile)."""
        s = self._s
        if s.val_ema is None or not s.min_val_ema:
            return 0.0, False
        gap = s.val_ema / s.min_val_ema - 1.0
        margin = 1.0 - self.config.early_stopping.min_delta
        falling = (
            s.train_ema is not None and s.train_at_min is not None
        ) and s.train_ema < s.train_at_min * margin
        return gap, falling

    def _overfitting_now(self, epoch: int) -> bool:
        detection = self.config.overfitting_detection
        if not detection.enabled or epoch < self._s.quiet_until:
            return False
        gap, falling = self._val_gap()
        return falling and gap >= detection.val_loss_increase_threshold

    # ------------------------------------------------------------------ phases

    def _attention_ok(self, phase: str) -> bool:
        att = self._s.att_ema
        return att is None or att >= self.horizon.attention_threshold[phase]

    def _advance_phase(self, epoch: int, now: EpochContext) -> None:
        s, h = self._s, self.horizon
        while True:
            if s.phase == "alignment":
                bound, nxt = h.alignment_end, "learning"
            elif s.phase == "learning":
                bound, nxt = h.learning_end, "fine_tuning"
            else:
                return
            if epoch < bound or not self._attention_ok(s.phase):
                return
            threshold = h.attention_threshold[s.phase]
            attention = (
                f" and attention score {s.att_ema:.2f} >= {threshold:g}"
                if s.att_ema is not None
                else " (no attention score recorded)"
            )
            late = f" (held past epoch {bound} until attention formed)" if epoch > bound else ""
            self._enter_phase(
                epoch, nxt, f"epoch {epoch} reached the {s.phase} phase's end{late}{attention}", now
            )

    def _enter_phase(self, epoch: int, phase: str, reason: str, now: EpochContext) -> None:
        s = self._s
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

    # ------------------------------------------------------------------ corrective actions

    def _intervene(self, epoch: int, now: EpochContext) -> None:
        """At most one corrective action (or a stop) per epoch, highest priority first."""
        rules = (
            self._collapse,
            self._explosion,
            self._overfitting,
            self._plateau_or_patience,
            self._skipped_steps,
            self._adapt_batch_size,
        )
        for rule in rules:
            if rule(epoch, now):
                return

    def _cooled(self, last: int | None, epoch: int, epochs: int | None = None) -> bool:
        return last is None or epoch - last >= (self.horizon.cooldown if epochs is None else epochs)

    def _on_nonfinite(self, epoch: int, what: str, now: EpochContext) -> None:
        s, h = self._s, self.horizon
        control = self.config.control
        reason = f"non-finite training at epoch {epoch} ({what})"
        if not self.config.training_recovery.enabled:
            now.stop = self._stop("diverged", reason + "; recovery is disabled")
            return
        nothing_good = s.last_good_epoch <= s.attempt_start
        if nothing_good or s.nonfinite_in_a_row > control.max_rollbacks_in_a_row:
            why = (
                "no finite epoch to roll back to"
                if nothing_good
                else f"{s.nonfinite_in_a_row} broken epochs in a row despite rollbacks"
            )
            if self._can_restart(epoch):
                self._restart(epoch, f"{reason}: {why}", now)
            else:
                now.stop = self._stop("diverged", f"{reason}: {why}, and no restart is left")
            return
        factor = self.config.training_recovery.recovery_strategies.reduce_lr.factor
        before = self.learning_rate(epoch)
        s.lr_factor *= factor
        s.lr_ceiling = max(before * factor, self._bounds[0])
        s.rollbacks += 1
        s.last_lr_change = epoch
        s.quiet_until = epoch + h.cooldown
        s.patience_origin = epoch
        lr = self.learning_rate(epoch)
        now.actions.append(
            Decision(
                Action.ROLLBACK,
                f"{reason}: roll back to the last good checkpoint (epoch {s.last_good_epoch}) "
                f"and lower the learning rate × {factor:g}: {before:.3g} → {lr:.3g}",
                {"to_epoch": s.last_good_epoch, "lr": lr, "previous_lr": before, "factor": factor},
            )
        )

    def _collapse(self, epoch: int, now: EpochContext) -> bool:
        s = self._s
        if not self.config.training_recovery.enabled or s.collapse_epochs < COLLAPSE_CONFIRM_EPOCHS:
            return False
        if now.metrics.attention is None or not self._cooled(s.last_attention_reset, epoch):
            return False
        problem = self.config.training_recovery.problem_detection.attention_collapse
        limit = 0.3 if problem.threshold is None else problem.threshold
        reason = (
            f"attention collapsed: attention score {now.metrics.attention:.2f} < {limit:g} for "
            f"{s.collapse_epochs} epochs after it had formed"
        )
        if problem.action == "attention_reset":
            if s.attention_resets < self.config.control.max_attention_resets:
                self._reset_attention(epoch, reason, now)
                return True
            reason += f" ({s.attention_resets} attention resets did not hold)"
        if problem.action != "none" and self._can_restart(epoch):
            self._restart(epoch, reason, now)
            return True
        return False

    def _reset_attention(self, epoch: int, reason: str, now: EpochContext) -> None:
        s, h = self._s, self.horizon
        strategy = self.config.training_recovery.recovery_strategies.attention_reset
        s.attention_resets += 1
        s.last_attention_reset = epoch
        now.actions.append(self._checkpoint(epoch, "before_attention_reset"))
        if strategy.reset_attention_weights:
            now.actions.append(
                Decision(
                    Action.RESET_ATTENTION,
                    f"{reason}: re-initialise the attention module's weights "
                    f"(reset {s.attention_resets}/{self.config.control.max_attention_resets})",
                )
            )
        if strategy.reset_optimizer_state:
            warm = max(1, h.restart_warmup)
            s.rewarm = [epoch, warm]
            now.actions.append(
                Decision(
                    Action.RESET_OPTIMIZER,
                    f"{reason}: fresh optimizer state, learning rate re-warmed over {warm} epochs",
                    {"rewarm_epochs": warm},
                )
            )
        self._forget_curve(epoch, quiet=max(h.cooldown, h.restart_warmup))
        s.aligned_once = False
        s.deadline_done = False
        self._enter_phase(epoch, "alignment", "the attention was re-initialised", now)

    def _forget_curve(self, epoch: int, quiet: int) -> None:
        """After the model changed abruptly, judge it only on what it does from now on."""
        s = self._s
        s.val_ema = s.train_ema = s.att_ema = s.diag_ema = None
        s.ref_val = s.min_val_ema = s.train_at_min = None
        s.ref_epoch = s.patience_origin = s.min_val_epoch = s.fit_start = epoch
        s.overfit_epochs = s.collapse_epochs = 0
        s.train_window = []
        s.plateau_armed = True
        s.quiet_until = epoch + quiet

    def _explosion(self, epoch: int, now: EpochContext) -> bool:
        s, h = self._s, self.horizon
        g = now.metrics.grad_norm
        threshold = self._explosion_threshold
        if not self.config.training_recovery.enabled or g is None or g <= threshold:
            return False
        ratio = self.config.adaptive_learning.batch_size_adaptation.decrease_threshold
        spike = now.grad_base is not None and g > ratio * now.grad_base
        # While the attention forms, one-epoch spikes are the attention moving (and clipping
        # bounds each step): only sustained high gradients count then.
        spike = spike and (s.aligned_once or s.att_ema is None)
        sustained = epoch - s.attempt_start > h.warmup and s.high_grad_epochs >= h.sustain
        if not (spike or sustained) or not self._cooled(s.last_lr_change, epoch):
            return False
        # High gradients the training loss shrugged off were bounded by clipping: a demo run
        # lost 4x of its LR to one-epoch spikes, and a 5-7 s corpus halved it for norms of 18
        # while aligning, each time while the loss kept falling.
        if not now.loss_rose:
            return False
        problem = self.config.training_recovery.problem_detection.gradient_explosion
        if problem.action == "none":
            return False
        detail = (
            f"{g / now.grad_base:.1f}× its recent median {now.grad_base:.3g}"
            if spike and now.grad_base
            else f"for {s.high_grad_epochs} epochs in a row"
        )
        reason = f"gradient explosion: grad_norm {g:.3g} > {threshold:g}, {detail}"
        return self._reduce_lr(epoch, reason, "gradient_explosion", now)

    def _reduce_lr(
        self, epoch: int, reason: str, cause: str, now: EpochContext, unstable: bool = True
    ) -> bool:
        """LR x factor. For an instability the reduced rate also becomes a ceiling, and at the
        floor the run restarts with gentler parameters instead."""
        s = self._s
        strategy = self.config.training_recovery.recovery_strategies.reduce_lr
        before = self.learning_rate(epoch)
        if before <= strategy.min_lr * (1.0 + 1e-9):
            if unstable and self._can_restart(epoch):
                self._restart(
                    epoch, f"{reason}; the learning rate is at its floor {strategy.min_lr:g}", now
                )
                return True
            return False
        s.lr_factor *= strategy.factor
        if unstable:  # unstable at `before`: stay at or below the reduced rate from now on
            s.lr_ceiling = max(before * strategy.factor, strategy.min_lr)
        s.lr_reductions += 1
        s.last_lr_change = epoch
        lr = self.learning_rate(epoch)
        now.actions.append(
            Decision(
                Action.SET_LR,
                f"{reason}: learning rate × {strategy.factor:g}: {before:.3g} → {lr:.3g} "
                f"(floor {strategy.min_lr:g})",
                {"lr": lr, "previous_lr": before, "factor": strategy.factor, "cause": cause},
            )
        )
        return True

    def _overfitting(self, epoch: int, now: EpochContext) -> bool:
        s, h = self._s, self.horizon
        if s.overfit_epochs < h.sustain or epoch - s.attempt_start <= h.warmup:
            return False
        if self._waiting_for_alignment() and s.overfit_epochs < h.patience["alignment"]:
            # val_loss may rise while attention forms; but a rise with train_loss falling for
            # a whole alignment patience is over-fitting all the same (a small corpus learned
            # by heart behind a diffuse attention): waiting for the alignment deadline, and
            # restarting then, would only learn it by heart again.
            return False
        # The rise since the minimum must be a trend, not a lucky low followed by noise.
        epochs, values = self._curve_points(last=max(epoch - s.min_val_epoch + 1, 5))
        rise = trend(epochs, values)
        if rise is None or rise[1] < TREND_T:
            return False
        gap, _ = self._val_gap()
        threshold = self.config.overfitting_detection.val_loss_increase_threshold
        now.stop = self._stop(
            "overfitting",
            f"over-fitting: smoothed val_loss {s.val_ema:.4g} is {gap:.1%} (>= {threshold:.0%}) "
            f"above its minimum {s.min_val_ema:.4g} (epoch {s.min_val_epoch}) for "
            f"{s.overfit_epochs} epochs while train_loss fell {s.train_at_min:.4g} → "
            f"{s.train_ema:.4g}; best checkpoint: epoch {s.best_epoch} (val_loss {s.best_val:.4g})",
        )
        return True

    def _waiting_for_alignment(self) -> bool:
        s = self._s
        return s.phase == "alignment" and s.att_ema is not None and not s.aligned_once

    def _alignment_deadline(self) -> int:
        """One alignment phase after alignment (re)started; see `_plateau_or_patience`."""
        h = self.horizon
        return self._s.alignment_since + (h.alignment_end - h.start)

    def _plateau_or_patience(self, epoch: int, now: EpochContext) -> bool:
        s, h = self._s, self.horizon
        recovery = self.config.training_recovery
        waiting = self._waiting_for_alignment()
        deadline = self._alignment_deadline()
        if epoch < s.quiet_until or s.ref_val is None:
            return False
        since = epoch - self._patience_start()
        stuck = since >= h.patience["alignment"] and not self._improving(epoch)
        if waiting and epoch >= deadline and stuck and not s.deadline_done:
            # Past the deadline *and* no longer learning: a fresh start is the better bet.
            s.deadline_done = True
            if self._can_restart(epoch):
                threshold = h.attention_threshold["alignment"]
                self._restart(
                    epoch,
                    f"attention has not formed by epoch {epoch} (smoothed score {s.att_ema:.2f} "
                    f"< {threshold:g} by the end of the alignment phase) and val_loss stopped "
                    f"improving {since} epochs ago",
                    now,
                    stronger_guidance=True,
                )
                return True
        delta = h.min_improvement[s.phase]
        flat = (
            f"smoothed val_loss {s.val_ema:.4g} has not improved {delta:.1%} on "
            f"{s.ref_val:.4g} (epoch {s.ref_epoch}) for {since} epochs"
        )
        if since >= min(h.plateau_patience, h.patience[s.phase]) and self._improving(epoch):
            return False  # noise set the reference; the trend still goes down
        plateau = recovery.problem_detection.loss_plateau.action
        gap, falling = self._val_gap()
        rising = (
            falling and gap >= self.config.overfitting_detection.val_loss_increase_threshold / 2
        )
        if (
            recovery.enabled
            and plateau != "none"
            and s.plateau_armed
            and since >= h.plateau_patience
            and s.phase != "fine_tuning"
            and s.phase not in s.lr_restart_phases
            and not rising  # a plateau made by over-fitting is not cured by a larger LR
            and self._cooled(s.last_lr_change, epoch)
            and self._restart_fits(epoch, s.phase)
        ):
            reason = f"loss plateau: {flat} (plateau patience {h.plateau_patience})"
            if plateau == "lr_restart" and s.lr_restarts < recovery.max_restarts:
                self._lr_restart(epoch, reason, now)
                return True
            cut = plateau == "reduce_lr"
            if cut and self._reduce_lr(epoch, reason, "loss_plateau", now, unstable=False):
                s.plateau_armed = False
                s.patience_origin = epoch
                return True
        patience = h.patience[s.phase]
        if not self.config.early_stopping.enabled or since < patience:
            return False
        if waiting and epoch < deadline:
            return False  # a Tacotron2 loss often stalls until attention "clicks"
        aligned = not waiting and (s.att_ema is None or s.aligned_once)
        reason = "converged" if aligned else "no_improvement"
        extra = "" if aligned else " and attention never formed"
        now.stop = self._stop(
            reason,
            f"early stop: {flat} (patience {patience} in the {s.phase.replace('_', '-')} phase)"
            f"{extra}; best checkpoint: epoch {s.best_epoch} (val_loss {s.best_val:.4g})",
        )
        return True

    def _patience_start(self) -> int:
        """Epochs without improvement count from the last significant improvement, an
        LR restart or rollback, and never from inside the LR warm-up."""
        s = self._s
        return max(s.ref_epoch, s.patience_origin, s.attempt_start + self.horizon.warmup)

    def _improving(self, epoch: int) -> bool:
        """Does a straight line through the last two patience windows of raw val_loss still
        fall by min_improvement per patience, significantly? Guards early stopping and LR
        restarts against a reference set by one lucky noisy epoch."""
        s, h = self._s, self.horizon
        patience = h.patience[s.phase]
        fall = trend(*self._curve_points(last=max(2 * patience, 12)))
        if fall is None:
            return False
        slope, t, level = fall
        return -slope * patience / level >= h.min_improvement[s.phase] and -t >= TREND_T

    def _restart_fits(self, epoch: int, phase: str) -> bool:
        """An LR restart is worth it only if its warm-up and the phase's patience both fit
        before the phase ends: judging it under the next phase's stricter bar would keep the run
        going for nothing."""
        h = self.horizon
        if phase == "alignment":
            end = max(h.alignment_end, self._alignment_deadline())
        else:
            end = h.learning_end
        return min(end, self._s.effective_end) - epoch >= h.restart_warmup + h.patience[phase]

    def _lr_restart(self, epoch: int, reason: str, now: EpochContext) -> None:
        s, h = self._s, self.horizon
        strategy = self.config.training_recovery.recovery_strategies.lr_restart
        before = self.learning_rate(epoch)
        origin = self._shape(epoch, h)
        s.restart_segment = [float(epoch), float(h.restart_warmup), origin, strategy.peak_lr_factor]
        s.lr_restarts += 1
        s.lr_restart_phases.append(s.phase)
        s.plateau_armed = False
        s.last_lr_change = epoch
        s.quiet_until = epoch + h.restart_warmup
        s.patience_origin = epoch
        s.fit_start = epoch + h.restart_warmup  # the bump is not part of the curve's shape
        peak = self.learning_rate(epoch + h.restart_warmup)
        now.actions.append(self._checkpoint(epoch, "before_lr_restart"))
        now.actions.append(
            Decision(
                Action.LR_RESTART,
                f"{reason}: learning-rate restart {s.lr_restarts}/"
                f"{self.config.training_recovery.max_restarts}, warm-up over {h.restart_warmup} "
                f"epochs from {before:.3g} to {strategy.peak_lr_factor:g}× the peak = {peak:.3g}"
                f"{self._capped(peak)}",
                {"warmup_epochs": h.restart_warmup, "peak_lr": peak, "lr": before},
            )
        )

    def _skipped_steps(self, epoch: int, now: EpochContext) -> bool:
        s = self._s
        if s.skipped_step_epochs < SKIPPED_STEPS_CONFIRM_EPOCHS:
            return False
        if not self.config.training_recovery.enabled or not self._cooled(s.last_lr_change, epoch):
            return False
        m = now.metrics
        reason = (
            f"{m.nonfinite_steps:.0f} of {m.steps:.0f} optimizer steps were NaN/Inf and skipped, "
            f"{s.skipped_step_epochs} epochs in a row (tolerance "
            f"{self.config.control.nonfinite_step_tolerance:.0%})"
        )
        return self._reduce_lr(epoch, reason, "nonfinite_steps", now)

    def _adapt_batch_size(self, epoch: int, now: EpochContext) -> bool:
        """S13: shrink on out-of-memory or gradients >= decrease_threshold x their median;
        grow when the training loss is stable (improves less than 1 - increase_threshold over a
        window). Growing needs long quiet times so the two never alternate."""
        s, h, plan = self._s, self.horizon, self.plan
        cfg = self.config.adaptive_learning
        adapt = cfg.batch_size_adaptation
        if not (cfg.enabled and adapt.enabled) or plan.min_batch_size == plan.max_batch_size:
            return False
        m, g, base = now.metrics, now.metrics.grad_norm, now.grad_base
        if m.oom_steps > 0 and s.batch_size > plan.min_batch_size:
            s.last_batch_shrink = epoch
            s.batch_ceiling = s.batch_size - 1
            reason = f"out of memory in {m.oom_steps:.0f} steps"
            return self._set_batch(epoch, max(plan.min_batch_size, s.batch_size // 2), reason, now)
        if epoch - s.attempt_start <= h.warmup or epoch < s.quiet_until:
            return False
        since_change = None if s.last_batch_change is None else epoch - s.last_batch_change
        if (
            g is not None
            and base is not None
            and adapt.decrease_threshold * base < g <= self._explosion_threshold
            and s.batch_size > plan.min_batch_size
            and self._cooled(s.last_batch_change, epoch)
            # Before the attention forms, gradient spikes are the attention moving, not noise.
            and (s.aligned_once or s.att_ema is None)
            and now.loss_rose
        ):
            s.last_batch_shrink = epoch
            reason = (
                f"large gradients: grad_norm {g:.3g} is {g / base:.1f}× its recent median "
                f"{base:.3g} (>= {adapt.decrease_threshold:g})"
            )
            return self._set_batch(epoch, max(plan.min_batch_size, s.batch_size // 2), reason, now)
        largest = min(plan.max_batch_size, s.batch_ceiling or plan.max_batch_size)
        if s.phase == "alignment" or s.batch_size * 2 > largest:
            return False
        if g is not None and g > self._explosion_threshold:
            return False
        if since_change is not None and since_change < 2 * h.cooldown:
            return False
        if not self._cooled(s.last_batch_shrink, epoch, 4 * h.cooldown):
            return False
        if (base is not None and g is not None and g > 1.5 * base) or s.skipped_step_epochs:
            return False
        if len(s.train_window) <= h.stability_window:
            return False
        ratio = s.train_window[-1] / s.train_window[0]
        if not adapt.increase_threshold <= ratio <= 1.0 + (1.0 - adapt.increase_threshold) / 5:
            return False
        reason = (
            f"stable training loss: {ratio:.3f} of its value {h.stability_window} epochs ago "
            f"(>= {adapt.increase_threshold:g})"
        )
        return self._set_batch(epoch, s.batch_size * 2, reason, now)

    def _set_batch(self, epoch: int, size: int, reason: str, now: EpochContext) -> bool:
        s = self._s
        if size == s.batch_size:
            return False
        old, before = s.batch_size, self.learning_rate(epoch)
        s.batch_size = size
        s.batch_changes += 1
        s.last_batch_change = epoch
        s.train_window = []
        lr = self.learning_rate(epoch)
        now.actions.append(
            Decision(
                Action.SET_BATCH_SIZE,
                f"{reason}: batch size {old} → {size}, learning rate × √({size}/{old}): "
                f"{before:.3g} → {lr:.3g}{self._capped(lr)}",
                {"batch_size": size, "previous": old, "lr": lr},
            )
        )
        return True

    # ------------------------------------------------------------------ restarts

    def _can_restart(self, epoch: int) -> bool:
        """Restarts left, and enough epochs left for the new attempt to get at least as far
        as the failed one did (else restarting only throws progress away)."""
        s = self._s
        recovery = self.config.training_recovery
        left = s.effective_end - epoch
        needed = max(4, 2 * self.horizon.cooldown, round(0.1 * s.effective_end))
        needed = max(needed, epoch - s.attempt_start)
        return recovery.enabled and s.restarts < recovery.max_restarts and left >= needed

    def _restart(
        self, epoch: int, reason: str, now: EpochContext, stronger_guidance: bool = False
    ) -> None:
        """S6/S10: start over with fresh weights and gentler parameters, inside the same run."""
        s = self._s
        control = self.config.control
        s.restarts += 1
        lr = s.lr_base * control.restart_lr_factor
        if stronger_guidance:
            s.guided_attention_factor *= control.restart_guided_attention_factor
        ga = self.config.training.guided_attention.weight * s.guided_attention_factor
        ga = min(ga, self.config.hyperparameter_search_space.guided_attention_weight.max)
        guidance = f", guided-attention weight {ga:g}" if stronger_guidance else ""
        now.actions.append(self._checkpoint(epoch, "before_restart"))
        now.actions.append(
            Decision(
                Action.RESTART,
                f"{reason}: restart {s.restarts}/{self.config.training_recovery.max_restarts} "
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
        self._begin_attempt(epoch, lr)
        self._enter_phase(epoch, "alignment", f"restart {s.restarts}", now)

    def _maybe_sharpen(self, epoch: int, m: EpochMetrics, now: EpochContext) -> None:
        """Ask for one symbol per step once the alignment is diagonal but maybe spread.

        Measured on the demo corpus: location-relative attention becomes diagonal within tens
        of steps but then stays a blur over ~3-5 symbols (its learned energies stay weak
        against the prior), and an entropy penalty from step 0 froze it on the first symbol.
        Switched on at the first epoch whose validation diagonality reaches the gate, the
        same penalty sharpened it (attention_score 0.3 -> 0.8) without leaving the diagonal.
        """
        s, t = self._s, self.config.training
        gate = t.attention_entropy_min_diagonality
        if s.sharpen_released_at is not None:
            return
        if s.sharpen_since is not None and not s.sharpen_failed:
            self._check_sharpening(epoch, gate, now)
            if not s.sharpen_failed:
                self._maybe_release(epoch, gate, now)
                return
        if t.attention_entropy_weight <= 0.0 or gate <= 0.0:
            return
        if s.sharpen_failed:
            if not self._may_sharpen_again(epoch, gate):
                return
            s.sharpen_failed = False
        else:
            # The smoothed value: one lucky epoch at 0.89 between 0.55 and 0.67 switched the
            # term on too early in a demo run, and it locked into a one-symbol-per-step clock.
            if s.diag_ema is None or s.diag_ema < gate:
                return
            # Not before the warm-up has ended: at epoch 1 DCA's prior alone draws a diagonal
            # (0.88 in a demo run) that nothing has learned yet; sharpening it made a clock.
            if epoch - s.attempt_start < max(self.horizon.warmup, MIN_EPOCHS_BEFORE_SHARPENING):
                return
        s.sharpen_tries += 1
        s.sharpen_since = epoch
        checkpoint = self._checkpoint(epoch, "before_sharpening")
        s.sharpen_checkpoint = checkpoint.params["tag"]
        now.actions.append(checkpoint)
        weight = self.attention_entropy_weight()
        score = "n/a" if m.attention is None else f"{m.attention:.2f}"
        again = (
            f"again at {SHARPEN_RETRY_WEIGHT_FACTOR:g}x weight, the diagonal being clean now "
            if s.sharpen_tries > 1
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
                    "try": s.sharpen_tries,
                },
            )
        )

    def _maybe_release(self, epoch: int, gate: float, now: EpochContext) -> None:
        """Switch the entropy term off once the attention is sharp and still diagonal.

        The term is a means to an alignment, not a goal: a one-hot attention reads one
        symbol per step, where a little spread lets a frame hear its neighbours."""
        s, t = self._s, self.config.training
        release = t.attention_entropy_release_score
        if release <= 0.0 or s.sharpen_since is None:
            return
        if epoch - s.sharpen_since < MIN_EPOCHS_BEFORE_SHARPENING:
            return
        if s.att_ema is None or s.att_ema < release:
            return
        if s.diag_ema is None or s.diag_ema < gate:
            return
        s.sharpen_released_at = epoch
        now.info.append(
            Decision(
                Action.RELEASE_ATTENTION,
                f"attention is sharp (smoothed attention_score {s.att_ema:.2f} >= {release:g}) "
                f"and diagonal (smoothed diagonality {s.diag_ema:.2f}): attention-entropy "
                f"loss off, its work done since epoch {s.sharpen_since}",
                {"attention_score": s.att_ema, "since": s.sharpen_since},
            )
        )

    def _may_sharpen_again(self, epoch: int, gate: float) -> bool:
        """After a clock was undone: once more, when the diagonal is clean (an alignment still
        settling is what the first try locked into a clock) and has been for a while."""
        s = self._s
        if s.sharpen_tries >= SHARPEN_TRIES:
            return False
        waited = s.sharpen_undone_at is None or (
            epoch - s.sharpen_undone_at >= max(self.horizon.cooldown, MIN_EPOCHS_BEFORE_SHARPENING)
        )
        clean = max(gate, SHARPEN_RETRY_DIAGONALITY)
        return waited and s.diag_ema is not None and s.diag_ema >= clean

    def _check_sharpening(self, epoch: int, gate: float, now: EpochContext) -> None:
        """Undo the sharpening when it turned the alignment into a clock.

        Measured: on a corpus of 5-7 s utterances, and with a content term, the entropy term
        made the attention advance exactly one symbol per decoder step, reach the last symbol
        early and park there (attention_score 0.99, diagonality 0.3): a one-hot attention
        gets no gradient to learn when to move. Switching the term off does not unlock it;
        the model from before the sharpening does."""
        s, h = self._s, self.horizon
        if s.diag_ema is None or s.diag_ema >= gate - SHARPEN_DIAGONALITY_LOSS:
            return
        if s.att_ema is None or s.att_ema < h.attention_threshold["alignment"]:
            return  # not sharp but lost: a collapse, which `_collapse` answers
        s.sharpen_failed = True
        s.sharpen_undone_at = epoch
        s.quiet_until = max(s.quiet_until, epoch + h.cooldown)
        s.collapse_epochs = 0
        if s.sharpen_tries < SHARPEN_TRIES:
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
                f"term came on at epoch {s.sharpen_since}; {later}, roll back "
                f"to the model kept then ({s.sharpen_checkpoint})",
                {
                    "to_epoch": s.sharpen_since,
                    "checkpoint": s.sharpen_checkpoint,
                    "diagonality": s.diag_ema,
                    "cause": "sharpening",
                },
            )
        )

    def _begin_attempt(self, epoch: int, lr: float) -> None:
        s = self._s
        s.attempt_start = epoch
        s.lr_base, s.lr_factor, s.lr_ceiling = lr, 1.0, None
        s.restart_segment = s.rewarm = None
        s.lr_restart_phases = []
        s.last_lr_change = epoch
        s.aligned_once = s.diag_formed = s.deadline_done = False
        s.aligned_at = s.sharpen_since = s.sharpen_checkpoint = s.sharpen_undone_at = None
        s.sharpen_released_at = None
        s.sharpen_failed = False
        s.sharpen_tries = 0
        s.gate_ema = s.gate_best = None
        s.grad_window = []
        s.high_grad_epochs = s.skipped_step_epochs = s.nonfinite_in_a_row = 0
        self._forget_curve(epoch, quiet=0)

    def _capped(self, lr: float) -> str:
        ceiling = self._s.lr_ceiling
        if ceiling is not None and lr >= ceiling * (1.0 - 1e-9):
            return f" (capped at {ceiling:.3g}, the rate that proved stable)"
        return ""

    def _checkpoint(self, epoch: int, what: str) -> Decision:
        tag = f"{what}_e{epoch:05d}"
        return Decision(
            Action.CHECKPOINT,
            f"keep the model as it is before a destructive action ({what.replace('_', ' ')})",
            {"tag": tag},
        )

    # ------------------------------------------------------------------ summary

    def summary_fields(self) -> dict[str, Any]:
        """For summary.json: decisions, epochs saved, the S25 forecast next to the outcome."""
        s, plan = self._s, self.plan
        first = s.first_prediction or {}
        saved = 0
        if s.stop_reason in QUALITY_STOPS and s.stop_epoch is not None:
            saved = max(0, plan.max_epochs - s.stop_epoch)
        phases = copy.deepcopy(s.phase_history)
        if phases and phases[-1]["end_epoch"] is None:
            phases[-1]["end_epoch"] = s.stop_epoch if s.stop_epoch is not None else s.last_epoch
        outcome: dict[str, Any] = {
            "stop_reason": s.stop_reason,
            "stop_epoch": s.stop_epoch,
            "best_epoch": s.best_epoch,
            "best_val_loss": s.best_val,
        }
        if first and s.stop_epoch is not None:
            outcome["stop_epoch_error"] = s.stop_epoch - first["predicted_stop_epoch"]
            if s.best_val:
                error = first["predicted_final_val_loss"] / s.best_val - 1.0
                outcome["final_val_loss_relative_error"] = round(error, 4)
        return {
            "decisions": copy.deepcopy(s.decisions),
            "epochs_saved": saved,
            "predicted_stop_epoch": first.get("predicted_stop_epoch"),
            "predicted_final_val_loss": first.get("predicted_final_val_loss"),
            "phase_history": phases,
            "controller": {
                "plan": plan.to_dict(),
                "effective_epochs": s.effective_end,
                "prediction": s.first_prediction,
                "latest_prediction": s.latest_prediction,
                "outcome": outcome,
                "restarts": s.restarts,
                "lr_restarts": s.lr_restarts,
                "attention_resets": s.attention_resets,
                "rollbacks": s.rollbacks,
                "lr_reductions": s.lr_reductions,
                "batch_changes": s.batch_changes,
                "batch_size": s.batch_size,
                "progress_reports": len(s.reports),
            },
        }

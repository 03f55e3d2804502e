"""Progress analysis (S15) and the learning-curve forecast (S25): a reporter over a read-only
view of the controller.

It asks the same questions of the run (`View`) that the rules ask, so a report never
contradicts a decision. Every `horizon.report_interval` epochs, at the forecast epoch and at the
stop, it fits the validation curve, predicts when early stopping will end the run and at what
loss, rates the over-fitting risk, and writes the recommendation. It changes nothing: the
controller stores the report and the forecast.
"""

from __future__ import annotations

import numpy as np

from smart_tuner.control.curve import MIN_POINTS, first_flat_epoch, fit_learning_curve
from smart_tuner.control.plan import PHASES
from smart_tuner.control.progress import ProgressReport
from smart_tuner.control.state import EpochContext, Prediction
from smart_tuner.control.view import View
from smart_tuner.events import StopReason


class ProgressReporter:
    """`due` says when a report is wanted; `analyse` writes it (and the forecast)."""

    def __init__(self, view: View) -> None:
        self.view = view

    def due(self, epoch: int, now: EpochContext) -> bool:
        s, h = self.view.state, self.view.horizon
        due = now.stop is not None or epoch % h.report_interval == 0
        if not due and s.first_prediction is None and epoch - s.attempt_start == h.prediction_after:
            due = len(self.view.curve_points()[0]) >= MIN_POINTS  # S25: the forecast, on time
        return due

    def _predict(self, epoch: int) -> Prediction | None:
        """S25: fit the curve so far; when would early stopping end the run, at what loss?"""
        s, h = self.view.state, self.view.horizon
        epochs, values = self.view.curve_points()
        fit = fit_learning_curve(epochs, values, origin=s.fit_start)
        if fit is None:
            return None
        end = s.effective_end
        ts = np.arange(epoch, max(end, epoch + 1))
        phases = np.where(ts < h.alignment_end, 0, np.where(ts < h.learning_end, 1, 2))
        patience = np.array([h.patience[p] for p in PHASES])[phases]
        delta = np.array([h.min_improvement[p] for p in PHASES])[phases]
        converge = first_flat_epoch(fit, epoch, max(end, epoch + 1), patience, delta)
        if converge is None:
            stop = end
        else:
            anchor = converge if converge > epoch else self.view.patience_start()
            phase = h.phase_at(anchor)
            stop = anchor + h.patience[phase]
            if self._restart_expected(anchor + h.plateau_patience, converge > epoch):
                stop = anchor + h.plateau_patience + h.patience[h.phase_at(stop)]
            stop = min(max(stop, epoch), end)
        final = max(0.0, float(fit.value(stop)))
        return Prediction(fit, int(stop), final, converge)

    def _restart_expected(self, at: int, improving: bool) -> bool:
        s, h = self.view.state, self.view.horizon
        recovery = self.view.config.training_recovery
        return (
            recovery.enabled
            and recovery.problem_detection.loss_plateau.action == "lr_restart"
            and s.lr_restarts < recovery.max_restarts
            and (s.plateau_armed or improving)
            and h.phase_at(at) not in ("fine_tuning", *self.view.lr_restart_phases)
            and self.view.restart_fits(at, h.phase_at(at))
        )

    def _risk(self, now: EpochContext) -> tuple[str, list[str]]:
        """S9: validation up while training falls (the decisive sign), plus three lesser ones."""
        s = self.view.state
        detection = self.view.config.overfitting_detection
        if not detection.enabled:
            return "low", []
        threshold = detection.val_loss_increase_threshold
        gap, falling = self.view.val_gap()
        reasons = []
        if falling and gap >= threshold / 2:
            reasons.append(f"val_loss {gap:.1%} above its minimum while train_loss falls")
        degradation = detection.attention_degradation
        diag = s.diag_ema
        formed = degradation.enabled and s.diag_formed  # it had been diagonal once
        if formed and diag is not None and diag < degradation.min_diagonality:
            reasons.append(
                f"diagonality {diag:.2f} < {degradation.min_diagonality:g} "
                "(attention losing its diagonal)"
            )
        gate = detection.gate_patterns
        m = now.metrics
        if gate.enabled:
            limit = gate.premature_stopping_threshold
            if m.premature_stop_rate is not None and m.premature_stop_rate > limit:
                reasons.append(f"gate stops early in {m.premature_stop_rate:.0%} of utterances")
            elif (
                m.premature_stop_rate is None
                and s.gate_best is not None
                and s.gate_best >= 1.0 - limit
                and s.gate_ema is not None
                and 1.0 - s.gate_ema > limit
            ):
                reasons.append(f"gate accuracy fell to {s.gate_ema:.2f} (gate closing wrongly)")
        ratio = self.view.config.adaptive_learning.batch_size_adaptation.decrease_threshold
        g, base = m.grad_norm, now.grad_base
        if (g is not None and base is not None and g > ratio * base) or s.skipped_step_epochs:
            reasons.append("unstable gradients")
        if falling and gap >= threshold:
            return "high", reasons
        return ("medium" if reasons else "low"), reasons

    def analyse(self, epoch: int, now: EpochContext) -> tuple[ProgressReport, Prediction | None]:
        s, h = self.view.state, self.view.horizon
        stop = now.stop.stop_reason if now.stop is not None else None
        prediction = None
        if epoch - s.attempt_start >= h.prediction_after:
            prediction = self._predict(epoch)
        risk, reasons = self._risk(now)
        waiting = self.view.waiting_for_alignment()
        since = epoch - self.view.patience_start()
        delta = h.min_improvement[s.phase]
        if waiting or s.val_ema is None:
            status = "not_converged"
        elif stop in {"converged", "no_improvement"} or since >= h.patience[s.phase] / 2:
            status = "converged"
        elif prediction is not None:
            level = float(prediction.fit.value(epoch))
            near = level > 0 and (level - prediction.fit.a) / level < delta
            status = "converged" if near else "converging"
        else:
            status = "converging" if epoch - s.attempt_start > h.warmup else "not_converged"
        remaining = None
        if stop is not None:
            remaining = 0
        elif prediction is not None:
            remaining = max(0, prediction.stop_epoch - epoch)
        report = ProgressReport(
            epoch=epoch,
            planned_epochs=self.view.plan.max_epochs,
            phase=s.phase,
            status=status,
            overfitting_risk=risk,
            continue_training=stop is None,
            recommendation="",
            remaining_epochs=remaining,
            val_loss=s.last_val,
            val_loss_trend=s.val_ema,
            best_val_loss=s.best_val,
            best_epoch=s.best_epoch,
            attention_score=s.att_ema,
            predicted_final_val_loss=prediction.final_val_loss if prediction else None,
            predicted_stop_epoch=prediction.stop_epoch if prediction else None,
            predicted_convergence_epoch=prediction.convergence_epoch if prediction else None,
            fit_model=prediction.fit.model if prediction else None,
            fit_r2=prediction.fit.r2 if prediction else None,
            risk_reasons=reasons,
            budget_note=self._budget_note(epoch, now, prediction),
            stop_reason=stop,
        )
        report.recommendation = self._recommend(report, waiting)
        return report, prediction

    def _budget_note(
        self, epoch: int, now: EpochContext, prediction: Prediction | None
    ) -> str | None:
        s, plan = self.view.state, self.view.plan
        if plan.max_minutes is None or not s.epoch_cost:
            return None
        left = max(0.0, plan.max_minutes * 60.0 - now.elapsed)
        fits = epoch + int(left // s.epoch_cost)
        more = fits - epoch
        note = (
            f"{left / 60:.0f} of {plan.max_minutes:g} min left, ~{more} more "
            f"epoch{'' if more == 1 else 's'} fit"
        )
        if prediction is not None and prediction.stop_epoch > fits:
            reachable = float(prediction.fit.value(fits))
            note += (
                f"; the forecast stop (epoch ~{prediction.stop_epoch}) lies beyond it: expect "
                f"val_loss ≈ {reachable:.4g} when the budget runs out"
            )
        elif prediction is not None:
            note += "; the forecast stop fits inside it"
        return note

    def _recommend(self, r: ProgressReport, waiting: bool) -> str:
        h = self.view.horizon
        best = (
            f"the best checkpoint (epoch {r.best_epoch}, val_loss {r.best_val_loss:.4g})"
            if r.best_val_loss is not None
            else "the last checkpoint"
        )
        saved = max(0, self.view.plan.max_epochs - r.epoch)
        if r.stop_reason == StopReason.CONVERGED:
            return f"The model has converged: use {best}; {saved} planned epochs saved."
        if r.stop_reason == StopReason.OVERFITTING:
            return (
                f"Stopped because of over-fitting; {best} is kept. Next time: more data, more "
                "dropout or fewer epochs."
            )
        if r.stop_reason == StopReason.NO_IMPROVEMENT:
            tip = (
                " Attention never formed: check that transcripts match the audio, or raise the "
                "guided-attention weight."
                if waiting
                else ""
            )
            return f"No further improvement: use {best}.{tip}"
        if r.stop_reason == StopReason.DIVERGED:
            return (
                "Training diverged (NaN/Inf) beyond repair: lower the learning rate or check "
                "the data."
            )
        if r.stop_reason in {StopReason.BUDGET, StopReason.EPOCHS_COMPLETED}:
            still = r.status != "converged"
            what = (
                "the time budget ran out"
                if r.stop_reason == StopReason.BUDGET
                else "planned epochs done"
            )
            more = (
                " while the model was still improving: give it more epochs or time next run."
                if still
                else "."
            )
            return f"Finished ({what}){more} Use {best}."
        if waiting:
            deadline = self.view.alignment_deadline()
            plan_b = (
                f"; if it has not formed by epoch {deadline} the run restarts with stronger "
                "guided attention"
                if deadline > r.epoch and self.view.can_restart(deadline)
                else ""
            )
            att = f"{r.attention_score:.2f}" if r.attention_score is not None else "n/a"
            return (
                f"Attention has not formed yet (score {att} < "
                f"{h.attention_threshold['alignment']:g}): keep training{plan_b}."
            )
        gain = self.view.free_running_gain()
        if r.overfitting_risk != "low" and gain is not None:
            return (
                "Validation loss points to over-fitting, but the speech of held-out sentences "
                f"still improves (mel_quality {gain.mel_quality:.2f} dB at epoch {gain.epoch}, "
                f"from {gain.previous_best:.2f}): training goes on until it stops improving."
            )
        if r.overfitting_risk != "low":
            return (
                "Early signs of over-fitting: watching; training stops if validation loss keeps "
                "rising while training loss falls."
            )
        if r.status == "converged":
            return "Improvement has nearly stopped: early stopping will end the run soon."
        if r.predicted_stop_epoch is not None and r.predicted_final_val_loss is not None:
            return (
                f"Improving as expected: forecast val_loss ≈ {r.predicted_final_val_loss:.4g} at "
                f"epoch ~{r.predicted_stop_epoch} (plan: {r.planned_epochs})."
            )
        return "Still early: keep training."

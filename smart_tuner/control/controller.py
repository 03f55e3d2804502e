"""The training brain (S9-S15, S25): one record of metrics per epoch in, decisions out.

Why one controller with a fixed priority order over small rules (control/rules): the rules
interact. An attention collapse makes the validation loss rise while the teacher-forced training
loss keeps falling, which also looks like over-fitting; an LR restart makes the loss rise, which
looks like a plateau ending. Deciding in one place, in the order

    NaN/Inf > attention collapse > gradient explosion > over-fitting > plateau > early stop
    > skipped steps > batch size,

gives every epoch one consistent set of decisions (at most one corrective action per epoch), and
cool-downs keep consecutive epochs from undoing each other. The plan's end and the time budget
override everything: the last epoch only stops.

Signals are smoothed (an exponential moving average over about 10 scaled epochs, control/signals)
and judged relative to their own level, so a loss of 60 and a loss of 0.4 are treated alike and
single noisy epochs do not trigger anything. Pure Python over plain data (numpy only for the
curve fit): the same records always give the same decisions, which is what makes `replay` and
resume exact.

The loop's side of the contract:
- every optimizer step: `lr = controller.learning_rate(epochs_done + batch_index / n_batches)`,
  `controller.guided_attention_weight(step)`, `controller.attention_entropy_weight()`, and
  `controller.batch_size` for the next batches;
- after every epoch: `decisions = controller.observe(record, elapsed_seconds)` with the
  metrics.jsonl record (which should carry `elapsed_seconds` too, so replay sees the same clock),
  then carry out the decisions in order (see `Action`); keep a checkpoint of
  `controller.last_good_epoch` for ROLLBACK and of `controller.best_epoch` as the best model;
  store `controller.state_dict()` with each checkpoint;
- at the end: `summary.update(controller.summary_fields())`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields, replace
from typing import Any

from smart_tuner.config import Config
from smart_tuner.control import budget, signals
from smart_tuner.control.analysis import ProgressReporter
from smart_tuner.control.decision import Action, Decision
from smart_tuner.control.levers import Levers
from smart_tuner.control.plan import Horizon, TrainingPlan
from smart_tuner.control.progress import ProgressReport, format_progress
from smart_tuner.control.rules import OUT_OF_CHAIN, NonFinite, Rule, Sharpening, build_rules
from smart_tuner.control.schedule import decayed_guidance, schedule_factor
from smart_tuner.control.state import (
    ControllerState,
    EpochContext,
    EpochMetrics,
    finite,
    read_number,
)
from smart_tuner.control.summary import summary_fields
from smart_tuner.control.view import View

STATE_FORMAT = "smart_tuner.control/2"
OLD_FORMAT = "smart_tuner.control/1"  # one flat state; still loaded (resumes older runs)
ALLOWED_ACTIONS = {
    "gradient_explosion": {"reduce_lr", "none"},
    "loss_plateau": {"lr_restart", "reduce_lr", "none"},
    "attention_collapse": {"attention_reset", "restart", "none"},
}
# The flat names of format 1 for fields that now live in a rule's own state.
OLD_RULE_FIELDS = {
    "sharpening": {
        "sharpen_since": "since",
        "sharpen_checkpoint": "checkpoint",
        "sharpen_failed": "failed",
        "sharpen_tries": "tries",
        "sharpen_undone_at": "undone_at",
        "sharpen_released_at": "released_at",
    },
    "plateau": {"deadline_done": "deadline_done", "lr_restart_phases": "lr_restart_phases"},
    "collapse": {"last_attention_reset": "last_reset"},
    "batch_size": {
        "last_batch_change": "last_change",
        "last_batch_shrink": "last_shrink",
        "batch_ceiling": "ceiling",
    },
}


class TrainingController:
    """Decides, epoch by epoch, how a Tacotron2 run should go on; owns the LR schedule.

    Call `learning_rate(epoch_progress)` before every optimizer step and `observe(record,
    elapsed_seconds)` after every epoch; carry out the returned decisions in order. `rules`
    replace the default rule of the same name (or join the chain before batch_size).
    """

    def __init__(self, config: Config, plan: TrainingPlan, rules: Iterable[Rule] = ()) -> None:
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
        self.rules = build_rules(config, rules)
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
        self.view = View(self)
        self.levers = Levers(self)
        self.reporter = ProgressReporter(self.view)

    # ------------------------------------------------------------------ public state

    @property
    def shared_state(self) -> ControllerState:
        """The signals and counters the rules share (rules change them through levers)."""
        return self._s

    def rule(self, name: str) -> Rule:
        return self.rules[name]

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
    def best_epoch(self) -> int | None:
        """Epoch of the lowest finite validation loss so far: the loop's best.pt."""
        return self._s.best_epoch

    @property
    def best_val_loss(self) -> float | None:
        return self._s.best_val

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
        return {
            "format": STATE_FORMAT,
            "plan": self.plan.to_dict(),
            "state": asdict(self._s),
            "rules": {name: rule.state_dict() for name, rule in self.rules.items()},
        }

    def load_state_dict(self, data: Mapping[str, Any]) -> None:
        """Continue from `state_dict()`; its plan replaces the constructor's (it is the run's)."""
        fmt = data.get("format")
        if fmt not in (STATE_FORMAT, OLD_FORMAT):
            raise ValueError(f"not a controller state ({fmt!r} != {STATE_FORMAT})")
        self.plan = TrainingPlan.from_dict(dict(data["plan"]))
        state = copy.deepcopy(dict(data["state"]))
        slices = copy.deepcopy(dict(data.get("rules") or {}))
        if fmt == OLD_FORMAT:
            for name, renames in OLD_RULE_FIELDS.items():
                slices[name] = {new: state[old] for old, new in renames.items() if old in state}
        names = {f.name for f in fields(ControllerState)}
        self._s = ControllerState(**{k: v for k, v in state.items() if k in names})
        for name, rule in self.rules.items():
            rule.load_state_dict(slices.get(name, {}))
        self._horizon = None
        self._bounds = self._lr_bounds()

    def attention_entropy_weight(self) -> float:
        """Weight of the attention-entropy loss term for the next training steps (the
        sharpening rule holds it at 0 until the attention is diagonal)."""
        sharpening = self.rules.get("sharpening")
        if isinstance(sharpening, Sharpening):
            return sharpening.weight()
        gate = self.config.training.attention_entropy_min_diagonality
        return self.config.training.attention_entropy_weight if gate <= 0.0 else 0.0

    def guided_attention_weight(self, step: int | None = None) -> float:
        """The guided-attention weight: the attempt's base (stronger after a restart for want
        of alignment, capped at the search space's maximum), or at optimizer `step` its
        per-step decay since the attempt began."""
        config, s = self.config, self._s
        base = config.training.guided_attention.weight
        space = config.hyperparameter_search_space.guided_attention_weight
        if s.restarts:  # a restart sets it anew, never above what the search would try
            base *= s.guided_attention_factor
            base = base if space is None else min(base, space.max)
        if step is None:
            return base
        start = int(s.guided_attention_start_step)
        return decayed_guidance(base, step - start, config.training.guided_attention)

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
        factor = self.schedule_shape(epoch_progress)
        if s.rewarm is not None:
            start, warm = s.rewarm
            if warm > 0 and epoch_progress >= start:
                low = self.config.adaptive_learning.lr_scheduling.min_lr_factor or 0.1
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

    def schedule_shape(self, t: float) -> float:
        """Schedule factor relative to the attempt's base LR, before reductions and clamps."""
        adaptive = self.config.adaptive_learning
        sched = adaptive.lr_scheduling
        scheduling = adaptive.enabled and sched.enabled
        cosine = scheduling and sched.scheduler_type == "cosine_annealing"
        return schedule_factor(
            t,
            self.horizon,
            scheduling=scheduling,
            warm_from=sched.min_lr_factor,
            decay_to=sched.min_lr_factor if cosine else 1.0,
            restart=self._s.restart_segment,
            decay_start=self._decay_start(),
        )

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
        s, view, levers = self._s, self.view, self.levers
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
        budget.track_time(view, epoch, now)
        final = budget.plan_stop(view, levers, epoch, now)
        nan = self.rules.get("nan")
        broken = nan.broken(epoch, m, view) if isinstance(nan, NonFinite) else None
        if broken:
            s.nonfinite_in_a_row += 1
            if final is None and isinstance(nan, NonFinite):
                nan.respond(epoch, broken, now, view, levers)
        else:
            s.nonfinite_in_a_row = 0
            s.last_good_epoch = epoch
            signals.update_losses_and_attention(view, epoch, now)
            if "sharpening" in self.rules:
                self.rules["sharpening"].decide(epoch, now, view, levers)
            signals.update_trends(view, epoch, now)
            self._advance_phase(epoch, now)
            if final is None:
                for rule in self.rules.values():
                    if rule.name not in OUT_OF_CHAIN and rule.decide(epoch, now, view, levers):
                        break
        if now.stop is None:
            now.stop = final
        self._maybe_report(epoch, now)
        return self._emit(epoch, now)

    def observe_quality(self, epoch: int, mel_quality: float | None) -> None:
        """Take a quality measurement of epoch `epoch`'s checkpoint (the monitor's
        QualityMeasured, which arrives between two epochs); the val-loss stops consult it."""
        value = finite(mel_quality)
        s = self._s
        if value is None or (s.quality and epoch <= s.quality[-1][0]):
            return
        s.quality.append([epoch, value])

    def _maybe_report(self, epoch: int, now: EpochContext) -> None:
        if not self.reporter.due(epoch, now):
            return
        report, prediction = self.reporter.analyse(epoch, now)
        s = self._s
        if prediction is not None:
            s.latest_prediction = prediction.to_dict(epoch)
            if s.first_prediction is None:
                s.first_prediction = s.latest_prediction
        data = report.to_dict()
        s.reports.append(data)
        now.report = Decision(
            Action.REPORT,
            report.headline(),
            {"report": dict(data), "text": format_progress(report)},
        )

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
            if d.action is Action.RESTART:
                s.guided_attention_start_step = s.last_step or 0.0
            if d.action is not Action.REPORT:
                s.decisions.append({"epoch": epoch, **d.to_dict()})
        return decisions or [Decision(Action.CONTINUE, "no action needed")]

    # ------------------------------------------------------------------ phases

    def _advance_phase(self, epoch: int, now: EpochContext) -> None:
        s, h = self._s, self.horizon
        while True:
            if s.phase == "alignment":
                bound, nxt = h.alignment_end, "learning"
            elif s.phase == "learning":
                bound, nxt = h.learning_end, "fine_tuning"
            else:
                return
            threshold = h.attention_threshold[s.phase]
            if epoch < bound or (s.att_ema is not None and s.att_ema < threshold):
                return
            attention = (
                f" and attention score {s.att_ema:.2f} >= {threshold:g}"
                if s.att_ema is not None
                else " (no attention score recorded)"
            )
            late = f" (held past epoch {bound} until attention formed)" if epoch > bound else ""
            self.levers.enter_phase(
                epoch, nxt, f"epoch {epoch} reached the {s.phase} phase's end{late}{attention}", now
            )

    # ------------------------------------------------------------------ summary

    def summary_fields(self) -> dict[str, Any]:
        """For summary.json: decisions, epochs saved, the S25 forecast next to the outcome."""
        return summary_fields(self._s, self.plan)

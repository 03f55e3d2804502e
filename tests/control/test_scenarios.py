"""The troubles the issue names, each on many synthetic runs: the controller must fix or stop
them, and must leave healthy runs alone."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from smart_tuner.config import Config, load_config
from smart_tuner.control import Action, Horizon, TrainingController
from smart_tuner.control.curve import first_flat_epoch, fit_learning_curve

from .synth import Curve, Run, open_loop, plan_for, simulate

CONFIG = Config()
ALARMS = {
    Action.SET_LR,
    Action.LR_RESTART,
    Action.RESET_ATTENTION,
    Action.RESET_OPTIMIZER,
    Action.ROLLBACK,
    Action.RESTART,
}


def run_curve(curve: Curve, config: Config = CONFIG, **plan: Any) -> Run:
    return simulate(config, plan_for(curve.plan, **plan), open_loop(curve))


def kinds(run: Run) -> list[Action]:
    return [d.action for _, d in run.decisions]


# ---------------------------------------------------------------- clean convergence


def flat_epoch(curve: Curve, controller: TrainingController) -> int:
    """Where the noiseless curve stops improving by the phase's min_improvement per patience."""
    t = np.arange(1, curve.plan + 1)
    fit = fit_learning_curve(t, [curve.val(int(e)) for e in t])
    h = controller.horizon
    phase = np.where(t < h.alignment_end, 0, np.where(t < h.learning_end, 1, 2))
    patience = np.array(list(h.patience.values()))[phase]
    delta = np.array(list(h.min_improvement.values()))[phase]
    assert fit is not None
    flat = first_flat_epoch(fit, 1, curve.plan + 1, patience, delta)
    assert flat is not None
    return flat


@pytest.mark.parametrize("plan", [150, 400, 2000])
def test_clean_convergence_stops_after_the_knee_well_before_the_plan_end(plan: int):
    seeds = range(40 if plan < 2000 else 5)
    for seed in seeds:
        # the knee well inside the learning phase (the fine-tuning bar is much stricter)
        curve = Curve(plan=plan, tau=plan / (10 + seed % 7), noise=0.01 * (seed % 3), seed=seed)
        run = run_curve(curve)
        assert run.stop is not None
        epoch, stop = run.stop
        h = run.controller.horizon
        flat = flat_epoch(curve, run.controller)
        assert stop.stop_reason == "converged", (seed, stop.reason)
        assert epoch < 0.9 * plan, (seed, epoch)
        late = h.plateau_patience + h.restart_warmup + 2 * max(h.patience.values()) + 10
        assert flat - h.patience["learning"] <= epoch <= flat + late, (seed, epoch, flat)
        assert stop.params["epochs_saved"] == plan - epoch > 0
        assert not {Action.SET_LR, Action.ROLLBACK, Action.RESTART} & set(kinds(run))
        assert kinds(run).count(Action.LR_RESTART) <= 1


def test_summary_reports_epochs_saved_and_the_forecast_next_to_the_outcome():
    run = run_curve(Curve(plan=400, tau=40))
    fields = run.controller.summary_fields()
    assert fields["epochs_saved"] == 400 - run.stop[0]
    assert fields["predicted_stop_epoch"] is not None
    assert fields["predicted_final_val_loss"] == pytest.approx(0.4, rel=0.1)
    outcome = fields["controller"]["outcome"]
    assert outcome["stop_reason"] == "converged"
    assert abs(outcome["stop_epoch_error"]) < 0.25 * 400
    phases = [p["phase"] for p in fields["phase_history"]]
    assert phases[:2] == ["alignment", "learning"]
    assert all(p["end_epoch"] is not None for p in fields["phase_history"])
    assert [d["action"] for d in fields["decisions"]][-1] == "stop"


# ---------------------------------------------------------------- over-fitting


@pytest.mark.parametrize("plan", [200, 2000])
def test_overfitting_stops_and_names_the_best_epoch(plan: int):
    for seed in range(30 if plan < 2000 else 4):
        start = int(plan * (0.3 + 0.05 * (seed % 6)))
        # still improving when over-fitting sets in (else early stopping rightly comes first)
        curve = Curve(
            plan=plan,
            tau=plan / 8,
            overfit_at=start,
            overfit_rate=3.0 / plan,
            noise=0.005 * (seed % 3),
            seed=seed,
        )
        run = run_curve(curve)
        assert run.stop is not None
        epoch, stop = run.stop
        assert stop.stop_reason == "overfitting", (seed, stop.reason)
        assert start < epoch < start + 0.15 * plan, (seed, epoch, start)
        vals = [r["val_loss"] for r in run.records]
        best = int(np.argmin(vals)) + 1
        assert stop.params["best_epoch"] == best
        assert stop.params["best_val_loss"] == pytest.approx(min(vals))
        assert f"epoch {best}" in stop.reason
        report = run.actions(Action.REPORT)[-1][1].params["report"]
        assert report["overfitting_risk"] == "high" and report["continue_training"] is False


def test_overfitting_before_attention_forms_stops_once_sustained_for_a_patience():
    # a small corpus learned by heart behind a diffuse attention (score never reaches 0.5)
    plan = 1000
    horizon = Horizon.build(CONFIG, 0, plan)
    for seed in range(6):
        curve = Curve(
            plan=plan,
            tau=40,
            align_at=10_000,
            overfit_at=150,
            overfit_rate=3.0 / plan,
            noise=0.005 * (seed % 3),
            seed=seed,
        )
        run = run_curve(curve)
        assert not run.actions(Action.RESTART)
        assert run.stop is not None
        epoch, stop = run.stop
        assert stop.stop_reason == "overfitting", (seed, stop.reason)
        # not on the first rise (attention may still be forming), but long before the deadline
        assert 150 + horizon.patience["alignment"] <= epoch < horizon.alignment_end, (seed, epoch)


def test_overfitting_detection_can_be_switched_off():
    config = load_config(None, {"overfitting_detection.enabled": False})
    run = run_curve(Curve(plan=200, tau=10, overfit_at=60, overfit_rate=0.015), config)
    assert run.stop is not None and run.stop[1].stop_reason != "overfitting"


# ---------------------------------------------------------------- gradient explosion


def test_explosion_halves_the_lr_with_cooldowns_and_never_below_the_floor():
    for plan in (60, 200, 1000):
        run = run_curve(Curve(plan=plan, explode_at=plan // 5))
        cuts = [(e, d) for e, d in run.actions(Action.SET_LR)]
        assert cuts, plan
        first_epoch, first = cuts[0]
        assert first_epoch == plan // 5
        assert "grad_norm 40" in first.reason and "> 10" in first.reason
        restarts = [e for e, _ in run.actions(Action.RESTART)]
        for (e0, d0), (e1, d1) in zip(cuts, cuts[1:], strict=False):
            assert e1 - e0 >= run.cooldowns[e1 - 1]
            if not any(e0 <= r < e1 for r in restarts):  # a restart starts a new LR plan
                assert d1.params["previous_lr"] <= d0.params["lr"] + 1e-15
        for _, d in cuts:
            assert d.params["factor"] == 0.5
            assert d.params["lr"] >= 1e-7
            if d.params["previous_lr"] * 0.5 > 1e-7:
                assert d.params["lr"] == pytest.approx(d.params["previous_lr"] * 0.5, rel=1e-9)
        assert min(run.lrs) >= 1e-7
        assert kinds(run).count(Action.RESTART) <= 3


def test_explosion_that_a_lower_lr_cures_gets_one_or_two_cuts_only():
    curve = Curve(plan=300, tau=30)

    def record(e: int, c: TrainingController, decisions: list) -> dict:
        rec = curve.record(e)
        if e >= 100 and c.learning_rate(e - 1) > 6e-4:
            rec["grad_norm"] = 25.0  # from epoch 100 on, any LR above 6e-4 is unstable
            rec["train_loss"] *= 1.3
        return rec

    run = simulate(CONFIG, plan_for(300), record)
    cuts = run.actions(Action.SET_LR)
    assert [e for e, _ in cuts] == [100]
    # the unstable rate became a ceiling: neither batch growth nor an LR restart returns to it
    assert max(run.lrs[100:]) <= cuts[0][1].params["lr"] + 1e-15
    assert run.stop is not None and run.stop[1].stop_reason == "converged"


def test_high_grad_norm_during_warmup_alone_is_not_an_explosion():
    # Early Tacotron2 epochs have large (pre-clipping) gradient norms that fall by themselves.
    curve = Curve(plan=2000)

    def record(e: int, c: TrainingController, decisions: list) -> dict:
        rec = curve.record(e)
        rec["grad_norm"] = 12.0 * math.exp(-e / 30) + 1.0
        return rec

    run = simulate(CONFIG, plan_for(2000), record)
    assert not run.actions(Action.SET_LR)


# ---------------------------------------------------------------- plateau


@pytest.mark.parametrize("plan", [100, 300, 2000])
def test_plateau_gets_one_lr_restart_then_a_stop_not_a_loop(plan: int):
    for seed in range(25 if plan < 2000 else 3):
        curve = Curve(
            plan=plan,
            plateau_at=int(plan * (0.3 + 0.02 * (seed % 5))),
            tau=plan / 3,
            noise=0.005 * (seed % 3),
            seed=seed,
        )
        run = run_curve(curve)
        restarts = run.actions(Action.LR_RESTART)
        assert len(restarts) == 1, (seed, kinds(run))
        epoch, restart = restarts[0]
        assert "loss plateau" in restart.reason
        assert restart.params["lr"] < restart.params["peak_lr"] <= 2e-3 * math.sqrt(2) + 1e-12
        i = run.decisions.index((epoch, restart))
        assert run.decisions[i - 1][1].action is Action.CHECKPOINT  # a checkpoint first
        assert run.stop is not None and run.stop[0] > epoch
        assert run.stop[1].stop_reason in {"converged", "no_improvement"}
        h = run.controller.horizon
        lr = run.controller.learning_rate
        assert lr(epoch + h.restart_warmup) > lr(epoch)  # warm-up to the new peak


# ---------------------------------------------------------------- attention collapse


def test_collapse_after_alignment_resets_attention_and_optimizer_after_a_checkpoint():
    for plan in (100, 400, 2000):
        curve = Curve(plan=plan, collapse_at=plan // 2)
        run = run_curve(curve)
        at = plan // 2 + 1  # confirmed on the second bad epoch
        acts = [d.action for e, d in run.decisions if e == at]
        assert acts[:1] == [Action.PHASE]
        assert acts[1:4] == [Action.CHECKPOINT, Action.RESET_ATTENTION, Action.RESET_OPTIMIZER]
        reset = next(d for e, d in run.decisions if d.action is Action.RESET_ATTENTION)
        assert "attention score 0.05 < 0.3" in reset.reason
        assert run.controller.summary_fields()["controller"]["attention_resets"] >= 1


def test_collapse_cured_by_the_reset_is_not_reset_again():
    curve = Curve(plan=400, tau=40)

    def record(e: int, c: TrainingController, decisions: list) -> dict:
        resets = [x for x, d in decisions if d.action is Action.RESET_ATTENTION]
        rec = curve.record(e)
        if e >= 200 and not resets:
            rec["attention_score"] = 0.05
        elif resets:
            rec["attention_score"] = min(0.9, 0.1 + 0.1 * (e - resets[0]))
        return rec

    run = simulate(CONFIG, plan_for(400), record)
    assert len(run.actions(Action.RESET_ATTENTION)) == 1
    phases = [d.params["phase"] for _, d in run.actions(Action.PHASE)]
    assert phases[:3] == ["learning", "alignment", "learning"]  # back, then forward again
    assert not run.actions(Action.RESTART)


def test_low_attention_before_it_ever_formed_is_not_a_collapse():
    curve = Curve(plan=300, align_at=60)
    run = run_curve(curve)
    assert not run.actions(Action.RESET_ATTENTION)


def test_alignment_that_never_forms_holds_the_phase_then_restarts_with_stronger_guidance():
    curve = Curve(plan=400, tau=20, align_at=10_000)  # loss flattens early, attention never forms
    run = run_curve(curve)
    phases = [d.params["phase"] for _, d in run.actions(Action.PHASE)]
    assert "learning" not in phases  # not while attention is below the threshold
    restarts = run.actions(Action.RESTART)
    assert 1 <= len(restarts) <= 3
    epoch, first = restarts[0]
    assert "attention has not formed" in first.reason and "stopped improving" in first.reason
    assert epoch >= Horizon.build(CONFIG, 0, 400).alignment_end  # not before alignment ends
    assert 400 - epoch >= epoch  # the new attempt can get as far as the failed one
    assert first.params["guided_attention_weight"] == 10.0
    assert first.params["learning_rate"] == pytest.approx(5e-4)
    assert run.stop is not None and run.stop[1].stop_reason == "no_improvement"
    assert "Attention never formed" in run.actions(Action.REPORT)[-1][1].params["text"]


def test_no_restart_while_the_loss_still_improves_or_too_late_to_catch_up():
    # still learning (loss falling) without attention: no restart, whatever the deadline says
    learning = run_curve(Curve(plan=200, tau=200, align_at=10_000))
    assert not learning.actions(Action.RESTART)
    # stuck only after half the plan: a fresh attempt could not catch up, so stop instead
    late = run_curve(Curve(plan=400, tau=40, align_at=10_000))
    assert not late.actions(Action.RESTART)
    assert late.stop is not None and late.stop[1].stop_reason == "no_improvement"


# ---------------------------------------------------------------- NaN / Inf


def test_nan_epoch_rolls_back_to_the_last_good_epoch_and_lowers_the_lr():
    for at in (20, 75, 130):
        run = run_curve(Curve(plan=200, nan_at={at}))
        rollbacks = run.actions(Action.ROLLBACK)
        assert len(rollbacks) == 1
        epoch, d = rollbacks[0]
        assert epoch == at and d.params["to_epoch"] == at - 1
        assert d.params["lr"] == pytest.approx(max(1e-7, d.params["previous_lr"] * 0.5))
        assert "val_loss nan" in d.reason
        assert run.controller.last_good_epoch == run.records[-1]["epoch"]


def test_nan_in_the_first_epoch_restarts_and_endless_nan_ends_as_diverged():
    run = run_curve(Curve(plan=200, nan_at={1}))
    assert [d.action for e, d in run.decisions if e == 1][:2] == [Action.PHASE, Action.CHECKPOINT]
    assert run.actions(Action.RESTART)[0][0] == 1

    run = run_curve(Curve(plan=200, nan_at=set(range(30, 201))))
    assert len(run.actions(Action.RESTART)) <= 3
    assert len(run.actions(Action.ROLLBACK)) <= CONFIG.control.max_rollbacks_in_a_row
    assert run.stop is not None and run.stop[1].stop_reason == "diverged"


def test_amp_style_occasional_skipped_steps_are_tolerated_but_many_lower_the_lr():
    curve = Curve(plan=200)

    def few(e: int, c: TrainingController, decisions: list) -> dict:
        return {**curve.record(e), "nonfinite_steps": 1.0 if e % 7 == 0 or e == 1 else 0.0}

    assert not simulate(CONFIG, plan_for(200), few).actions(Action.SET_LR)

    def many(e: int, c: TrainingController, decisions: list) -> dict:
        return {**curve.record(e), "nonfinite_steps": 6.0 if 50 <= e < 53 else 0.0}

    run = simulate(CONFIG, plan_for(200), many)
    cuts = run.actions(Action.SET_LR)
    assert [e for e, _ in cuts] == [51]
    assert cuts[0][1].params["cause"] == "nonfinite_steps"


# ---------------------------------------------------------------- noisy but healthy


@pytest.mark.parametrize("plan", [60, 250, 2000])
def test_noisy_but_improving_curves_raise_no_false_alarms(plan: int):
    for seed in range(60 if plan < 2000 else 3):
        noise = 0.01 + 0.01 * (seed % 5)
        curve = Curve(plan=plan, tau=plan / 2.5, noise=noise, seed=seed, grad=1.0 + seed % 3)
        run = run_curve(curve)
        assert not ALARMS & set(kinds(run)), (
            seed,
            noise,
            [(e, d.reason) for e, d in run.decisions],
        )
        assert run.stop is not None and run.stop[1].stop_reason == "epochs_completed", seed


# ---------------------------------------------------------------- batch size


def test_batch_grows_when_stable_shrinks_on_gradient_spikes_or_oom_and_scales_the_lr():
    # Without the hold, the live schedule equals a fresh controller's (compared below).
    no_hold = CONFIG.model_copy(deep=True)
    no_hold.adaptive_learning.lr_scheduling.hold_until_aligned = False
    run = run_curve(Curve(plan=300, tau=20), config=no_hold)
    grows = run.actions(Action.SET_BATCH_SIZE)
    assert grows and grows[0][1].params == {
        "batch_size": 32,
        "previous": 16,
        "lr": pytest.approx(grows[0][1].params["lr"]),
    }
    epoch = grows[0][0]
    c = TrainingController(no_hold, plan_for(300))
    assert grows[0][1].params["lr"] == pytest.approx(c.learning_rate(epoch) * math.sqrt(2))

    curve = Curve(plan=300, tau=20)

    def spiky(e: int, c: TrainingController, decisions: list) -> dict:
        rec = curve.record(e)
        if e == 60:
            rec["grad_norm"] = 6.0  # 4x the median, below the explosion threshold
            rec["train_loss"] *= 1.3
        if e == 90:
            rec["oom_steps"] = 2.0
        return rec

    run = simulate(CONFIG, plan_for(300, max_batch_size=16), spiky)
    changes = [(e, d.params["batch_size"]) for e, d in run.actions(Action.SET_BATCH_SIZE)]
    cooldown = run.controller.horizon.cooldown
    assert changes[0] == (60, 8)
    assert changes[1][1] == 16 and changes[1][0] >= 60 + 4 * cooldown  # grown back, slowly
    assert changes[2:] == [(90, 8)]  # OOM: shrink, and never grow back into it
    oom = run.actions(Action.SET_BATCH_SIZE)[-1][1]
    assert "out of memory" in oom.reason


def test_no_batch_adaptation_without_bounds_or_when_disabled():
    run = run_curve(Curve(plan=300, tau=20), min_batch_size=16, max_batch_size=16)
    assert not run.actions(Action.SET_BATCH_SIZE)
    config = load_config(None, {"adaptive_learning.batch_size_adaptation.enabled": False})
    assert not run_curve(Curve(plan=300, tau=20), config).actions(Action.SET_BATCH_SIZE)


# ---------------------------------------------------------------- short plans and budget


def test_a_30_epoch_plan_warms_up_passes_all_phases_and_is_analysed():
    run = run_curve(Curve(plan=30, tau=5))
    c = run.controller
    assert run.lrs[0] < run.lrs[c.horizon.warmup]  # warm-up
    phases = [d.params["phase"] for _, d in run.actions(Action.PHASE)]
    assert phases == ["learning", "fine_tuning"]
    reports = run.actions(Action.REPORT)
    assert len(reports) >= 3
    assert c.summary_fields()["predicted_stop_epoch"] is not None
    text = reports[0][1].params["text"]
    assert text.startswith("📊 Epoch ") and "• Status:" in text


def test_time_budget_replans_phases_inside_it_and_stops_before_overrunning():
    curve = Curve(plan=2000, seconds=60.0, tau=200, align_at=5)
    run = run_curve(curve, max_minutes=100.0)
    replans = run.actions(Action.REPLAN)
    assert replans and replans[0][0] == 1
    assert replans[0][1].params["effective_epochs"] == pytest.approx(100, abs=2)
    phases = [d.params["phase"] for _, d in run.actions(Action.PHASE)]
    assert phases == ["learning", "fine_tuning"]
    assert run.stop is not None
    epoch, stop = run.stop
    assert stop.stop_reason == "budget" and "100 min" in stop.reason
    assert epoch * 60.0 <= 100 * 60.0 and (epoch + 1) * 60.0 > 100 * 60.0 - 60.0
    assert run.lrs[0] < max(run.lrs[:40])  # the warm-up was planned inside the budget too
    note = run.actions(Action.REPORT)[-2][1].params["report"]["budget_note"]
    assert "min left" in note and "epochs fit" in note


def test_plan_end_stops_with_epochs_completed_and_nothing_else():
    run = run_curve(Curve(plan=40, tau=40, nan_at={40}))
    assert [d.action for e, d in run.decisions if e == 40][-2:] == [Action.REPORT, Action.STOP]
    assert run.stop is not None and run.stop[1].stop_reason == "epochs_completed"
    assert not run.actions(Action.ROLLBACK)


def test_lr_holds_its_peak_until_the_attention_forms_then_anneals_over_the_rest():
    curve = Curve(plan=400, tau=40, align_at=120)
    run = run_curve(curve, max_batch_size=16)  # no batch growth: the LR moves by schedule only
    warmup = run.controller.horizon.warmup
    peak = run.lrs[warmup]
    aligned = next(e for e, r in enumerate(run.records, 1) if r["attention_score"] >= 0.5)
    # Between warm-up and alignment the LR stays at its peak...
    assert all(lr == pytest.approx(peak) for lr in run.lrs[warmup + 1 : aligned])
    # ...then a cosine takes it down to min_lr_factor x peak by the end of the plan.
    assert run.lrs[aligned + 80] < 0.9 * peak
    assert run.controller.learning_rate(400) == pytest.approx(peak * 0.1)

    no_hold = CONFIG.model_copy(deep=True)
    no_hold.adaptive_learning.lr_scheduling.hold_until_aligned = False
    early = run_curve(curve, config=no_hold, max_batch_size=16)
    assert early.lrs[aligned - 1] < 0.9 * peak  # without the hold it had already annealed


def test_a_one_epoch_gradient_spike_is_tolerated_while_aligning_and_halves_the_lr_after():
    curve = Curve(plan=300, tau=40, align_at=40)

    def spiky(e: int, c: TrainingController, decisions: list) -> dict:
        rec = curve.record(e)
        if e in (25, 120):
            rec["grad_norm"] = 12.0  # above the explosion threshold (10), 8x the median
            rec["train_loss"] *= 1.3
        return rec

    run = simulate(CONFIG, plan_for(300, max_batch_size=16), spiky)
    lr_cuts = [e for e, d in run.actions(Action.SET_LR) if "gradient explosion" in d.reason]
    assert lr_cuts == [120]


def test_sustained_high_gradients_while_the_loss_falls_are_no_explosion():
    """A 5-7 s corpus: pre-clipping norms of ~18 for epochs on end while the attention
    formed and the loss fell; halving the LR there only slowed the alignment."""
    curve = Curve(plan=300, tau=40, align_at=40)

    def high(e: int, c: TrainingController, decisions: list) -> dict:
        rec = curve.record(e)
        if 5 <= e <= 80:
            rec["grad_norm"] = 18.0
        return rec

    run = simulate(CONFIG, plan_for(300, max_batch_size=16), high)
    assert not [e for e, d in run.actions(Action.SET_LR) if "explosion" in d.reason]


def test_a_gradient_spike_the_loss_shrugs_off_changes_neither_lr_nor_batch():
    """Clipping bounds every step; a demo run lost 4x of its LR and halved its batch for
    one-epoch spikes (grad_norm 19.9, 10.5, 6) while its training loss kept falling."""
    curve = Curve(plan=300, tau=40, align_at=20)

    def spiky(e: int, c: TrainingController, decisions: list) -> dict:
        rec = curve.record(e)
        if e in (60, 120):
            rec["grad_norm"] = 20.0
        if e == 90:
            rec["grad_norm"] = 6.0
        return rec

    run = simulate(CONFIG, plan_for(300, max_batch_size=32), spiky)
    assert not [e for e, d in run.actions(Action.SET_LR) if "explosion" in d.reason]
    assert not [d for _, d in run.actions(Action.SET_BATCH_SIZE) if "large" in d.reason]

"""Attention sharpening under the controller, on synthetic runs: switched on only once the
attention is diagonal, undone by rollback when it makes a "clock", retried once at half weight,
released for good when sharp and diagonal; and early artefacts that are not collapses."""

from __future__ import annotations

from typing import Any

import pytest

from smart_tuner.config import Config, load_config
from smart_tuner.control import Action, TrainingController

from .synth import Curve, open_loop, plan_for, simulate

CONFIG = Config()


def run_curve(curve: Curve, config: Config = CONFIG, **plan: Any):
    return simulate(config, plan_for(curve.plan, **plan), open_loop(curve))


def test_a_sharp_but_off_diagonal_attention_has_not_formed_so_its_fading_is_no_collapse():
    curve = Curve(plan=300, tau=40, align_at=60)

    def early_artifact(e: int, c: TrainingController, decisions: list) -> dict:
        rec = curve.record(e)
        if e <= 3:  # sharp, but parked on one symbol
            rec["attention_score"], rec["diagonality"] = 0.9, 0.1
        else:
            rec["diagonality"] = 0.9 if e >= 60 else 0.4
        return rec

    run = simulate(CONFIG, plan_for(300, max_batch_size=16), early_artifact)
    early = [d.action for e, d in run.decisions if e < 40]
    assert Action.RESET_ATTENTION not in early and Action.RESTART not in early


def test_attention_is_sharpened_once_it_is_diagonal_not_before_and_again_after_a_restart():
    config = load_config(
        None,
        {
            "training.attention_entropy_weight": 0.1,
            "training.attention_entropy_min_diagonality": 0.85,
        },
    )
    curve = Curve(plan=200, align_at=30)
    controller = TrainingController(config, plan_for(200))
    assert controller.attention_entropy_weight() == 0.0  # nothing seen yet
    run = simulate(config, plan_for(200), open_loop(curve), controller=controller)
    sharpen = run.actions(Action.SHARPEN_ATTENTION)
    assert len(sharpen) == 1
    epoch, decision = sharpen[0]
    first_diagonal = next(r["epoch"] for r in run.records if r["diagonality"] >= 0.85)
    assert first_diagonal < epoch <= first_diagonal + 10  # smoothed: not on one lucky epoch
    assert "diagonality" in decision.reason and decision.params["weight"] == 0.1
    assert run.controller.attention_entropy_weight() == 0.1
    # state survives a resume, and a fresh attempt must earn the term again
    resumed = TrainingController(config, plan_for(200))
    resumed.load_state_dict(run.controller.state_dict())
    assert resumed.attention_entropy_weight() == 0.1
    resumed.levers.begin_attempt(epoch + 5, 1e-3)
    assert resumed.attention_entropy_weight() == 0.0


def test_one_lucky_diagonal_epoch_does_not_switch_sharpening_on():
    config = load_config(None, {"training.attention_entropy_weight": 0.1})
    controller = TrainingController(config, plan_for(100))
    decisions = []
    for epoch, diag in enumerate([0.6, 0.55, 0.82, 0.89, 0.67, 0.7], start=1):
        record = {
            "epoch": epoch,
            "step": epoch * 10,
            "train_loss": 3.0,
            "val_loss": 2.5,
            "attention_score": 0.3,
            "diagonality": diag,
            "epoch_seconds": 10.0,
        }
        decisions += controller.observe(record, epoch * 10.0)
    assert not [d for d in decisions if d.action is Action.SHARPEN_ATTENTION]
    assert controller.attention_entropy_weight() == 0.0


def test_the_priors_diagonal_at_the_first_epochs_does_not_switch_sharpening_on():
    """DCA's prior draws a diagonal before anything is learned (0.88 at epoch 1 in a demo
    run); sharpening that made a clock. The term waits for the warm-up to end."""
    config = load_config(None, {"training.attention_entropy_weight": 0.1})
    controller = TrainingController(config, plan_for(60))
    warmup = controller.horizon.warmup
    on = []
    for epoch in range(1, warmup + 6):
        record = {
            "epoch": epoch,
            "step": epoch * 10,
            "train_loss": 3.0,
            "val_loss": 2.5,
            "attention_score": 0.25,
            "diagonality": 0.9,
            "epoch_seconds": 10.0,
        }
        decisions = controller.observe(record, epoch * 10.0)
        on += [epoch for d in decisions if d.action is Action.SHARPEN_ATTENTION]
    assert on == [max(warmup, 3)]


def test_without_a_gate_the_entropy_weight_is_constant_and_no_decision_is_made():
    config = load_config(
        None,
        {"training.attention_entropy_weight": 0.2, "training.attention_entropy_min_diagonality": 0},
    )
    run = run_curve(Curve(plan=100, align_at=10), config)
    assert not run.actions(Action.SHARPEN_ATTENTION)
    assert run.controller.attention_entropy_weight() == 0.2
    off = load_config(None, {"training.attention_entropy_weight": 0.0})
    assert not run_curve(Curve(plan=100, align_at=10), off).actions(Action.SHARPEN_ATTENTION)


def _record(epoch: int, diag: float, score: float, val: float) -> dict[str, float]:
    return {
        "epoch": epoch,
        "step": epoch * 10,
        "train_loss": val + 0.5,
        "val_loss": val,
        "attention_score": score,
        "diagonality": diag,
        "epoch_seconds": 10.0,
    }


def test_sharpening_that_makes_a_clock_is_undone_by_rolling_back_to_the_model_before_it():
    config = load_config(None, {"training.attention_entropy_weight": 0.1})
    controller = TrainingController(config, plan_for(200))
    decisions: list[tuple[int, Any]] = []
    # diagonal but diffuse for 12 epochs; then one symbol per step, parked at the end
    diags = [0.95] * 12 + [0.3] * 12
    for epoch, diag in enumerate(diags, start=1):
        score = 0.3 if epoch <= 12 else 0.99
        for d in controller.observe(_record(epoch, diag, score, 3.0 - 0.02 * epoch), epoch * 10.0):
            decisions.append((epoch, d))
    (on_epoch, _), *_ = [(e, d) for e, d in decisions if d.action is Action.SHARPEN_ATTENTION]
    kept = [d for e, d in decisions if d.action is Action.CHECKPOINT and e == on_epoch]
    assert kept and kept[0].params["tag"] == f"before_sharpening_e{on_epoch:05d}"
    rollbacks = [(e, d) for e, d in decisions if d.action is Action.ROLLBACK]
    assert len(rollbacks) == 1  # once: the term stays off afterwards
    epoch, rollback = rollbacks[0]
    assert 13 < epoch <= 20  # smoothed: a few epochs of the clock, not the first one
    assert rollback.params["checkpoint"] == kept[0].params["tag"]
    assert "clock" in rollback.reason
    assert controller.attention_entropy_weight() == 0.0
    assert not [d for _, d in decisions if d.action is Action.STOP]
    # a resumed run remembers; a fresh attempt may try again
    resumed = TrainingController(config, plan_for(200))
    resumed.load_state_dict(controller.state_dict())
    assert resumed.attention_entropy_weight() == 0.0
    resumed.levers.begin_attempt(30, 1e-3)
    sharpening = resumed.rule("sharpening").state
    assert not sharpening.failed and sharpening.checkpoint is None


def test_a_sharpened_attention_that_stays_diagonal_is_left_alone():
    config = load_config(
        None,
        {
            "training.attention_entropy_weight": 0.1,
            "training.attention_entropy_release_score": 0.8,
        },
    )
    controller = TrainingController(config, plan_for(200))
    actions = []
    for epoch in range(1, 40):
        score = 0.3 if epoch <= 12 else 0.85
        diag = 0.95 if epoch % 7 else 0.6  # an occasional bad epoch is noise
        actions += [d.action for d in controller.observe(_record(epoch, diag, score, 2.0), epoch)]
    assert Action.SHARPEN_ATTENTION in actions and Action.ROLLBACK not in actions
    # sharp and diagonal: its work done, the term is switched off rather than undone
    assert Action.RELEASE_ATTENTION in actions
    assert controller.attention_entropy_weight() == 0.0


def _sharpening_run(
    diags: list[float], scores: list[float], release: float = 0.8
) -> tuple[TrainingController, list[tuple[int, Any]]]:
    config = load_config(
        None,
        {
            "training.attention_entropy_weight": 0.1,
            "training.attention_entropy_release_score": release,
        },
    )
    controller = TrainingController(config, plan_for(200))
    decisions: list[tuple[int, Any]] = []
    for epoch, (diag, score) in enumerate(zip(diags, scores, strict=True), start=1):
        record = _record(epoch, diag, score, 3.0 - 0.005 * epoch)
        decisions += [(epoch, d) for d in controller.observe(record, epoch * 10.0)]
    return controller, decisions


def test_after_a_clock_sharpening_is_tried_once_more_at_half_weight_on_a_clean_diagonal():
    """Measured on 5-7 s utterances: the term made a clock at diagonality 0.85; after the
    rollback the attention was diagonal at 0.99 but crept from 0.2 to 0.68 in 20 minutes."""
    diags = [0.9] * 12 + [0.3] * 10 + [0.99] * 30
    scores = [0.15] * 12 + [0.99] * 10 + [0.25] * 30
    controller, decisions = _sharpening_run(diags, scores)
    on = [(e, d) for e, d in decisions if d.action is Action.SHARPEN_ATTENTION]
    (rollback_epoch, rollback), *more = [
        (e, d) for e, d in decisions if d.action is Action.ROLLBACK
    ]
    assert not more
    assert "once more" in rollback.reason
    assert len(on) == 2
    (first, first_d), (second, second_d) = on
    assert first_d.params["weight"] == 0.1 and first_d.params["try"] == 1
    assert second_d.params["weight"] == pytest.approx(0.05) and second_d.params["try"] == 2
    assert "again" in second_d.reason
    # not at once: the smoothed diagonality has to climb back above 0.95 first
    assert second > rollback_epoch + controller.horizon.cooldown
    assert controller.shared_state.diag_ema is not None and controller.shared_state.diag_ema >= 0.95
    kept = [d.params["tag"] for e, d in decisions if d.action is Action.CHECKPOINT and e == second]
    assert kept == [f"before_sharpening_e{second:05d}"]
    assert controller.attention_entropy_weight() == pytest.approx(0.05)
    resumed = TrainingController(controller.config, plan_for(200))
    resumed.load_state_dict(controller.state_dict())
    assert resumed.attention_entropy_weight() == pytest.approx(0.05)


def test_a_retry_that_makes_a_clock_again_is_undone_and_not_tried_a_third_time():
    diags = [0.9] * 12 + [0.3] * 10 + [0.99] * 20 + [0.3] * 8 + [0.99] * 30
    scores = [0.15] * 12 + [0.99] * 10 + [0.25] * 20 + [0.99] * 8 + [0.25] * 30
    controller, decisions = _sharpening_run(diags, scores)
    on = [e for e, d in decisions if d.action is Action.SHARPEN_ATTENTION]
    assert len(on) == 2
    rollbacks = [d for _, d in decisions if d.action is Action.ROLLBACK]
    assert len(rollbacks) == 2
    assert "for this attempt" in rollbacks[1].reason
    assert rollbacks[1].params["checkpoint"] == f"before_sharpening_e{on[1]:05d}"
    assert controller.attention_entropy_weight() == 0.0


def test_no_retry_while_the_diagonal_is_only_as_good_as_when_the_clock_formed():
    diags = [0.9] * 12 + [0.3] * 10 + [0.9] * 40
    scores = [0.15] * 12 + [0.99] * 10 + [0.25] * 40
    controller, decisions = _sharpening_run(diags, scores)
    assert len([d for _, d in decisions if d.action is Action.SHARPEN_ATTENTION]) == 1
    assert controller.attention_entropy_weight() == 0.0


def test_sharp_and_diagonal_attention_releases_the_entropy_term_for_good():
    diags = [0.9] * 12 + [0.97] * 30
    scores = [0.2] * 12 + [0.3] * 3 + [0.9] * 27
    controller, decisions = _sharpening_run(diags, scores, release=0.8)
    (on,) = [e for e, d in decisions if d.action is Action.SHARPEN_ATTENTION]
    (released, decision), *more = [
        (e, d) for e, d in decisions if d.action is Action.RELEASE_ATTENTION
    ]
    assert not more
    assert on < released
    # smoothed: the raw score jumped to 0.9 at epoch 16, its average passes 0.8 later
    assert released > 16
    assert decision.params["attention_score"] >= 0.8 and decision.params["since"] == on
    assert controller.attention_entropy_weight() == 0.0
    assert not [d for _, d in decisions if d.action is Action.ROLLBACK]
    resumed = TrainingController(controller.config, plan_for(200))
    resumed.load_state_dict(controller.state_dict())
    assert resumed.attention_entropy_weight() == 0.0


def test_by_default_the_entropy_term_stays_on_once_sharp():
    """Released at 0.8 on the demo, the speech was no clearer (within the runs' spread) and
    the score settled at 0.70-0.75, close to the 0.7 the demo has to show."""
    config = load_config(None, {"training.attention_entropy_weight": 0.1})
    controller = TrainingController(config, plan_for(200))
    decisions = []
    for epoch in range(1, 43):
        record = _record(epoch, 0.9 if epoch <= 12 else 0.97, 0.2 if epoch <= 12 else 0.9, 2.0)
        decisions += controller.observe(record, epoch * 10.0)
    assert [d for d in decisions if d.action is Action.SHARPEN_ATTENTION]
    assert not [d for d in decisions if d.action is Action.RELEASE_ATTENTION]
    assert controller.attention_entropy_weight() == 0.1


def test_a_sharp_clock_is_rolled_back_not_released():
    diags = [0.9] * 12 + [0.3] * 10
    scores = [0.15] * 12 + [0.99] * 10
    controller, decisions = _sharpening_run(diags, scores, release=0.8)
    assert not [d for _, d in decisions if d.action is Action.RELEASE_ATTENTION]
    assert [d for _, d in decisions if d.action is Action.ROLLBACK]


def test_sharp_attention_that_wanders_off_the_diagonal_keeps_the_term():
    diags = [0.9] * 12 + [0.75] * 20
    scores = [0.2] * 12 + [0.9] * 20
    controller, decisions = _sharpening_run(diags, scores, release=0.8)
    assert not [d for _, d in decisions if d.action is Action.RELEASE_ATTENTION]
    assert controller.attention_entropy_weight() == 0.1

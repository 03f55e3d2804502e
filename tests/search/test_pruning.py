"""The TTS pruning policy on synthetic curves (no training, no Optuna)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from smart_tuner.config import load_config
from smart_tuner.search.objective import pruning_policy
from smart_tuner.search.pruning import PruningPolicy, grace_for_batch
from smart_tuner.search.space import SearchSpace


def epoch(val: float, attention: float = 0.0, train: float | None = None) -> dict[str, float]:
    return {
        "val_loss": val,
        "train_loss": val if train is None else train,
        "attention_score": attention,
    }


def always() -> bool:
    return True


def never() -> bool:
    return False


def test_a_late_aligner_is_not_pruned_on_loss_before_the_grace_point():
    policy = PruningPolicy(grace_epochs=5, min_attention_score=0.3)
    # worst loss of all trials for 4 epochs (the loss rule says prune): kept
    for e, (loss, att) in enumerate([(6.0, 0.1), (5.8, 0.1), (5.7, 0.2), (5.6, 0.35)], start=1):
        assert not policy.decide(e, epoch(loss, attention=att), always).prune
    # aligned by the grace point, loss now fine: kept
    assert not policy.decide(5, epoch(4.0, attention=0.6), never).prune


# attention_score per epoch of real trials of the search benchmark (demo corpus, batch 16):
ALIGNED_AT_17 = [0.17, 0.2, 0.32, 0.29, 0.34, 0.3, 0.21, 0.31, 0.3, 0.26, 0.23, 0.28, 0.27]
ALIGNED_AT_17 += [0.27, 0.31, 0.33, 0.48, 0.57, 0.67, 0.7, 0.76, 0.76, 0.77, 0.8]
NEVER_ALIGNED = [0.14, 0.14, 0.16, 0.19, 0.16, 0.13, 0.14, 0.15, 0.22, 0.25, 0.24, 0.3, 0.24]
NEVER_ALIGNED += [0.15, 0.25, 0.25, 0.27, 0.24, 0.21, 0.25, 0.22, 0.17, 0.18, 0.23]


def test_one_lucky_epoch_does_not_exempt_a_trial_that_never_aligns():
    """Unaligned scores wander up to ~0.36: the rule judges the recent epochs, not the best."""
    never_aligned, aligned = (PruningPolicy(grace_epochs=20) for _ in range(2))
    verdicts = [
        never_aligned.decide(e, epoch(5.0, a), never)
        for e, a in enumerate(NEVER_ALIGNED[:20], start=1)
    ]
    assert [v.prune for v in verdicts] == [False] * 19 + [True]
    assert "mean of the last 3 epochs" in verdicts[-1].reason
    assert max(NEVER_ALIGNED[:20]) >= 0.3  # the best epoch alone would have kept it
    for e, a in enumerate(ALIGNED_AT_17, start=1):
        assert not aligned.decide(e, epoch(4.0, a), never).prune


def test_a_trial_whose_attention_collapses_after_the_grace_point_is_pruned():
    policy = PruningPolicy(grace_epochs=3)
    scores = [0.2, 0.5, 0.7, 0.8, 0.3, 0.2, 0.15]
    verdicts = [policy.decide(e, epoch(4.0, a), never) for e, a in enumerate(scores, start=1)]
    assert [v.prune for v in verdicts] == [False] * 6 + [True]
    assert verdicts[-1].reason.startswith("attention lost at epoch 7")


def test_attention_not_formed_by_the_grace_point_is_pruned_with_its_reason():
    policy = PruningPolicy(grace_epochs=3, min_attention_score=0.3)
    assert not policy.decide(1, epoch(5.0, 0.1), never).prune
    assert not policy.decide(2, epoch(4.9, 0.15), never).prune
    verdict = policy.decide(3, epoch(4.8, 0.2), never)
    assert verdict.prune and verdict.rule == "attention"
    assert "attention not formed by epoch 3" in verdict.reason and "0.150" in verdict.reason
    assert policy.log and "pruned (attention)" in policy.log[0]


def test_after_the_grace_point_the_loss_rule_decides():
    policy = PruningPolicy(grace_epochs=2, min_attention_score=0.3)
    assert not policy.decide(2, epoch(5.0, 0.5), never).prune
    verdict = policy.decide(3, epoch(4.9, 0.5), always)
    assert verdict.prune and verdict.rule == "loss" and "successive halving" in verdict.reason


def test_divergence_is_pruned_at_once_even_before_the_grace_point():
    policy = PruningPolicy(grace_epochs=10, divergence_factor=3.0)
    assert not policy.decide(1, epoch(170.0, train=8.8), never).prune
    verdict = policy.decide(2, epoch(86.0, train=134.0), never)
    assert verdict.prune and verdict.rule == "diverged" and "train_loss 134" in verdict.reason
    nan = PruningPolicy(grace_epochs=10).decide(1, epoch(math.nan), never)
    assert nan.prune and "val_loss is nan" in nan.reason


def test_loss_only_mode_has_no_grace_and_no_attention_rule():
    policy = PruningPolicy(mode="loss_only", grace_epochs=10, min_attention_score=0.9)
    assert not policy.decide(1, epoch(5.0, 0.0), never).prune
    assert policy.decide(2, epoch(5.0, 0.0), always).rule == "loss"


def test_mode_none_never_prunes():
    policy = PruningPolicy(mode="none")
    assert not policy.decide(1, epoch(math.inf), always).prune


@given(
    losses=st.lists(st.floats(0.5, 10.0), min_size=1, max_size=30),
    grace=st.integers(1, 40),
)
def test_nothing_but_divergence_prunes_before_the_grace_point(losses, grace):
    policy = PruningPolicy(grace_epochs=grace, divergence_factor=100.0)
    for e, loss in enumerate(losses, start=1):
        verdict = policy.decide(e, epoch(loss, attention=0.0), always)
        if e < grace:
            assert not verdict.prune
        else:
            assert verdict.prune  # attention 0 after the grace point
            break


def test_the_grace_point_counts_updates_for_a_trial_of_another_batch_size():
    assert grace_for_batch(10, 16, 16) == 10
    assert grace_for_batch(10, 32, 16) == 20  # half the updates per epoch: twice the epochs
    assert grace_for_batch(10, 8, 16) == 5
    assert grace_for_batch(1, 8, 32) == 1  # never before the first epoch
    # the demo corpus (~200 training items): 130 updates by the grace point at batch 16,
    # within the rounding of the last short batch of that at 8 and 32
    updates = [math.ceil(200 / b) * grace_for_batch(10, b, 16) for b in (8, 16, 32)]
    assert max(updates) / min(updates) < 1.15


@given(st.integers(1, 200), st.integers(1, 512), st.integers(1, 512), st.integers(1, 512))
def test_a_larger_batch_never_gets_an_earlier_grace_point(grace, small, large, reference):
    small, large = sorted((small, large))
    assert 1 <= grace_for_batch(grace, small, reference) <= grace_for_batch(grace, large, reference)
    assert grace_for_batch(grace, reference, reference) == grace


def test_a_trial_of_twice_the_batch_is_judged_on_attention_at_twice_the_epoch():
    base = load_config(None, {"training.batch_size": 16, "search.alignment_grace_epochs": 10})
    space = SearchSpace.from_config(base)
    for batch, grace in ((16, 10), (32, 20), (8, 5)):
        trial = space.apply(base, {"batch_size": batch}).model_dump(mode="json")
        policy = pruning_policy(base, trial)
        assert policy.grace_epochs == grace
        for e in range(1, grace):  # never aligned, still not judged
            assert not policy.decide(e, epoch(5.0, attention=0.1), never).prune
        verdict = policy.decide(grace, epoch(5.0, attention=0.1), never)
        assert verdict.prune and f"grace point {grace}" in verdict.reason


def test_a_loss_verdict_names_the_loss_rule_the_study_uses():
    for loss_pruner, named, other in (
        ("halving", "successive halving", "median"),
        ("median", "median rule", "halving"),
    ):
        base = load_config(
            None, {"search.loss_pruner": loss_pruner, "search.alignment_grace_epochs": 1}
        )
        policy = pruning_policy(base, base.model_dump(mode="json"))
        verdict = policy.decide(1, epoch(3.0, attention=0.8), always)
        assert verdict.rule == "loss" and named in verdict.reason
        assert other not in verdict.reason


def _third_trial_pruned(loss_pruner: str, value_at_grace: float) -> bool:
    """Two trials finished (val_loss 3.9 and 4.3 at epoch 20); is a third pruned at epoch 20?"""
    import optuna

    from smart_tuner.search.study import make_loss_pruner

    settings = load_config(
        None,
        {"search.alignment_grace_epochs": 20, "search.loss_pruner": loss_pruner},
    ).search
    study = optuna.create_study(pruner=make_loss_pruner(settings, trial_epochs=30))
    for value in (3.9, 4.3):
        trial = study.ask()
        for step in (19, 20, 30):
            trial.report(value, step)
            trial.should_prune()  # asked every epoch, as the objective does (halving's rungs)
        study.tell(trial, value)
    trial = study.ask()
    trial.report(value_at_grace, 19)
    assert not trial.should_prune()  # before the grace point: never on loss
    trial.report(value_at_grace, 20)
    return trial.should_prune()


def test_halving_keeps_only_the_best_at_a_rung_of_few_trials_and_median_the_better_half():
    # a near-tie with the best (4.0 against 3.9) at the grace point: halving prunes it
    assert _third_trial_pruned("halving", 4.0)
    assert not _third_trial_pruned("halving", 3.8)
    # the median rule keeps what is better than the median of the finished trials (4.1)
    assert not _third_trial_pruned("median", 4.0)
    assert _third_trial_pruned("median", 4.2)


@given(
    curve=st.lists(st.tuples(st.floats(0.5, 10.0), st.floats(0.0, 1.0)), min_size=2, max_size=30),
    grace=st.integers(1, 20),
    split=st.integers(1, 29),
)
def test_a_resumed_trial_is_judged_as_if_it_had_never_stopped(curve, grace, split):
    """Epochs recalled from the predecessor's run, then judged: the same verdicts as one
    policy that saw every epoch (split before the first pruned epoch, as a pruned trial is
    never re-queued)."""
    whole = PruningPolicy(grace_epochs=grace)
    verdicts = []
    for e, (val, attention) in enumerate(curve, start=1):
        verdicts.append(whole.decide(e, epoch(val, attention), never))
        if verdicts[-1].prune:
            break
    split = min(split, len(verdicts) - 1)
    if any(v.prune for v in verdicts[:split]):
        return
    resumed = PruningPolicy(grace_epochs=grace)
    for e, (val, attention) in enumerate(curve[:split], start=1):
        resumed.recall(e, epoch(val, attention))
    later = [
        resumed.decide(e, epoch(val, attention), never)
        for e, (val, attention) in enumerate(curve[split : len(verdicts)], start=split + 1)
    ]
    assert later == verdicts[split:]
    assert (resumed.best, resumed.attention, resumed.attention_formed) == (
        whole.best,
        whole.attention,
        whole.attention_formed,
    )


# seed 2 of the search benchmark, float32 (lr 3.7e-4, r 3): a lucky stretch at epochs 7-10,
# then flat at ~0.2 until attention formed for good at epoch 24
FORMED_AT_24 = [0.14, 0.18, 0.24, 0.15, 0.16, 0.19, 0.34, 0.35, 0.32, 0.25, 0.21, 0.28, 0.22]
FORMED_AT_24 += [0.17, 0.21, 0.19, 0.22, 0.24, 0.23, 0.24, 0.24, 0.3, 0.34, 0.4, 0.41, 0.45]


def test_the_onset_is_where_the_attention_formed_for_good_not_a_lucky_stretch():
    policy = PruningPolicy(grace_epochs=20, study_onsets=lambda: [])
    onsets = []
    for e, a in enumerate(FORMED_AT_24, start=1):
        policy.decide(e, epoch(4.0, a), never)
        onsets.append(policy.onset)
    assert onsets[8:10] == [9, 9]  # formed for a while (mean of 3 epochs >= 0.3)...
    assert onsets[10:23] == [None] * 13  # ...lost again...
    assert onsets[23:] == [24, 24, 24]  # ...and formed for good at 24


def test_with_a_study_grace_point_nothing_is_judged_on_attention_before_a_trial_formed():
    policy = PruningPolicy(grace_epochs=20, study_onsets=lambda: [])
    verdicts = [policy.decide(e, epoch(5.0, a), always) for e, a in enumerate(NEVER_ALIGNED, 1)]
    assert not any(v.prune for v in verdicts)  # neither on attention nor on loss
    assert policy.grace_point() == (None, "no trial of the study has formed attention yet")


def test_the_study_grace_point_waits_for_the_latest_onset_the_study_has_seen():
    onsets = [17, 24]
    late = PruningPolicy(grace_epochs=20, study_onsets=lambda: onsets)
    assert late.grace_point()[0] == 27  # 24 + attention_window
    for e, a in enumerate(FORMED_AT_24, start=1):  # as late as the latest: kept
        assert not late.decide(e, epoch(4.0, a), never).prune
    never_aligned = PruningPolicy(grace_epochs=20, study_onsets=lambda: onsets)
    curve = NEVER_ALIGNED + [0.2] * 6  # 30 epochs
    verdicts = [never_aligned.decide(e, epoch(5.0, a), never) for e, a in enumerate(curve, 1)]
    assert [v.prune for v in verdicts[:26]] == [False] * 26 and verdicts[26].prune  # epoch 27
    assert "formed attention by epoch 24, + 3" in verdicts[26].reason
    # early onsets never bring the grace point before alignment_grace_epochs
    onsets[:] = [5]
    assert never_aligned.grace_point()[0] == 20


def test_the_trials_own_onset_opens_the_loss_rule_when_the_study_has_none():
    policy = PruningPolicy(grace_epochs=1, study_onsets=lambda: [])
    assert not policy.decide(1, epoch(5.0, 0.6), always).prune  # formed at 1: judged from 4
    assert not policy.decide(3, epoch(5.0, 0.6), always).prune
    assert policy.decide(4, epoch(5.0, 0.6), always).rule == "loss"


def test_the_study_grace_point_counts_onsets_in_updates_for_another_batch_size():
    base = load_config(None, {"training.batch_size": 16, "search.alignment_grace_epochs": 10})
    assert base.search.alignment_grace == "study"
    space = SearchSpace.from_config(base)
    for batch, point in ((16, 27), (32, 51), (8, 15)):
        trial = space.apply(base, {"batch_size": batch}).model_dump(mode="json")
        # a trial of batch 16 formed at 24: 48 epochs at batch 32, 12 at batch 8
        policy = pruning_policy(base, trial, lambda: [24.0])
        assert policy.grace_point()[0] == point
    fixed = load_config(None, {"search.alignment_grace": "fixed"})
    policy = pruning_policy(fixed, fixed.model_dump(mode="json"), lambda: [24.0])
    assert policy.grace_point()[0] == fixed.search.alignment_grace_epochs

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
    for e, loss in enumerate([6.0, 5.8, 5.7, 5.6], start=1):
        assert not policy.decide(e, epoch(loss, attention=0.1), always).prune
    # aligned by the grace point, loss now fine: kept
    assert not policy.decide(5, epoch(4.0, attention=0.6), never).prune


def test_attention_not_formed_by_the_grace_point_is_pruned_with_its_reason():
    policy = PruningPolicy(grace_epochs=3, min_attention_score=0.3)
    assert not policy.decide(1, epoch(5.0, 0.1), never).prune
    assert not policy.decide(2, epoch(4.9, 0.15), never).prune
    verdict = policy.decide(3, epoch(4.8, 0.2), never)
    assert verdict.prune and verdict.rule == "attention"
    assert "attention not formed by epoch 3" in verdict.reason and "0.200" in verdict.reason
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

"""Alignment metrics on synthetic attention matrices whose right answer is known."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_tuner.runtime.alignment_metrics import attention_score, diagonality, gate_accuracy


def diagonal(t_dec: int, t_enc: int) -> torch.Tensor:
    """A hard monotonic alignment from (0, 0) to (t_dec, t_enc)."""
    a = torch.zeros(t_dec, t_enc)
    for i in range(t_dec):
        a[i, min(t_enc - 1, int((i + 0.5) * t_enc / t_dec))] = 1.0
    return a


def batch(*mats: torch.Tensor, t_dec: int, t_enc: int):
    out = torch.zeros(len(mats), t_dec, t_enc)
    for k, m in enumerate(mats):
        out[k, : m.shape[0], : m.shape[1]] = m
    dec = torch.tensor([m.shape[0] for m in mats])
    enc = torch.tensor([m.shape[1] for m in mats])
    return out, enc, dec


def test_perfect_diagonal_scores_one():
    a, enc, dec = batch(diagonal(60, 20), t_dec=60, t_enc=20)
    assert attention_score(a, enc, dec) == 1.0
    assert diagonality(a, enc, dec) == 1.0


def test_uniform_attention_scores_low():
    a, enc, dec = batch(torch.full((50, 25), 1 / 25), t_dec=50, t_enc=25)
    assert abs(attention_score(a, enc, dec) - 1 / 25) < 1e-6
    assert diagonality(a, enc, dec) < 0.3


def test_stuck_head_is_sharp_but_not_diagonal():
    stuck = torch.zeros(80, 30)
    stuck[:, 3] = 1.0
    a, enc, dec = batch(stuck, t_dec=80, t_enc=30)
    assert attention_score(a, enc, dec) == 1.0
    assert diagonality(a, enc, dec) <= 0.21  # only the first fifth lies in the band


def test_slope_aware_not_a_mean_of_the_main_diagonal():
    # 100 decoder steps over 10 symbols: A[i, i] is almost always 0, yet this is perfect.
    a, enc, dec = batch(diagonal(100, 10), t_dec=100, t_enc=10)
    assert diagonality(a, enc, dec) == 1.0


def test_short_utterance_inside_padding_is_judged_on_its_own_lengths():
    short = diagonal(20, 8)
    long = diagonal(90, 40)
    a, enc, dec = batch(short, long, t_dec=90, t_enc=40)
    # Garbage in the padded area must not change the result.
    a[0, 20:, :] = 1.0
    a[0, :20, 8:] = 0.0
    assert attention_score(a, enc, dec) == 1.0
    assert diagonality(a, enc, dec) == 1.0


def test_mass_on_padded_encoder_steps_counts_against_diagonality():
    m = torch.zeros(30, 20)
    m[:, 15] = 1.0  # attends past the true input length (10) of this utterance
    a, _, dec = batch(m, t_dec=30, t_enc=20)
    enc = torch.tensor([10])
    assert diagonality(a, enc, dec) == 0.0
    assert attention_score(a, enc, dec) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 120), st.integers(2, 60), st.integers(0, 10_000))
def test_metrics_are_bounded(t_dec, t_enc, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.softmax(torch.randn(2, t_dec, t_enc, generator=g) * 3, dim=2)
    enc = torch.tensor([t_enc, max(1, t_enc // 2)])
    dec = torch.tensor([t_dec, max(1, t_dec // 3)])
    for value in (attention_score(a, enc, dec), diagonality(a, enc, dec)):
        assert 0.0 <= value <= 1.0 + 1e-6


def test_gate_accuracy_masks_padding():
    targets = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1]], dtype=torch.float)
    lengths = torch.tensor([4, 6])
    logits = torch.tensor([[-5, -5, -5, 5, -9, -9], [-5, -5, -5, -5, -5, 5]], dtype=torch.float)
    assert gate_accuracy(logits, targets, lengths) == 1.0
    logits[1, 5] = -5  # misses the stop frame of the second utterance
    assert abs(gate_accuracy(logits, targets, lengths) - 9 / 10) < 1e-6

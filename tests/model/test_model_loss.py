from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from tiny_tacotron import N_MEL, N_SYMBOLS, make_model, one_thread

from smart_tuner.config import GuidedAttentionConfig
from smart_tuner.model import (
    Tacotron2Loss,
    Tacotron2Output,
    guided_attention_mask,
    guided_attention_weight,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def test_guided_attention_mask_properties() -> None:
    w = guided_attention_mask(torch.tensor([10, 6]), torch.tensor([10, 4]), sigma=0.2)
    assert w.shape == (2, 10, 10)
    # Zero on the diagonal (equal lengths), near one far from it.
    torch.testing.assert_close(torch.diagonal(w[0]), torch.zeros(10))
    assert w[0, 0, 9] > 0.99 and w[0, 9, 0] > 0.99
    assert torch.all((w >= 0) & (w <= 1))
    # Zero outside the true lengths of item 1 (4 decoder steps, 6 input steps).
    assert w[1, 4:].abs().sum() == 0 and w[1, :, 6:].abs().sum() == 0
    assert w[1, :4, :6].sum() > 0
    # Explicit shape pads with zeros.
    padded = guided_attention_mask(torch.tensor([3]), torch.tensor([2]), 0.2, 5, 7)
    assert padded.shape == (1, 5, 7) and padded[0, 2:].sum() == 0


def test_guided_attention_weight_decays_to_floor() -> None:
    cfg = GuidedAttentionConfig(weight=5.0, decay=0.9, min_weight=0.1)
    assert guided_attention_weight(0, cfg) == 5.0
    assert guided_attention_weight(1, cfg) == pytest.approx(4.5)
    assert guided_attention_weight(10_000, cfg) == 0.1


def test_loss_ignores_padding() -> None:
    r, t_out = 2, 8
    out_len, in_len = torch.tensor([5]), torch.tensor([3])
    mel_target = torch.zeros(1, N_MEL, t_out)
    gate_target = torch.zeros(1, t_out)
    gate_target[0, 4:] = 1.0  # NVIDIA's convention: 1 from the last frame on
    align = torch.zeros(1, t_out // r, 4)
    align[0, :, 0] = 1.0
    good_gate = torch.tensor([[-20.0, -20, -20, -20, 20, 20, 1e3, 1e3]])
    output = Tacotron2Output(mel_target.clone(), mel_target.clone(), good_gate, align)
    losses = Tacotron2Loss()(output, mel_target, gate_target, in_len, out_len, ga_weight=1.0)
    assert losses["mel_loss"] == 0 and losses["postnet_loss"] == 0
    assert losses["gate_loss"] < 1e-6

    # Garbage past the lengths changes nothing.
    noisy = mel_target.clone()
    noisy[..., 5:] = 100.0
    align2 = align.clone()
    align2[0, 3:, :] = 0.25
    output2 = Tacotron2Output(noisy, noisy, good_gate, align2)
    losses2 = Tacotron2Loss()(output2, mel_target, gate_target, in_len, out_len, ga_weight=1.0)
    for key in losses:
        torch.testing.assert_close(losses[key], losses2[key])


def test_loss_falls_when_overfitting() -> None:
    torch.manual_seed(1)
    model = make_model(n_frames_per_step=2, p_prenet_dropout=0.1)
    input_lengths, output_lengths = torch.tensor([6, 8, 5, 7]), torch.tensor([10, 12, 7, 11])
    text = torch.zeros(4, 8, dtype=torch.long)
    mels = torch.zeros(4, N_MEL, 12)
    gate = torch.zeros(4, 12)
    for i in range(4):
        text[i, : input_lengths[i]] = torch.randint(1, N_SYMBOLS, (int(input_lengths[i]),))
        # Smooth, log-mel-like targets with a non-zero mean.
        mels[i, :, : output_lengths[i]] = (
            -4 + torch.randn(N_MEL, 1) + 0.3 * torch.randn(N_MEL, int(output_lengths[i]))
        )
        gate[i, output_lengths[i] - 1 :] = 1.0
    criterion = Tacotron2Loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(30):
        out = model(text, input_lengths, mels, output_lengths)
        loss = criterion(out, mels, gate, input_lengths, output_lengths, ga_weight=1.0)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert all(torch.isfinite(torch.tensor(history)))
    assert min(history[-3:]) < 0.3 * history[0], history


def test_attention_entropy_is_zero_for_one_hot_log_n_for_uniform_and_weighted_into_loss() -> None:
    t_out, steps, t_in = 6, 3, 4
    out_len, in_len = torch.tensor([6]), torch.tensor([4])
    mel = torch.zeros(1, N_MEL, t_out)
    gate_target = torch.zeros(1, t_out)
    gate = torch.full((1, t_out), -20.0)
    sharp = torch.zeros(1, steps, t_in)
    sharp[0, :, 0] = 1.0
    uniform = torch.full((1, steps, t_in), 1.0 / t_in)

    def losses(align: torch.Tensor, weight: float) -> dict[str, torch.Tensor]:
        out = Tacotron2Output(mel, mel, gate, align)
        criterion = Tacotron2Loss(attention_entropy_weight=weight)
        return criterion(out, mel, gate_target, in_len, out_len, ga_weight=0.0)

    assert losses(sharp, 0.5)["attention_entropy"] == pytest.approx(0.0, abs=1e-6)
    flat = losses(uniform, 0.0)
    assert flat["attention_entropy"] == pytest.approx(torch.log(torch.tensor(4.0)).item())
    weighted = losses(uniform, 0.5)
    assert weighted["loss"] - flat["loss"] == pytest.approx(0.5 * flat["attention_entropy"].item())
    # a per-call weight overrides the configured one (validation passes 0.0)
    out = Tacotron2Output(mel, mel, gate, uniform)
    off = Tacotron2Loss(attention_entropy_weight=0.5)(
        out, mel, gate_target, in_len, out_len, 0.0, 0.0
    )
    assert off["loss"] == pytest.approx(flat["loss"].item())


def test_mel_l1_term_adds_its_weight_times_the_unpadded_absolute_error():
    t_out, steps, t_in = 6, 3, 4
    out_len, in_len = torch.tensor([4]), torch.tensor([4])
    target = torch.zeros(1, N_MEL, t_out)
    before = torch.full((1, N_MEL, t_out), 0.5)
    after = torch.full((1, N_MEL, t_out), -0.25)
    before[..., 4:] = 100.0  # padding: never counted
    gate = torch.full((1, t_out), -20.0)
    align = torch.full((1, steps, t_in), 1.0 / t_in)
    out = Tacotron2Output(before, after, gate, align)

    def run(weight: float) -> dict[str, torch.Tensor]:
        return Tacotron2Loss(mel_l1_weight=weight)(
            out, target, torch.zeros(1, t_out), in_len, out_len, ga_weight=0.0
        )

    plain, with_l1 = run(0.0), run(2.0)
    assert with_l1["mel_l1_loss"] == pytest.approx(0.75)
    assert with_l1["loss"] - plain["loss"] == pytest.approx(2.0 * 0.75)
    assert with_l1["mel_loss"] == plain["mel_loss"]  # the MSE terms stay comparable

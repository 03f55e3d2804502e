from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from tiny_tacotron import N_MEL, N_SYMBOLS, make_model, one_thread

from smart_tuner.config import load_config
from smart_tuner.model import Tacotron2


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def make_batch(input_lengths: list[int], output_lengths: list[int], r: int):
    t_in = max(input_lengths) + 2  # extra padding beyond the longest text on purpose
    t_out = -(-max(output_lengths) // r) * r
    text = torch.zeros(len(input_lengths), t_in, dtype=torch.long)
    mels = torch.zeros(len(input_lengths), N_MEL, t_out)
    for i, (n_in, n_out) in enumerate(zip(input_lengths, output_lengths, strict=True)):
        text[i, :n_in] = torch.randint(1, N_SYMBOLS, (n_in,))
        mels[i, :, :n_out] = torch.randn(N_MEL, n_out)
    return text, torch.tensor(input_lengths), mels, torch.tensor(output_lengths)


@pytest.mark.parametrize("r", [1, 2, 3])
def test_shapes_and_padding_masks(r: int) -> None:
    model = make_model(n_frames_per_step=r)
    input_lengths, output_lengths = [7, 5, 3], [13, 9, 4]
    text, in_len, mels, out_len = make_batch(input_lengths, output_lengths, r)
    out = model(text, in_len, mels, out_len)

    batch, t_in, t_out = text.size(0), text.size(1), mels.size(2)
    assert out.mel_outputs.shape == (batch, N_MEL, t_out)
    assert out.mel_outputs_postnet.shape == (batch, N_MEL, t_out)
    assert out.gate_outputs.shape == (batch, t_out)
    assert out.alignments.shape == (batch, t_out // r, t_in)

    for i, (n_in, n_out) in enumerate(zip(input_lengths, output_lengths, strict=True)):
        assert out.mel_outputs[i, :, n_out:].abs().sum() == 0
        assert out.mel_outputs_postnet[i, :, n_out:].abs().sum() == 0
        assert torch.all(out.gate_outputs[i, n_out:] >= 1e3)
        assert out.mel_outputs[i, :, :n_out].abs().sum() > 0
        assert out.alignments[i, :, n_in:].abs().sum() == 0  # padded text gets no attention
        torch.testing.assert_close(out.alignments[i].sum(-1), torch.ones(t_out // r))

    # One gate logit per step, repeated over the step's r frames.
    valid_gate = out.gate_outputs[0, : output_lengths[0] // r * r].reshape(-1, r)
    assert torch.all(valid_gate == valid_gate[:, :1])


def test_mel_length_must_be_multiple_of_r() -> None:
    model = make_model(n_frames_per_step=3)
    text, in_len, mels, out_len = make_batch([4], [6], 3)
    with pytest.raises(ValueError, match="multiple of n_frames_per_step=3"):
        model(text, in_len, mels[:, :, :5], out_len)


def test_unsorted_lengths_match_per_item_results() -> None:
    """Batching (in any order) must not change an item's outputs: padding is fully masked."""
    model = make_model(p_prenet_dropout=0.0).eval()
    text, in_len, mels, out_len = make_batch([3, 8, 5], [6, 10, 8], 1)
    batched = model(text, in_len, mels, out_len)
    for i in range(3):
        n_in, n_out = int(in_len[i]), int(out_len[i])
        single = model(
            text[i : i + 1, :n_in],
            in_len[i : i + 1],
            mels[i : i + 1, :, :n_out],
            out_len[i : i + 1],
        )
        torch.testing.assert_close(
            batched.mel_outputs_postnet[i, :, :n_out],
            single.mel_outputs_postnet[0],
            atol=1e-5,
            rtol=1e-4,
        )
        torch.testing.assert_close(
            batched.alignments[i, :n_out, :n_in], single.alignments[0], atol=1e-5, rtol=1e-4
        )


def test_backward_reaches_every_parameter() -> None:
    model = make_model(n_frames_per_step=2)
    text, in_len, mels, out_len = make_batch([5, 4], [8, 6], 2)
    out = model(text, in_len, mels, out_len)
    (
        out.mel_outputs_postnet.sum()
        + out.gate_outputs.clamp(max=10).sum()
        + out.alignments.square().sum()
    ).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_inference_stops_at_max_steps_when_gate_never_fires() -> None:
    model = make_model(n_frames_per_step=2, max_decoder_steps=10)
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.bias.fill_(-100.0)
    model.train()
    out = model.inference(torch.randint(1, N_SYMBOLS, (1, 6)))
    assert out.reached_stop is False
    assert out.mel_outputs_postnet.shape == (1, N_MEL, 20)
    assert out.gate_outputs.shape == (1, 20)
    assert out.alignments.shape == (1, 10, 6)
    assert model.training, "inference must restore the training mode"
    short = model.inference(torch.randint(1, N_SYMBOLS, (1, 6)), max_decoder_steps=4)
    assert short.reached_stop is False and short.alignments.shape == (1, 4, 6)


def test_inference_stops_when_gate_fires() -> None:
    model = make_model()
    with torch.no_grad():
        model.decoder.gate_layer.linear_layer.bias.fill_(100.0)
    out = model.inference(torch.randint(1, N_SYMBOLS, (1, 6)))
    assert out.reached_stop is True
    assert out.alignments.shape == (1, 1, 6)


def test_reset_attention_changes_attention_only() -> None:
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    names = model.reset_attention()
    after = model.state_dict()

    prefix = "decoder.attention_layer."
    expected = {n for n, _ in model.named_parameters() if n.startswith(prefix)}
    assert set(names) == expected and len(names) == 5
    for key in before:
        if key in expected:
            assert not torch.equal(before[key], after[key]), key
        else:
            assert torch.equal(before[key], after[key]), key


def test_small_preset_builds() -> None:
    cfg = load_config(None, {"model.preset": "small"}).model
    model = Tacotron2(cfg, 40, 80)
    assert model.decoder.prenet.layers[0].linear_layer.weight.shape == (128, 80 * 3)

"""Tacotron2 training loss: masked mel MSE (before/after postnet), gate BCE, guided attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from smart_tuner.config import GuidedAttentionConfig
from smart_tuner.model.tacotron2 import Tacotron2Output


def guided_attention_weight(step: int, cfg: GuidedAttentionConfig) -> float:
    """Guided-attention loss weight at a training step: decays, but never below min_weight.

    Strong guidance early makes alignment appear quickly; letting it fade avoids forcing a
    strictly linear alignment on speech whose pace varies.
    """
    return max(cfg.min_weight, cfg.weight * cfg.decay**step)


def guided_attention_mask(
    input_lengths: Tensor,
    decoder_lengths: Tensor,
    sigma: float,
    max_decoder_len: int | None = None,
    max_input_len: int | None = None,
) -> Tensor:
    """Penalty W [B, T_dec, T_in] for attending far from the diagonal (Tachibana et al. 2017).

    W[n, t] = 1 - exp(-(n/N - t/T)^2 / (2 sigma^2)) for n < N (decoder length) and t < T
    (input length); zero elsewhere so padding neither costs nor counts. The max lengths default
    to the longest lengths; pass the alignment's shape to match it exactly.
    """
    n_len = decoder_lengths.to(input_lengths.device, torch.float32)
    t_len = input_lengths.to(torch.float32)
    max_n = int(decoder_lengths.max()) if max_decoder_len is None else max_decoder_len
    max_t = int(input_lengths.max()) if max_input_len is None else max_input_len
    n = torch.arange(max_n, device=input_lengths.device, dtype=torch.float32)
    t = torch.arange(max_t, device=input_lengths.device, dtype=torch.float32)
    # [B, N, 1] - [B, 1, T]
    diff = n[None, :, None] / n_len[:, None, None] - t[None, None, :] / t_len[:, None, None]
    w = 1.0 - torch.exp(-diff.square() / (2.0 * sigma**2))
    valid = (n[None, :, None] < n_len[:, None, None]) & (t[None, None, :] < t_len[:, None, None])
    return w * valid


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over the cells where mask is True; ``mask`` broadcasts against ``values``."""
    mask = mask.expand_as(values).to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


class Tacotron2Loss(nn.Module):
    """Sum of the four Tacotron2 losses; every term ignores padding.

    The gate is scored once per decoder step (it is one logit repeated over the step's r
    frames). A step's target is 1 when the utterance ends inside it. Scoring per frame instead
    would give the last step mixed 0/1 targets whenever a length is not a multiple of r, which
    teaches the gate to fire late.
    """

    def __init__(
        self,
        sigma: float = 0.2,
        gate_positive_weight: float = 1.0,
        attention_entropy_weight: float = 0.0,
        mel_l1_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.mel_l1_weight = mel_l1_weight
        self.sigma = sigma
        # Penalising each step's attention entropy asks it to read one symbol at a time
        # instead of a blur of neighbours (the encoder's context makes a blur almost free).
        self.attention_entropy_weight = attention_entropy_weight
        # One stop step per utterance against ~100 "go on" steps: weighting the rare positive
        # teaches the gate to fire at all within a short training run.
        self.gate_positive_weight = gate_positive_weight

    def forward(
        self,
        output: Tacotron2Output,
        mel_target: Tensor,
        gate_target: Tensor,
        input_lengths: Tensor,
        output_lengths: Tensor,
        ga_weight: float,
        entropy_weight: float | None = None,
    ) -> dict[str, Tensor]:
        """`entropy_weight` None: the configured one (validation passes 0.0, as for ga)."""
        batch, _, t_out = mel_target.shape
        steps, t_in = output.alignments.shape[1:]
        r = t_out // steps
        device = mel_target.device
        output_lengths = output_lengths.to(device)
        input_lengths = input_lengths.to(device)

        frame_valid = torch.arange(t_out, device=device) < output_lengths.unsqueeze(1)  # [B, T]
        mel_loss = _masked_mean(
            F.mse_loss(output.mel_outputs, mel_target, reduction="none"), frame_valid[:, None]
        )
        postnet_loss = _masked_mean(
            F.mse_loss(output.mel_outputs_postnet, mel_target, reduction="none"),
            frame_valid[:, None],
        )

        mel_l1 = _masked_mean(
            (output.mel_outputs - mel_target).abs()
            + (output.mel_outputs_postnet - mel_target).abs(),
            frame_valid[:, None],
        )

        decoder_lengths = torch.div(output_lengths + r - 1, r, rounding_mode="floor")
        step_valid = torch.arange(steps, device=device) < decoder_lengths.unsqueeze(1)
        step_target = (gate_target * frame_valid).reshape(batch, steps, r).amax(dim=2)
        step_logits = output.gate_outputs[:, ::r]
        gate_loss = _masked_mean(
            F.binary_cross_entropy_with_logits(
                step_logits,
                step_target.to(step_logits.dtype),
                reduction="none",
                pos_weight=step_logits.new_tensor(self.gate_positive_weight),
            ),
            step_valid,
        )

        w = guided_attention_mask(input_lengths, decoder_lengths, self.sigma, steps, t_in)
        input_valid = torch.arange(t_in, device=device) < input_lengths.unsqueeze(1)  # [B, T_in]
        n_cells = (step_valid.unsqueeze(2) & input_valid.unsqueeze(1)).sum().clamp_min(1)
        guided = (output.alignments * w).sum() / n_cells

        a = output.alignments.float()
        step_entropy = -(a * torch.log(a.clamp_min(1e-8))).sum(dim=2)  # [B, steps]
        entropy = _masked_mean(step_entropy, step_valid)

        total = mel_loss + postnet_loss + gate_loss + ga_weight * guided
        if self.mel_l1_weight:
            total = total + self.mel_l1_weight * mel_l1
        if entropy_weight is None:
            entropy_weight = self.attention_entropy_weight
        if entropy_weight:
            total = total + entropy_weight * entropy
        return {
            "loss": total,
            "mel_loss": mel_loss,
            "postnet_loss": postnet_loss,
            "gate_loss": gate_loss,
            "mel_l1_loss": mel_l1,
            "guided_attention_loss": guided,
            "attention_entropy": entropy,
        }

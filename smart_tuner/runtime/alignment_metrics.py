"""Alignment metrics, each defined once; every report, tracker and decision uses these names.

All take padded batches plus the true lengths, so padding never counts for or against a model.
`alignments` is `[B, T_dec, T_enc]` (decoder steps x encoder steps, rows sum to 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

DIAGONAL_BAND = 0.1
"""Half-width of the diagonality band, as a fraction of the encoder length (at least 1 step)."""


def _valid_mask(dec_lengths: Tensor, enc_lengths: Tensor, t_dec: int, t_enc: int) -> Tensor:
    dec = torch.arange(t_dec, device=dec_lengths.device)[None, :, None] < dec_lengths[:, None, None]
    enc = torch.arange(t_enc, device=enc_lengths.device)[None, None, :] < enc_lengths[:, None, None]
    return dec & enc


def attention_score(alignments: Tensor, enc_lengths: Tensor, dec_lengths: Tensor) -> float:
    """Mean over valid decoder steps of the largest attention weight over valid encoder steps.

    1.0 = every step attends sharply to one input symbol; 1/T_enc = attention spread uniformly.
    """
    b, t_dec, t_enc = alignments.shape
    mask = _valid_mask(dec_lengths, enc_lengths, t_dec, t_enc)
    peak = (alignments.float() * mask).amax(dim=2)  # [B, T_dec]
    step_valid = torch.arange(t_dec, device=alignments.device)[None, :] < dec_lengths[:, None]
    total = step_valid.sum().clamp(min=1)
    return float((peak * step_valid).sum() / total)


def diagonality(
    alignments: Tensor, enc_lengths: Tensor, dec_lengths: Tensor, band: float = DIAGONAL_BAND
) -> float:
    """Share of attention mass inside a band around each utterance's own diagonal.

    The diagonal runs from (0, 0) to (decoder length, encoder length) of that utterance, so a
    slow or fast speaker with a straight alignment still scores 1.0. Mass on padding counts as
    outside the band. Averaged over utterances (each weighs the same, whatever its length).
    """
    b, t_dec, t_enc = alignments.shape
    device = alignments.device
    dec_len = dec_lengths.to(device).float().clamp(min=1)
    enc_len = enc_lengths.to(device).float().clamp(min=1)
    i = torch.arange(t_dec, device=device).float()[None, :, None] + 0.5
    j = torch.arange(t_enc, device=device).float()[None, None, :] + 0.5
    expected_j = i * (enc_len / dec_len)[:, None, None]
    width = torch.clamp(band * enc_len, min=1.0)[:, None, None]
    in_band = (j - expected_j).abs() <= width
    mask = _valid_mask(dec_lengths.to(device), enc_lengths.to(device), t_dec, t_enc)
    a = alignments.float()
    step_valid = torch.arange(t_dec, device=device)[None, :] < dec_lengths.to(device)[:, None]
    mass_total = (a.sum(dim=2) * step_valid).sum(dim=1).clamp(min=1e-8)
    mass_band = (a * (in_band & mask)).sum(dim=(1, 2))
    return float((mass_band / mass_total).mean())


def gate_accuracy(gate_logits: Tensor, gate_targets: Tensor, output_lengths: Tensor) -> float:
    """Share of valid frames whose stop decision (logit > 0, i.e. p > 0.5) matches the target."""
    t = gate_logits.shape[1]
    valid = torch.arange(t, device=gate_logits.device)[None, :] < output_lengths[:, None]
    correct = ((gate_logits > 0).float() == gate_targets.float()) & valid
    return float(correct.sum() / valid.sum().clamp(min=1))

"""Shared arithmetic of the fused attention steps (`dca._DCAStep`, `layers._LocationStep`).

Why fused: as plain autograd ops an attention step is ~25 nodes on [B, T_in, A] tensors,
repeated for every decoder step. As one node with a hand-written backward an isolated DCA step
went from 3.6 to 2.3 ms; inside a whole training step the gain measured 4-6 % (the step is
bound by the LSTM products and the arithmetic itself, not by autograd's bookkeeping). Both
attentions read a window of K taps of earlier alignments
around every symbol, squash features with tanh, score them with a vector v, and read the
memory out with a softmax: those pieces, and their gradients, live here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def fast_tanh(x: Tensor) -> Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1: on x86 CPUs PyTorch's float32 tanh is several times
    slower than its sigmoid (183 vs 73 us for a [16, 50, 128] step here); same value to
    ~2e-7."""
    if torch.is_grad_enabled() and x.requires_grad:  # autograd needs sigmoid's own output
        return torch.sigmoid(x * 2.0) * 2.0 - 1.0
    return torch.sigmoid(x * 2.0).mul_(2.0).sub_(1.0)


def windows(x: Tensor, window: int) -> Tensor:
    """[B, C, T] -> [B, T, C * K]: the K-tap window centred on every position, channel-major
    (matches a Conv1d weight [F, C, K] viewed as [F, C * K]). Contiguous: a batched product
    reads the overlapping unfold view 2.5x slower."""
    batch, channels, length = x.shape
    half = window // 2
    taps = F.pad(x, (half, half)).unfold(2, window, 1)  # [B, C, T, K]
    return taps.transpose(1, 2).reshape(batch, length, channels * window)


def windows_backward(d_windows: Tensor, channels: int, window: int) -> Tensor:
    """Gradient of `windows`: [B, T, C * K] -> [B, C, T]."""
    batch, length, _ = d_windows.shape
    half = window // 2
    d_taps = d_windows.view(batch, length, channels, window).transpose(1, 2)
    padded = length + 2 * half
    d_x = torch.ops.aten.unfold_backward(d_taps, [batch, channels, padded], 2, window, 1)
    return d_x[..., half : padded - half]


def read_out(energies: Tensor, mask: Tensor | None, memory: Tensor) -> tuple[Tensor, Tensor]:
    """Energies [B, T] -> (context [B, E], weights [B, T]); masked symbols get weight 0."""
    if mask is not None:
        energies = energies.masked_fill(mask, float("-inf"))
    weights = F.softmax(energies, dim=1)
    return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


def read_out_backward(
    d_context: Tensor, d_weights: Tensor, weights: Tensor, memory: Tensor
) -> tuple[Tensor, Tensor]:
    """Gradients of `read_out`: (d_energies [B, T], d_memory [B, T, E]). Masked symbols have
    weight 0 and so get no gradient."""
    d_weights = d_weights + torch.bmm(d_context.unsqueeze(1), memory.transpose(1, 2)).squeeze(1)
    d_memory = weights.unsqueeze(-1) * d_context.unsqueeze(1)
    d_energies = weights * (d_weights - (d_weights * weights).sum(1, keepdim=True))
    return d_energies, d_memory


def score(features: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """features [B, T, A] -> (energies v . tanh(features) [B, T], the tanh values)."""
    squashed = fast_tanh(features)
    return squashed @ v, squashed


def score_backward(d_energies: Tensor, squashed: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Gradients of `score`: (d_features [B, T, A], d_v [A])."""
    d_v = squashed.reshape(-1, squashed.size(-1)).t() @ d_energies.reshape(-1)
    d_features = (d_energies.unsqueeze(-1) * v).mul_(1.0 - squashed * squashed)
    return d_features, d_v

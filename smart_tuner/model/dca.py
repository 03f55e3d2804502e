"""Dynamic convolution attention (Battenberg et al. 2020, "Location-relative attention
mechanisms for robust long-form speech synthesis").

Why: location-sensitive attention must *discover* monotonic alignment from content, which on a
CPU budget takes too many steps. DCA has no content term at all: energies come only from the
previous alignment, filtered by static filters, by filters predicted from the decoder state
(so it can move faster or slower) and by a fixed causal beta-binomial prior that always nudges
attention forward. It is monotonic by construction from the first step, aligns in far fewer
updates and does not lose its place on long inputs.

Same call signature as the location-sensitive `Attention`, so the decoder can use either.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from smart_tuner.model.attention_ops import (
    fast_tanh,
    read_out,
    read_out_backward,
    score,
    score_backward,
    windows,
    windows_backward,
)


def beta_binomial_prior(length: int, alpha: float, beta: float) -> Tensor:
    """P(k) for k = 0..length-1 of a beta-binomial(n = length-1, alpha, beta) distribution."""
    n = length - 1
    k = torch.arange(length, dtype=torch.float64)

    def log_beta(a: Tensor | float, b: Tensor | float) -> Tensor:
        a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)

    log_choose = math.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
    log_p = log_choose + log_beta(k + alpha, n - k + beta) - log_beta(alpha, beta)
    return log_p.exp().float()


class _DCAStep(torch.autograd.Function):
    """One DCA step from the folded window matrix to (context, weights), as a single autograd
    node with a hand-written backward (why: `attention_ops`). The maths is the module's
    `forward` without the content term (tested equal, values and gradients, in
    tests/model/test_dca.py)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        previous: Tensor,
        window_weights: Tensor,
        bias: Tensor,
        v: Tensor,
        memory: Tensor,
        mask: Tensor | None,
        window: int,
    ) -> tuple[Tensor, Tensor]:
        taps = windows(previous.unsqueeze(1), window)  # [B, T_in, K]
        out = torch.bmm(taps, window_weights)  # [B, T_in, A + 1]
        energies, squashed = score(out[..., :-1] + bias, v)
        prior = out[..., -1].clamp(min=1e-6)
        context, weights = read_out(energies.add_(prior.log()), mask, memory)
        ctx.save_for_backward(taps, window_weights, v, memory, squashed, prior, weights)
        ctx.window = window
        return context, weights

    @staticmethod
    def backward(ctx, d_context: Tensor, d_weights: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        taps, window_weights, v, memory, squashed, prior, weights = ctx.saved_tensors
        d_energies, d_memory = read_out_backward(d_context, d_weights, weights, memory)
        d_features, d_v = score_backward(d_energies, squashed, v)
        d_prior = torch.where(prior > 1e-6, d_energies / prior, 0.0)  # log(clamp(prior))
        d_out = torch.cat((d_features, d_prior.unsqueeze(-1)), -1)  # [B, T_in, A + 1]
        d_window_weights = torch.bmm(taps.transpose(1, 2), d_out)
        d_taps = torch.bmm(d_out, window_weights.transpose(1, 2))  # [B, T_in, K]
        d_previous = windows_backward(d_taps, 1, ctx.window).squeeze(1)
        return d_previous, d_window_weights, d_features.sum((0, 1)), d_v, d_memory, None, None


class DynamicConvolutionAttention(nn.Module):
    """Location-relative attention: static + dynamic filters over the previous alignment,
    plus a causal prior. Needs the initial alignment to be one-hot on the first symbol."""

    needs_initial_focus = True

    def __init__(
        self,
        attention_rnn_dim: int,
        attention_dim: int = 128,
        static_filters: int = 8,
        static_kernel_size: int = 21,
        dynamic_filters: int = 8,
        dynamic_kernel_size: int = 21,
        prior_length: int = 11,
        prior_alpha: float = 0.1,
        prior_beta: float = 0.9,
        content_dim: int = 0,
    ) -> None:
        super().__init__()
        if static_kernel_size % 2 == 0 or dynamic_kernel_size % 2 == 0:
            raise ValueError("DCA filter sizes must be odd so they are centred")
        self.dynamic_filters = dynamic_filters
        self.dynamic_kernel_size = dynamic_kernel_size
        self.static_conv = nn.Conv1d(
            1, static_filters, static_kernel_size, padding=static_kernel_size // 2, bias=False
        )
        self.static_proj = nn.Linear(static_filters, attention_dim, bias=False)
        self.dynamic_hidden = nn.Linear(attention_rnn_dim, attention_dim)
        self.dynamic_filter_layer = nn.Linear(
            attention_dim, dynamic_filters * dynamic_kernel_size, bias=False
        )
        self.dynamic_proj = nn.Linear(dynamic_filters, attention_dim)
        self.v = nn.Linear(attention_dim, 1, bias=False)
        # Optional content term (query . key, as in location-sensitive attention): lets the
        # decoder snap onto the symbol it is reading instead of a blurred moving window.
        self.content = content_dim > 0
        if self.content:
            self.key_layer = nn.Linear(content_dim, attention_dim, bias=False)
            self.query_layer = nn.Linear(attention_rnn_dim, attention_dim, bias=False)
        prior = beta_binomial_prior(prior_length, prior_alpha, prior_beta)
        # All three filters read the same window of the previous alignment, centred on each
        # symbol: K taps wide enough for the longest filter and for the causal prior.
        self.window = max(static_kernel_size, dynamic_kernel_size, 2 * prior_length - 1)
        # The causal prior p_j = sum_m prior[m] a_{j-m} as window taps: a_{j-m} is tap half - m.
        taps = torch.zeros(self.window)
        taps[self.window // 2 - torch.arange(prior_length)] = prior
        self.register_buffer("prior_taps", taps.view(1, -1, 1), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Conv1d):
                nn.init.xavier_uniform_(module.weight, gain=nn.init.calculate_gain("tanh"))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _taps(self, weights: Tensor, size: int) -> Tensor:
        """Filters [..., size, A] placed centred in the K-tap window: [..., K, A]."""
        pad = (self.window - size) // 2
        return F.pad(weights, (0, 0, pad, pad))

    def _window_weights(self, query: Tensor, batch: int) -> Tensor:
        """[B, K, A + 1]: one matrix per utterance that maps a window of the previous
        alignment to the attention features (static and dynamic filters, each followed by its
        projection) and, in the last column, to the prior.

        Why: filtering then projecting is linear, so it folds into one matrix, and a step costs
        one batched product instead of two convolutions, an einsum and two projections (the
        small 1-channel convolutions cost a third of a CPU training step, mostly backward)."""
        size_s = self.static_conv.kernel_size[0]
        static = self.static_conv.weight.view(-1, size_s).t() @ self.static_proj.weight.t()
        filters = self.dynamic_filter_layer(torch.tanh(self.dynamic_hidden(query)))
        filters = filters.view(batch, self.dynamic_filters, self.dynamic_kernel_size)
        dynamic = filters.transpose(1, 2) @ self.dynamic_proj.weight.t()  # [B, Kd, A]
        features = self._taps(dynamic, self.dynamic_kernel_size) + self._taps(static, size_s)
        prior = self.prior_taps.to(features.dtype).expand(batch, -1, -1)
        return torch.cat([features, prior], dim=2)

    def memory_layer(self, memory: Tensor) -> Tensor:
        """Keys for the content term, computed once per utterance (memory itself without it)."""
        return self.key_layer(memory) if self.content else memory

    def forward(
        self,
        query: Tensor,
        memory: Tensor,
        processed_memory: Tensor,
        weights_cat: Tensor,
        mask: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """query [B, attention_rnn_dim]; weights_cat [B, 1 or 2, T_in] (previous[, cumulative]);
        mask [B, T_in] True on padding. Returns (context [B, E], weights [B, T_in])."""
        previous = weights_cat[:, 0]  # [B, T_in]
        batch = previous.shape[0]
        if not self.content:
            # In the parameters' dtype whatever the caller's autocast: the step's products are
            # tiny, and its hand-written backward expects one dtype throughout.
            dtype = self.v.weight.dtype
            with torch.autocast(query.device.type, enabled=False):
                return _DCAStep.apply(
                    previous.to(dtype),
                    self._window_weights(query.to(dtype), batch),
                    self.dynamic_proj.bias,
                    self.v.weight.view(-1),
                    memory.to(dtype),
                    mask,
                    self.window,
                )
        # With the content term: plain autograd ops (an option, not the default).
        taps = windows(previous.unsqueeze(1), self.window)  # [B, T_in, K]
        out = torch.bmm(taps, self._window_weights(query, batch))  # [B, T_in, A + 1]
        features = out[..., :-1] + self.dynamic_proj.bias
        features = features + processed_memory + self.query_layer(query).unsqueeze(1)
        energies = self.v(fast_tanh(features)).squeeze(-1)
        return read_out(energies + torch.log(out[..., -1].clamp(min=1e-6)), mask, memory)

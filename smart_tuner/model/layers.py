"""Tacotron2 building blocks.

Module and attribute names (``linear_layer``, ``conv``, ``location_conv``, ``layers``...) follow
NVIDIA/tacotron2 on purpose: they become state_dict keys, and keeping them lets NVIDIA's public
checkpoints warm-start this model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from smart_tuner.model.attention_ops import (
    read_out,
    read_out_backward,
    score,
    score_backward,
    windows,
    windows_backward,
)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout whose CPU mask comes from random bytes: ~3x faster than F.dropout.

    On a CPU, F.dropout draws one Bernoulli sample per element (~12 ns each): the postnet's
    and decoder's dropout took ~8 % of a `small` training step. Here eight mask bytes come
    from one 64-bit random word, so p is rounded to a multiple of 1/256 (0.1 -> 0.1016; 0.5
    exact) and the kept values are scaled by 1/(1 - that p), keeping the expectation exact.
    Other devices use F.dropout (fused there).
    """
    if not training or p <= 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    threshold = round(p * 256)
    if threshold <= 0:
        return x
    if threshold >= 256:
        return x * 0
    n = x.numel()
    words = torch.empty((n + 7) // 8, dtype=torch.int64).random_(-(2**63), None)
    keep = words.view(torch.uint8)[:n].view(x.shape) >= threshold
    return x * keep.to(x.dtype).mul_(256.0 / (256 - threshold))


class LinearNorm(nn.Module):
    """A Linear layer with Xavier-uniform init scaled for the activation that follows it.

    Xavier with the right gain keeps activations in range through tanh/sigmoid stacks, which the
    PyTorch default (Kaiming-uniform with a=sqrt(5)) does not aim for.
    """

    def __init__(
        self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: str = "linear"
    ) -> None:
        super().__init__()
        self.w_init_gain = w_init_gain
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.linear_layer.reset_parameters()  # bias init as PyTorch does
        gain = nn.init.calculate_gain(self.w_init_gain)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=gain)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """A 1-d convolution with Xavier-uniform init; 'same' padding by default (odd kernels)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = True,
        w_init_gain: str = "linear",
    ) -> None:
        super().__init__()
        if padding is None:
            if kernel_size % 2 != 1:
                raise ValueError(f"'same' padding needs an odd kernel size, got {kernel_size}")
            padding = dilation * (kernel_size - 1) // 2
        self.w_init_gain = w_init_gain
        self.conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        gain = nn.init.calculate_gain(self.w_init_gain)
        nn.init.xavier_uniform_(self.conv.weight, gain=gain)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Prenet(nn.Module):
    """Bottleneck MLP on the previous mel frame(s).

    Dropout stays on at inference too (Shen et al. 2018, sec. 2.3): it is the only source of
    output variation and, more importantly, stops the decoder from simply copying its input,
    which is what makes attention learn to move.
    """

    def __init__(self, in_dim: int, sizes: list[int], p_dropout: float = 0.5) -> None:
        super().__init__()
        in_sizes = [in_dim, *sizes[:-1]]
        self.p_dropout = p_dropout
        self.layers = nn.ModuleList(
            LinearNorm(i, o, bias=False) for i, o in zip(in_sizes, sizes, strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        for linear in self.layers:
            x = dropout(F.relu(linear(x)), self.p_dropout)
        return x


class LocationLayer(nn.Module):
    """Turns (previous, cumulative) attention weights into per-encoder-step features.

    These location features let attention know where it has already been, which is what keeps
    it moving monotonically forward instead of skipping or repeating.
    """

    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(
                f"attention_location_kernel_size must be odd (centred filters), got {kernel_size}"
            )
        self.location_conv = ConvNorm(
            2, n_filters, kernel_size=kernel_size, padding=(kernel_size - 1) // 2, bias=False
        )
        self.location_dense = LinearNorm(n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def forward(self, weights_cat: Tensor) -> Tensor:
        """[B, 2, T_in] -> [B, T_in, attention_dim]."""
        return self.location_dense(self.location_conv(weights_cat).transpose(1, 2))


class _LocationStep(torch.autograd.Function):
    """One location-sensitive attention step as a single autograd node with a hand-written
    backward (why: `attention_ops`). The location convolution and its dense projection are
    both linear and bias-free, so they fold into one [2K, A] matrix applied to K-tap windows
    of the (previous, cumulative) alignments. Tested equal to the layer-by-layer formulation,
    values and gradients, in tests/model/test_attention.py."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        weights_cat: Tensor,
        location_matrix: Tensor,
        query: Tensor,
        processed_memory: Tensor,
        v: Tensor,
        memory: Tensor,
        mask: Tensor | None,
        window: int,
    ) -> tuple[Tensor, Tensor]:
        taps = windows(weights_cat, window)  # [B, T_in, 2K]
        features = (taps @ location_matrix).add_(processed_memory).add_(query.unsqueeze(1))
        energies, squashed = score(features, v)
        context, weights = read_out(energies, mask, memory)
        ctx.save_for_backward(taps, location_matrix, v, memory, squashed, weights)
        ctx.window = window
        return context, weights

    @staticmethod
    def backward(ctx, d_context: Tensor, d_weights: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        taps, location_matrix, v, memory, squashed, weights = ctx.saved_tensors
        d_energies, d_memory = read_out_backward(d_context, d_weights, weights, memory)
        d_features, d_v = score_backward(d_energies, squashed, v)
        flat_taps = taps.view(-1, taps.size(-1))
        d_matrix = flat_taps.t() @ d_features.view(-1, d_features.size(-1))
        d_weights_cat = windows_backward(d_features @ location_matrix.t(), 2, ctx.window)
        d_query = d_features.sum(1)
        return d_weights_cat, d_matrix, d_query, d_features, d_v, d_memory, None, None


class Attention(nn.Module):
    """Location-sensitive additive attention (Chorowski et al. 2015)."""

    def __init__(
        self,
        attention_rnn_dim: int,
        embedding_dim: int,
        attention_dim: int,
        attention_location_n_filters: int,
        attention_location_kernel_size: int,
    ) -> None:
        super().__init__()
        self.query_layer = LinearNorm(
            attention_rnn_dim, attention_dim, bias=False, w_init_gain="tanh"
        )
        self.memory_layer = LinearNorm(embedding_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(
            attention_location_n_filters, attention_location_kernel_size, attention_dim
        )

    def reset_parameters(self) -> None:
        """Re-draw every weight of the attention; used to recover from a collapsed alignment."""
        for module in self.modules():
            if module is not self and isinstance(module, LinearNorm | ConvNorm):
                module.reset_parameters()

    def forward(
        self,
        query: Tensor,
        memory: Tensor,
        processed_memory: Tensor,
        weights_cat: Tensor,
        mask: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """One attention step.

        query [B, attention_rnn_dim]; memory [B, T_in, E]; processed_memory [B, T_in, A] (the
        memory projection, computed once per utterance by the caller); weights_cat [B, 2, T_in];
        mask [B, T_in], True on padding. Returns (context [B, E], weights [B, T_in]).
        """
        # In the parameters' dtype whatever the caller's autocast: the step's products are
        # tiny, and its hand-written backward expects one dtype throughout.
        dtype = self.v.linear_layer.weight.dtype
        conv = self.location_layer.location_conv.conv
        with torch.autocast(query.device.type, enabled=False):
            location_matrix = (
                conv.weight.view(conv.out_channels, -1).t()
                @ self.location_layer.location_dense.linear_layer.weight.t()
            )  # [2K, A]: the convolution then the dense projection, folded
            return _LocationStep.apply(
                weights_cat.to(dtype),
                location_matrix,
                self.query_layer(query.to(dtype)),
                processed_memory.to(dtype),
                self.v.linear_layer.weight.view(-1),
                memory.to(dtype),
                mask,
                conv.kernel_size[0],
            )


class Postnet(nn.Module):
    """Five 1-d convolutions predicting a residual that sharpens the decoder's mel output."""

    def __init__(
        self, n_mel_channels: int, embedding_dim: int, kernel_size: int, n_convolutions: int
    ) -> None:
        super().__init__()
        channels = [n_mel_channels] + [embedding_dim] * (n_convolutions - 1) + [n_mel_channels]
        last = len(channels) - 2
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(
                    c_in,
                    c_out,
                    kernel_size=kernel_size,
                    padding=(kernel_size - 1) // 2,
                    w_init_gain="linear" if i == last else "tanh",
                ),
                nn.BatchNorm1d(c_out),
            )
            for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True))
        )

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        """[B, n_mel, T] -> residual [B, n_mel, T].

        ``keep`` [B, 1, T] (1 on real frames, 0 on padding) zeroes padding before every
        convolution, so real frames near the end never see values from past the end.
        """
        for i, conv in enumerate(self.convolutions):
            if keep is not None:
                x = x * keep
            x = conv(x)
            if i < len(self.convolutions) - 1:
                x = torch.tanh(x)
            x = dropout(x, 0.5, self.training)
        return x
